"""Data-parallel training under torchrun: 2 CPU processes with gloo follow the single-process run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers.jobs import run_job, train_job
from tests.helpers.paths import ROOT


def test_two_process_ddp_matches_one_process(store, tmp_path):
    job = dict(steps=6, batch_size=4, micro_batch=1, checkpoint_every=3, eval_tokens=64)
    single = tmp_path / "single"
    assert run_job(tmp_path, train_job(store, single, **job), "single.json") == 0
    ddp = tmp_path / "ddp"
    job_file = tmp_path / "ddp.json"
    job_file.write_text(json.dumps(train_job(store, ddp, **job)))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "mixc.runtime", str(job_file)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = (json.loads((d / "metrics.json").read_text()) for d in (single, ddp))
    assert two["world_size"] == 2 and one["world_size"] == 1
    # Each process takes half of every batch; averaged gradients equal the full batch's.
    for (s1, l1), (s2, l2) in zip(one["loss_curve"], two["loss_curve"]):
        assert s1 == s2 and l2 == pytest.approx(l1, rel=1e-5)
    assert two["eval"]["legal"]["loss"] == pytest.approx(one["eval"]["legal"]["loss"], rel=1e-4)
    assert two["epochs"] == one["epochs"]
