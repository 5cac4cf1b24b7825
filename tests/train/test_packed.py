"""Packs: K models trained together give each member the losses, evaluation and weights of its train
job run alone, write its outputs where that job would, resume bit-identically on CPU, and refuse
members that cannot step together with a message that says what differs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mixc import jobfile
from mixc.runtime.kinds import KINDS
from mixc.runtime.packed import train_pack
from tests.helpers.jobs import model, run_job, train_job

# Batched matmuls may sum in another order than one model's matmuls: members' losses and weights
# must agree with their separate runs to 1e-5 relative (fp32 on CPU). Observed here: bit-identical.
RTOL, ATOL = 1e-5, 1e-6
MIXTURES = [([0.3, 0.7], 0), ([0.9, 0.1], 1), ([0.5, 0.5], 7)]  # (weights, seed) of each member


def member_jobs(store, folder: Path, kind: str = "dense", **change) -> list[dict]:
    return [train_job(store, folder / f"run{i}", model=model(kind), weights=w, seed=seed, **change)
            for i, (w, seed) in enumerate(MIXTURES)]


def pack_job(members: list[dict]) -> dict:
    return {"schema": 1, "kind": "pack",
            "members": [{k: v for k, v in m.items() if k not in ("schema", "kind")} for m in members]}


def parse(job: dict):
    return jobfile.parse(job, KINDS).config


def metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(str(out / "model" / "model.safetensors"))


def files(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


@pytest.mark.parametrize("kind", ["dense", "moe", "mole"])
def test_pack_equals_separate_runs(store, tmp_path, kind):
    alone = member_jobs(store, tmp_path / "alone", kind)
    for i, job in enumerate(alone):
        assert run_job(tmp_path, job, f"alone{i}.json") == 0
    packed = member_jobs(store, tmp_path / "packed", kind)
    assert run_job(tmp_path, pack_job(packed), "pack.json") == 0
    for i, (a, p) in enumerate(zip(alone, packed)):
        a_out, p_out = Path(a["output"]), Path(p["output"])
        ma, mp = metrics(a_out), metrics(p_out)
        assert [s for s, _ in mp["loss_curve"]] == [s for s, _ in ma["loss_curve"]] == list(range(1, 13))
        torch.testing.assert_close(torch.tensor(mp["loss_curve"]), torch.tensor(ma["loss_curve"]), rtol=RTOL, atol=0)
        assert mp["eval"].keys() == ma["eval"].keys() == {"legal", "literature"}
        for source in ma["eval"]:
            assert mp["eval"][source]["tokens"] == ma["eval"][source]["tokens"]
            assert mp["eval"][source]["loss"] == pytest.approx(ma["eval"][source]["loss"], rel=RTOL)
        wa, wp = weights(a_out), weights(p_out)
        assert wa.keys() == wp.keys()
        for name in wa:
            torch.testing.assert_close(wp[name], wa[name], rtol=RTOL, atol=ATOL)
        # What a single job writes, where it writes it; metrics.json has one more entry.
        assert files(p_out) == files(a_out)
        assert mp.keys() - ma.keys() == {"pack"} and mp["pack"] == {"members": 3, "index": i}
    # The members really differ (own seed and mixture), so the comparison above is not vacuous.
    finals = [metrics(Path(p["output"]))["final_loss"] for p in packed]
    assert len(set(finals)) == 3


class Stop(Exception):
    """Raised from an `on_step` callback: ends the pack abruptly, as a kill at that point would."""


def stop_after(step: int):
    def on_step(done: int) -> None:
        if done == step:
            raise Stop(f"stopped after step {done}")
    return on_step


@pytest.fixture(scope="module")
def uninterrupted(store, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pack-ref")
    members = member_jobs(store, folder, eval_tokens=0)
    train_pack(parse(pack_job(members)))
    return [Path(m["output"]) for m in members]


def assert_same_as(outputs: list[Path], reference: list[Path]) -> None:
    for out, ref in zip(outputs, reference):
        assert metrics(out)["loss_curve"] == metrics(ref)["loss_curve"]  # every loss, bit for bit
        w, r = weights(out), weights(ref)
        assert w.keys() == r.keys() and all(torch.equal(w[k], r[k]) for k in w)


def test_stopped_pack_resumes_bit_identically(store, tmp_path, uninterrupted, capsys):
    members = member_jobs(store, tmp_path, eval_tokens=0)
    job = parse(pack_job(members))
    with pytest.raises(Stop):
        train_pack(job, on_step=stop_after(7))  # steps 1..7 done, checkpoints at step 5
    outputs = [Path(m["output"]) for m in members]
    assert not any((out / "metrics.json").exists() for out in outputs)
    assert all([p.name for p in (out / "checkpoints").iterdir()] == ["step-00000005"] for out in outputs)
    train_pack(job)
    assert capsys.readouterr().err.count("resuming from") == 3
    assert all(metrics(out)["resumed_from_step"] == 5 for out in outputs)
    assert_same_as(outputs, uninterrupted)


def killed_while_checkpointing(store, folder: Path):
    """A pack killed while writing step 10's checkpoints: member 0 has steps 5 and 10, the others
    step 5 only. Returns the job and the members' outputs."""
    members = member_jobs(store, folder, eval_tokens=0)
    job = parse(pack_job(members))
    with pytest.raises(Stop):
        train_pack(job, on_step=stop_after(10))
    outputs = [Path(m["output"]) for m in members]
    for out in outputs[1:]:
        shutil.rmtree(out / "checkpoints" / "step-00000010")
    return job, outputs


