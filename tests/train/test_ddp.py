"""Data-parallel training launched as the workflow launches a job (`python -m mixc.runtime JOBFILE`,
which becomes torchrun when the job is to use several processes): 2 CPU processes with gloo follow
the single-process run, and a DDP run killed mid-way resumes bit-identically.

Not exercised without a GPU: NCCL, one CUDA device per process (LOCAL_RANK), bf16 autocast and
torch.compile under DDP; the SLURM path is exercised only through the variable SLURM sets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from mixc.runtime.launch import claim_gpus, processes, torchrun, try_claim
from tests.helpers.jobs import run_job, train_job
from tests.helpers.paths import ROOT

JOB = dict(steps=6, batch_size=4, micro_batch=1, checkpoint_every=3, eval_tokens=64)
LONG = dict(steps=60, batch_size=4, micro_batch=1, checkpoint_every=5, eval_tokens=0)


def workflow_command(job_file, **env: str) -> subprocess.Popen:
    """The Snakefile's command for a job with 2 threads, with `env` added (MIXC_PROCESSES, or SLURM's)."""
    return subprocess.Popen([sys.executable, "-m", "mixc.runtime", str(job_file)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            env={"OMP_NUM_THREADS": "2", "PATH": "/usr/bin:/bin", **env})


def metrics(out) -> dict:
    return json.loads((out / "metrics.json").read_text())


def run_to_end(proc: subprocess.Popen) -> str:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return err


def test_two_process_ddp_matches_one_process(store, tmp_path):
    single = tmp_path / "single"
    assert run_job(tmp_path, train_job(store, single, **JOB), "single.json") == 0
    ddp = tmp_path / "ddp"
    job_file = tmp_path / "ddp.json"
    job_file.write_text(json.dumps(train_job(store, ddp, **JOB)))
    run_to_end(workflow_command(job_file, MIXC_PROCESSES="2"))
    one, two = metrics(single), metrics(ddp)
    assert two["world_size"] == 2 and one["world_size"] == 1
    # Each process takes half of every batch; averaged gradients equal the full batch's.
    for (s1, l1), (s2, l2) in zip(one["loss_curve"], two["loss_curve"]):
        assert s1 == s2 and l2 == pytest.approx(l1, rel=1e-5)
    assert two["tokens"] == one["tokens"]  # the effective batch is the job's, not twice it
    assert two["eval"]["legal"]["loss"] == pytest.approx(one["eval"]["legal"]["loss"], rel=1e-4)
    assert two["epochs"] == one["epochs"]


def test_killed_ddp_run_resumes_bit_identically(store, tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "run"
    for folder in (ref, out):
        (tmp_path / f"{folder.name}.json").write_text(json.dumps(train_job(store, folder, **LONG)))
    run_to_end(workflow_command(tmp_path / "ref.json", MIXC_PROCESSES="2"))
    proc = workflow_command(tmp_path / "run.json", MIXC_PROCESSES="2")
    deadline = time.time() + 120
    while not any((out / "checkpoints").glob("step-*")):
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # torchrun and its workers, as SLURM kills a job's processes
    proc.wait(timeout=60)
    assert not (out / "metrics.json").exists()
    # Started again as under SLURM: 2 GPUs (here CPU processes) in the job's step.
    err = run_to_end(workflow_command(tmp_path / "run.json", SLURM_JOB_ID="1", SLURM_GPUS_ON_NODE="2"))
    assert "resuming from" in err
    resumed, whole = metrics(out), metrics(ref)
    assert resumed["world_size"] == 2 and resumed["resumed_from_step"] > 0
    assert resumed["loss_curve"] == whole["loss_curve"]  # every loss, bit for bit
    assert (out / "model" / "model.safetensors").read_bytes() == (ref / "model" / "model.safetensors").read_bytes()


def test_launcher_decides_processes_and_threads(store, tmp_path):
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(train_job(store, tmp_path / "out")))
    base = {"OMP_NUM_THREADS": "8"}
    assert torchrun([str(job_file)], base) is None  # one process: run in this one
    command, env = torchrun([str(job_file)], {**base, "SLURM_GPUS_ON_NODE": "4"})
    assert command[1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=4",
                           "-m", "mixc.runtime", str(job_file)]
    assert env["OMP_NUM_THREADS"] == "2"  # the job's threads shared among its processes
    assert torchrun([str(job_file)], {**base, "SLURM_GPUS_ON_NODE": "4", "MIXC_PROCESSES": "1"}) is None
    assert torchrun([str(job_file)], {**base, "MIXC_PROCESSES": "2", "LOCAL_RANK": "0"}) is None  # already launched
    tokenize = tmp_path / "tok.json"
    tokenize.write_text(json.dumps({"schema": 1, "kind": "tokenize"}))
    assert torchrun([str(tokenize)], {**base, "MIXC_PROCESSES": "2"}) is None  # not a (valid) train job
    with pytest.raises(ValueError, match="MIXC_PROCESSES='two'"):
        torchrun([str(job_file)], {"MIXC_PROCESSES": "two"})


def test_the_workflows_gpu_count_sets_the_processes():
    assert processes({"MIXC_GPUS": "4"}) == 4 and processes({"MIXC_GPUS": "0"}) == 1
    assert processes({"MIXC_GPUS": "4", "SLURM_GPUS_ON_NODE": "2"}) == 2  # what SLURM gave the step
    assert processes({"MIXC_GPUS": "4", "MIXC_PROCESSES": "1"}) == 1


def test_local_jobs_claim_distinct_gpus_all_or_none(tmp_path):
    locks = tmp_path / "locks"
    first = claim_gpus({"MIXC_GPUS": "2"}, total=4, folder=locks)
    second = claim_gpus({"MIXC_GPUS": "1"}, total=4, folder=locks)
    assert first["CUDA_VISIBLE_DEVICES"] == "0,1" and second["CUDA_VISIBLE_DEVICES"] == "2"
    assert try_claim(2, total=4, folder=locks) is None  # one free: all or none, so none
    # The locks are held by this process's descriptors; another process sees them taken.
    probe = ("import sys\nfrom pathlib import Path\nfrom mixc.runtime.launch import try_claim\n"
             f"print(try_claim(1, 4, Path({str(locks)!r})))\n")
    other = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert other.stdout.split() == ["[3]"], other.stderr
    # No claim under SLURM (it assigns GPUs), with the user's own CUDA_VISIBLE_DEVICES, on CPU jobs,
    # or on a machine without NVIDIA GPUs (the job's device field decides).
    for env, total in (({"MIXC_GPUS": "1", "SLURM_JOB_ID": "7"}, 4), ({"MIXC_GPUS": "1", "CUDA_VISIBLE_DEVICES": "3"}, 4),
                       ({"MIXC_GPUS": "0"}, 4), ({"MIXC_GPUS": "1"}, 0)):
        assert claim_gpus(env, total, locks) == env
    with pytest.raises(ValueError, match="asks for 8 GPUs and this machine has 4"):
        claim_gpus({"MIXC_GPUS": "8"}, total=4, folder=locks)
