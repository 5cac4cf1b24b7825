"""What jobs ask for (memory, CPUs, GPUs, time limits) and the experiment's wall time: a train job
fits in its request, proxies take one GPU and final runs all of them, the schedule `mixc check`
lays out without a graph is the graph's, and the budget check reads the wall time."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from mixc.compiler import memory
from mixc.compiler import resources as res
from mixc.compiler.budget import (budget_diagnostics, estimate, experiment_tasks, job_tasks, tokenizer_vocab,
                                  train_flops)
from mixc.compiler.emit import emit
from mixc.compiler.lower import lower
from mixc.compiler.schedule import schedule
from mixc.jobfile import dumps
from mixc.runtime.__main__ import main as runtime_main
from mixc.runtime.models import loss
from mixc.runtime.sampler import MixtureSampler
from mixc.spec.check import check_file
from tests.helpers.paths import ROOT

H100 = "budget { device: h100, gpus: 8, hours: 100 }"


def compiled(path: Path, budget: str | None = None, **replace_text: str):
    """Check and lower the spec at `path`, with a budget and other text put in first."""
    text = path.read_text()
    for old, new in replace_text.items():
        text = text.replace(old, new)
    if budget:
        text = text[: text.rindex("}")] + f"  {budget}\n}}\n"
    path = path.with_name(f"{path.stem}-variant.mix")
    path.write_text(text)
    experiment, diags, _ = check_file(str(path))
    assert experiment is not None, diags
    graph, diags = lower(experiment)
    assert diags == []
    return experiment, graph


def quickstart(tmp_path: Path) -> Path:
    """The quickstart, reading its data by absolute paths, without its budget."""
    text = (ROOT / "examples/quickstart.mix").read_text().replace('"data/', f'"{ROOT}/examples/data/')
    text = text.replace("  budget { device: cpu, hours: 0.5 }\n", "")
    path = tmp_path / "quickstart.mix"
    path.write_text(text)
    return path


def asks(experiment, graph, cores: int = 8) -> dict[tuple[str, str], res.Resources]:
    """One job's resources per (kind, class): every job of a class asks for the same here."""
    est = estimate(experiment)
    found = res.resources(graph.jobs, est, cores)
    by_class = {}
    for job in graph.jobs:
        by_class.setdefault((job.kind, job.job_class), set()).add(found[job.id])
    assert all(len(v) == 1 for k, v in by_class.items() if k != ("train", "final")), by_class
    return {k: max(v, key=lambda r: r.mem_mb) for k, v in by_class.items()}


def test_cpu_jobs_one_thread_each_and_a_lone_final_run_all_cores(make_spec):
    experiment, graph = compiled(make_spec())
    a = asks(experiment, graph, cores=8)
    assert a[("train", "proxy")].threads == 1 and a[("train", "final")].threads == 8  # the only final run
    assert all(r.gpus == 0 and r.gpu_mem_mb == 0 for r in a.values())
    assert a[("fit", "small")] == res.Resources(res.SMALL_MB["fit"], 1, 0, res.MIN_LIMIT_MIN)
    experiment, graph = compiled(make_spec(), **{"  source alpha": "  replicates = 2\n  source alpha"})
    assert asks(experiment, graph, cores=8)[("train", "final")].threads == 4  # two final runs share the cores


def test_gpu_budget_proxies_one_gpu_each_final_runs_all(make_spec):
    experiment, graph = compiled(make_spec(), H100)
    a = asks(experiment, graph)
    proxy, final = a[("train", "proxy")], a[("train", "final")]
    assert (proxy.gpus, proxy.threads) == (1, res.CPUS_PER_GPU)
    assert (final.gpus, final.threads) == (8, 8 * res.CPUS_PER_GPU)
    assert final.mem_mb >= 8 * (memory.PROCESS_MB + memory.CUDA_HOST_MB)  # eight processes on the host
    assert proxy.gpu_mem_mb >= memory.CUDA_DEVICE_MB and final.gpu_mem_mb >= memory.CUDA_DEVICE_MB
    assert all(r.gpus == 0 and r.threads == 1 for (kind, _), r in a.items() if kind != "train")