def test_pack_resumes_from_the_newest_step_every_member_has(store, tmp_path, uninterrupted):
    job, outputs = killed_while_checkpointing(store, tmp_path)
    train_pack(job)
    assert all(metrics(out)["resumed_from_step"] == 5 for out in outputs)
    assert_same_as(outputs, uninterrupted)


def test_pack_starts_over_when_no_step_is_readable_in_every_member(store, tmp_path, uninterrupted, capsys):
    job, outputs = killed_while_checkpointing(store, tmp_path)
    (outputs[0] / "checkpoints" / "step-00000005" / "state.pt").write_bytes(b"damaged")
    train_pack(job)
    err = capsys.readouterr().err
    assert "step-00000005/state.pt: damaged" in err and "starting over from step 0" in err
    assert all(metrics(out)["resumed_from_step"] == 0 for out in outputs)
    assert_same_as(outputs, uninterrupted)


def test_members_that_cannot_be_packed_are_named(store, tmp_path, capsys):
    members = member_jobs(store, tmp_path)
    members[2] = members[2] | {"lr": 1e-3, "steps": 20}
    assert run_job(tmp_path, pack_job(members)) == 2
    err = capsys.readouterr().err
    assert "field 'members[2].steps'" in err
    assert "member 2 cannot be packed with member 0, it differs in steps 20 vs 12, lr 0.001 vs 0.003" in err
    assert "may differ only in store, tokenizer, sources, weights, weights_file, seed" in err
    assert not any(Path(m["output"]).exists() for m in members)


def test_members_of_another_model_cannot_be_packed(store, tmp_path, capsys):
    members = member_jobs(store, tmp_path)
    members[1] = members[1] | {"model": model("moe")}
    assert run_job(tmp_path, pack_job(members)) == 2
    assert "member 1 cannot be packed with member 0, it differs in model" in capsys.readouterr().err


def test_members_need_their_own_outputs(store, tmp_path, capsys):
    members = member_jobs(store, tmp_path)
    members[1] = members[1] | {"output": members[0]["output"]}
    assert run_job(tmp_path, pack_job(members)) == 2
    assert "field 'members[1].output'" in capsys.readouterr().err
    assert run_job(tmp_path, {"schema": 1, "kind": "pack", "members": []}, "empty.json") == 2
    assert "a pack needs at least one member" in capsys.readouterr().err


def test_a_train_job_resumes_from_its_members_checkpoint(store, tmp_path, uninterrupted, capsys):
    """A member's checkpoints are the train job's own: the job alone takes up where the pack stopped."""
    members = member_jobs(store, tmp_path, eval_tokens=0)
    with pytest.raises(Stop):
        train_pack(parse(pack_job(members)), on_step=stop_after(7))
    assert run_job(tmp_path, members[1], "alone.json") == 0
    assert "resuming from" in capsys.readouterr().err
    out = Path(members[1]["output"])
    assert metrics(out)["resumed_from_step"] == 5
    torch.testing.assert_close(torch.tensor(metrics(out)["loss_curve"]),
                               torch.tensor(metrics(uninterrupted[1])["loss_curve"]), rtol=RTOL, atol=0)
