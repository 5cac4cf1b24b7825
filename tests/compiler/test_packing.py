"""Packing a search's proxy runs into pack jobs: how many a pack holds, which, and that each
member stays addressable by its own hash (its folder is the train job's it replaces)."""

from __future__ import annotations

import json
from dataclasses import replace

from mixc.compiler import packing
from mixc.compiler.devices import DEVICES
from mixc.compiler.emit import emit
from mixc.compiler.budget import estimate
from mixc.compiler.finished import damaged
from mixc.hashing import job_digest
from mixc.jobfile import to_json
from tests.compiler.test_lower import graph_of, train_runs

CPU, H100 = DEVICES["cpu"], DEVICES["h100"]
GB = 1e9


def test_pack_size_by_device_and_spec():
    # CPU: as many as keep its lanes busy, at most CPU_PACK.
    assert packing.pack_size(0, 6, CPU, 1, GB, 1e6) == 3
    assert packing.pack_size(0, 512, CPU, 1, GB, 1e6) == packing.CPU_PACK
    # GPU: the runs over the GPUs, at most GPU_PACK, within memory and the busy-step bound.
    assert packing.pack_size(0, 512, H100, 8, 0.1 * GB, 1e9) == packing.GPU_PACK
    assert packing.pack_size(0, 40, H100, 8, 0.1 * GB, 1e9) == 5
    assert packing.pack_size(0, 512, H100, 8, 10 * GB, 1e9) == 6  # 64 GB of room, 10 GB a member
    assert packing.pack_size(0, 512, H100, 8, 0.1 * GB, 1.2e13) == 1  # a GPT-2-small micro-step
    # The spec's `pack` wins, up to the number of runs.
    assert packing.pack_size(16, 512, CPU, 1, GB, 1e6) == 16 and packing.pack_size(16, 5, CPU, 1, GB, 1e6) == 5


def test_packs_are_consecutive_and_even():
    assert [list(p) for p in packing.packs(range(10), 8)] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert [len(p) for p in packing.packs(range(22), 8)] == [7, 8, 7]
    assert [list(p) for p in packing.packs(range(3), 1)] == [[0], [1], [2]]


def test_members_keep_the_folders_and_hashes_of_their_train_jobs(make_spec):
    _, packed = graph_of(make_spec(runs=6))
    alone_spec = make_spec("alone.mix", runs=6)
    alone_spec.write_text(alone_spec.read_text().replace("runs: 6,", "runs: 6, pack: 1,"))
    _, alone = graph_of(alone_spec)
    assert not any(j.kind == "pack" for j in alone.jobs)
    packs = [j for j in packed.jobs if j.kind == "pack"]
    assert [len(p.config.members) for p in packs] == [3, 3]
    proxies = {j.id: j for j in alone.jobs if j.name.startswith("tiny_proxy")}
    assert sorted(m.output for p in packs for m in p.config.members) == sorted(proxies)
    assert train_runs(packed) == train_runs(alone)  # the same runs, configs equal
    # What reads the proxies reads their folders and waits for their packs.
    fit = next(j for j in packed.jobs if j.kind == "fit")
    assert set(fit.config.runs) == set(proxies) and {p.id for p in packs} <= set(fit.after)
    assert not set(proxies) & packed.ids
    # A pack's hash covers its members' configs: a changed member changes its own pack only.
    first, second = packs
    inputs = [j.digest for j in packed.jobs if j.id in first.after]
    assert job_digest("pack", to_json(first.config, hashed_only=True), inputs) == first.digest
    members = (replace(first.config.members[0], seed=99), *first.config.members[1:])
    assert job_digest("pack", to_json(replace(first.config, members=members), hashed_only=True), inputs) != first.digest
    assert not {m.output for m in first.config.members} & {m.output for m in second.config.members}
    # Packing is how the runs are trained, not what is read: the fit and all after it keep their ids.
    assert {j.id for j in alone.jobs if j.kind in ("fit", "solve", "report")} == \
        {j.id for j in packed.jobs if j.kind in ("fit", "solve", "report")}


def test_the_index_names_a_packs_outputs_and_a_missing_one_reruns_it(make_spec, tmp_path):
    experiment, graph = graph_of(make_spec(runs=4))
    built = emit(graph, experiment.name, tmp_path / "w", estimate(experiment))
    jobs = json.loads(built.index.read_text())["jobs"]
    pack_id = next(j for j, info in jobs.items() if info["kind"] == "pack")
    outputs = jobs[pack_id]["outputs"]
    assert len(outputs) == 2 and all(o.startswith("train/tiny_proxy") for o in outputs)
    (tmp_path / "w" / "done" / pack_id).parent.mkdir(parents=True)
    (tmp_path / "w" / "done" / pack_id).touch()
    for o in outputs:
        (tmp_path / "w" / o).mkdir(parents=True)
        (tmp_path / "w" / o / "metrics.json").write_text("{}")
    assert pack_id not in damaged(tmp_path / "w", jobs)
    (tmp_path / "w" / outputs[1] / "metrics.json").unlink()
    assert damaged(tmp_path / "w", jobs)[pack_id].endswith(f"{outputs[1]}/metrics.json is missing")