def test_memory_follows_the_model_and_the_micro_batch(make_spec):
    _, graph = compiled(make_spec())
    config = next(j for j in graph.jobs if j.kind == "train").config
    base, _ = memory.train_bytes(config, cuda=False, processes=1)
    wider = replace(config, model=replace(config.model, d_model=256, heads=4, ffn_hidden=0))
    bigger_batch = replace(config, batch_size=config.batch_size * 8, micro_batch=config.micro_batch * 8)
    assert memory.train_bytes(wider, False, 1)[0] > base and memory.train_bytes(bigger_batch, False, 1)[0] > base
    moe = replace(config, model=replace(config.model, kind="moe", experts=8, top_k=2))
    assert memory.activation_bytes(moe.model.resolved(), 1024, 4) > memory.activation_bytes(config.model.resolved(), 1024, 4)
    host, gpu = memory.train_bytes(config, cuda=True, processes=2)
    assert gpu > memory.CUDA_DEVICE_MB * memory.MB and host > memory.CUDA_HOST_MB * memory.MB


def test_proxies_ask_for_the_largest_request_of_any_of_them(make_spec):
    """A job array goes out with its first member's requests, so every proxy asks for the most."""
    experiment, graph = compiled(make_spec())
    est = estimate(experiment)
    proxies = [j for j in graph.jobs if j.kind == "train" and j.job_class == "proxy"]
    wide = replace(proxies[-1], config=replace(proxies[-1].config, model=replace(
        proxies[-1].config.model, layers=4, d_model=1024, heads=8, ffn_hidden=0)))
    jobs = [wide if j.id == wide.id else j for j in graph.jobs]
    found = res.resources(jobs, est, cores=8)
    alone = res.job_resources(wide, est, 8)
    assert alone.mem_mb > res.job_resources(proxies[0], est, 8).mem_mb
    assert {found[j.id] for j in proxies} == {alone}
    assert found[next(j.id for j in jobs if j.job_class == "final")].mem_mb < alone.mem_mb  # not the other classes


def test_the_runtime_constants_it_copies():
    assert memory.RESIDENT_TOKENS == inspect.signature(MixtureSampler).parameters["resident_tokens"].default
    assert memory.LOSS_CHUNK == {False: loss.CHUNK_ELEMENTS_CPU, True: loss.CHUNK_ELEMENTS_ACCELERATOR}


