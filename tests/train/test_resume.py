"""Checkpoints: a run stopped (or killed) mid-way and started again ends bit-identically on CPU;
damaged checkpoints are named and skipped; a NaN loss stops the run and keeps the last good one."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mixc import jobfile
from mixc.runtime import checkpoint
from mixc.runtime.kinds import KINDS
from mixc.runtime.train import train
from tests.helpers.jobs import run_job, train_job
from tests.helpers.paths import ROOT


class Stop(Exception):
    """Raised from an `on_step` callback: ends the run abruptly, as a kill at that point would."""


def stop_after_step_7(done: int) -> None:
    if done == 7:
        raise Stop(f"stopped after step {done}")


def _curve(out):
    return json.loads((out / "metrics.json").read_text())["loss_curve"]


def _weights(out):
    return load_file(str(out / "model" / "model.safetensors"))


def _same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def reference(store, tmp_path_factory):
    """An uninterrupted 12-step run."""
    out = tmp_path_factory.mktemp("ref") / "run"
    assert run_job(out.parent, train_job(store, out, eval_tokens=0)) == 0
    return out


def test_stopped_run_resumes_bit_identically(store, tmp_path, reference, capsys):
    out = tmp_path / "run"
    job = jobfile.parse(train_job(store, out, eval_tokens=0), KINDS).config
    with pytest.raises(Stop):
        train(job, on_step=stop_after_step_7)  # steps 1..7 done, last checkpoint at step 5
    assert not (out / "metrics.json").exists()
    train(job)
    assert "resuming from" in capsys.readouterr().err
    assert json.loads((out / "metrics.json").read_text())["resumed_from_step"] == 5
    assert _curve(out) == _curve(reference)  # every loss, bit for bit
    assert _same_weights(out, reference)


def test_killed_process_resumes_bit_identically(store, tmp_path):
    long = dict(steps=80, checkpoint_every=5, eval_tokens=0)
    ref = tmp_path / "ref"
    assert run_job(tmp_path, train_job(store, ref, **long), "ref.json") == 0
    out = tmp_path / "run"
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(train_job(store, out, **long)))
    proc = subprocess.Popen([sys.executable, "-m", "mixc.runtime", str(job_file)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "checkpoints").is_dir() or not any((out / "checkpoints").glob("step-*")):
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert not (out / "metrics.json").exists()
    done = subprocess.run([sys.executable, "-m", "mixc.runtime", str(job_file)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "resuming from" in done.stderr
    assert _curve(out) == _curve(ref)
    assert _same_weights(out, ref)


def test_damaged_checkpoints_are_named_and_skipped(store, tmp_path, reference, capsys):
    out = tmp_path / "run"
    job = train_job(store, out, eval_tokens=0)
    assert run_job(tmp_path, job) == 0
    (out / "metrics.json").unlink()
    newest = out / "checkpoints" / "step-00000012" / "state.pt"
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated
    capsys.readouterr()
    assert run_job(tmp_path, job) == 0
    err = capsys.readouterr().err
    assert f"{newest}: damaged or truncated" in err and "falling back to step-00000010" in err
    assert _curve(out) == _curve(reference)
    # Every checkpoint damaged: the job says so and starts over.
    (out / "metrics.json").unlink()
    for ckpt in (out / "checkpoints").iterdir():
        (ckpt / "meta.json").write_text("{")
    assert run_job(tmp_path, job) == 0
    err = capsys.readouterr().err
    assert "starting over from step 0" in err and "meta.json: unreadable checkpoint record" in err
    assert json.loads((out / "metrics.json").read_text())["resumed_from_step"] == 0
    assert _curve(out) == _curve(reference)


def test_nan_loss_stops_naming_the_step_and_keeps_the_checkpoint(store, tmp_path, capsys):
    out = tmp_path / "run"
    job = train_job(store, out, lr=1e30, min_lr=0.0, warmup_steps=0, schedule="constant", grad_clip=None,
                    checkpoint_every=1, eval_tokens=0)
    assert run_job(tmp_path, job) == 1
    err = capsys.readouterr().err
    found = re.search(r"(loss is (nan|inf) at|weights are not finite after) step (\d+); "
                      r"stopping \(the last good checkpoint is (\S+)\)", err)
    assert found, err
    bad_step, kept = int(found.group(3)), Path(found.group(4))
    assert kept.name == f"step-{bad_step - 1:08d}"
    assert checkpoint.checkpoints(out / "checkpoints")[-1] == kept
    state = checkpoint.read(kept).state  # intact, and holds finite weights
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    assert not (out / "metrics.json").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(model={"heads": 3}), "field 'model.heads': 3 heads do not divide d_model 16"),
        (dict(model={"kind": "moe", "experts": 2, "top_k": 3}), "field 'model.top_k': top_k 3 exceeds experts 2"),
        (dict(micro_batch=3), "field 'micro_batch': 3 does not divide batch_size 4"),
        (dict(schedule="linear"), "field 'schedule': expected one of"),
    ],
)
def test_bad_train_job_names_the_field(store, tmp_path, capsys, change, message):
    job = train_job(store, tmp_path / "run")
    if "model" in change:
        change = {"model": job["model"] | change["model"]}
    assert run_job(tmp_path, job | change) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