def test_a_train_job_fits_in_what_it_asks_for(make_spec, tmp_path, monkeypatch):
    """The tiny spec's proxy, run as the workflow runs it: its peak RSS is under the estimate
    before the margin (and so under the request)."""
    experiment, graph = compiled(make_spec())
    work = tmp_path / "w"
    est = estimate(experiment)
    emit(graph, experiment.name, work, est)
    monkeypatch.chdir(work)
    for job in graph.jobs:
        if job.kind in ("tokenizer", "tokenize"):
            assert runtime_main([job.job_file]) == 0
    proxy = next(j for j in graph.jobs if j.kind == "train" and j.job_class == "proxy")
    config = replace(proxy.config, weights=[0.5, 0.5], weights_file=None, output="measured")
    Path("measured.json").write_text(dumps("train", config))
    # The peak of this process's own memory since exec (VmHWM): getrusage's ru_maxrss would also
    # count the pytest process it was forked from, whose size depends on the tests before it.
    code = ("import sys\nfrom mixc.runtime.__main__ import main\nrc = main(['measured.json'])\n"
            "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:')))\n"
            "sys.exit(rc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    peak_mb = int(done.stdout.split()[-1]) / 1024  # VmHWM is in KiB
    host, _ = memory.train_bytes(config, cuda=False, processes=1)
    assert peak_mb <= host / memory.MB <= res.resources(graph.jobs, est)[proxy.id].mem_mb
    assert json.loads(Path("measured/metrics.json").read_text())["steps"] == config.steps


def test_the_index_and_the_profiles_carry_the_requests(make_spec, tmp_path):
    for budget, cap in ((None, None), (H100, ["gpu=8"])):
        experiment, graph = compiled(make_spec(), budget)
        est = estimate(experiment)
        built = emit(graph, experiment.name, tmp_path / f"w{cap is None}", est)
        index = json.loads(built.index.read_text())["jobs"]
        for job_id, ask in res.resources(graph.jobs, est).items():
            assert {k: index[job_id][k] for k in ("mem_mb", "threads", "gpus", "runtime_min")} == \
                {"mem_mb": ask.mem_mb, "threads": ask.threads, "gpus": ask.gpus, "runtime_min": ask.runtime_min}
        local = (built.workdir / "profiles/local/config.yaml").read_text()
        assert ("resources:\n  - \"gpu=8\"" in local) == (cap is not None)


def test_time_limits_are_twice_the_estimate_at_least_ten_minutes(make_spec):
    experiment, graph = compiled(make_spec(), None, **{"tokens: 4k": "tokens: 100M"})
    est = estimate(experiment)
    final = next(j for j in graph.jobs if j.job_class == "final")
    limit = res.resources(graph.jobs, est)[final.id].runtime_min
    assert limit == int(est.seconds("train", "final", final.flops) / 60 * 2) + 1 > res.MIN_LIMIT_MIN


@pytest.mark.parametrize("budget", [None, H100, "budget { device: a100, gpus: 3, hours: 9 }"])
def test_the_checks_schedule_is_the_graphs(make_spec, tmp_path, budget):
    """`mixc check` lays the jobs out without lowering; its wall time is the graph's."""
    specs = [(make_spec(), {}), (quickstart(tmp_path), {}),
             (make_spec("fixed.mix"), {"baselines uniform, natural": "baselines uniform, mixture(alpha: 30%, beta: 70%)\n"
                                       "  validate mixture(alpha: 30%, beta: 70%)\n  replicates = 2"})]
    for path, text in specs:
        experiment, graph = compiled(path, budget, **text)
        est = estimate(experiment)
        flops = {r.name: train_flops(experiment, r, tokenizer_vocab(experiment)) for r in experiment.recipes}
        from_check = experiment_tasks(experiment, est, flops, tokenizer_vocab(experiment))
        from_graph = job_tasks(graph.jobs, est)
        assert len(from_check) == len(from_graph)
        assert schedule(from_check, est.slots).seconds == pytest.approx(schedule(from_graph, est.slots).seconds)
        assert est.wall_s == pytest.approx(schedule(from_graph, est.slots).seconds)


def test_the_budget_check_reads_the_wall_time(make_spec):
    experiment, _ = compiled(make_spec(), H100, **{"tokens: 4k": "tokens: 400M", "tokens: 2k": "tokens: 200M"})
    est = estimate(experiment)
    one_gpu, _ = compiled(make_spec(), H100.replace("gpus: 8", "gpus: 1"),
                          **{"tokens: 4k": "tokens: 400M", "tokens: 2k": "tokens: 200M"})
    wall8, wall1 = est.wall_hours, estimate(one_gpu).wall_hours
    assert wall8 < wall1  # proxies side by side, the final on eight
    between = (wall8 + wall1) / 2
    ok, _ = compiled(make_spec(), f"budget {{ device: h100, gpus: 8, hours: {between:.6f} }}",
                     **{"tokens: 4k": "tokens: 400M", "tokens: 2k": "tokens: 200M"})
    over, _ = compiled(make_spec(), f"budget {{ device: h100, gpus: 1, hours: {between:.6f} }}",
                       **{"tokens: 4k": "tokens: 400M", "tokens: 2k": "tokens: 200M"})
    assert budget_diagnostics(ok) == []
    [diag] = budget_diagnostics(over)
    assert diag.code == "E103" and "of wall time on 1 x h100" in diag.message
