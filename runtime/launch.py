"""How a train job's processes start: in this process, or under torchrun, one process per GPU.

`python -m mixc.runtime JOBFILE` (the workflow's command) runs a train job in its own
process unless it is to use several processes; then it replaces itself with

    python -m torch.distributed.run --standalone --nproc-per-node N -m mixc.runtime JOBFILE

whose N processes join one process group (NCCL on CUDA, gloo on CPU: `runtime.device`) and
train with DDP, each on its share of every batch, so the effective batch, the losses and a
resume from a checkpoint are those of one process (`runtime.train`). N is, in this order:
`MIXC_PROCESSES` when set (the switch for a local run, or for CPU processes with gloo in the
tests); the GPUs SLURM gave the job's step (`SLURM_GPUS_ON_NODE`, which the SLURM executor
sets from the job's `gpus`); else 1. The machine's cores are shared out: each process gets
OMP_NUM_THREADS / N threads (the workflow sets OMP_NUM_THREADS to the job's `threads`).

One node only: `--standalone` rendezvous on this machine. Several nodes would need one
torchrun per node (`srun --ntasks-per-node 1 torchrun --nnodes $SLURM_NNODES --nproc-per-node
G --rdzv-backend c10d --rdzv-endpoint <first node>:<port> ...`) inside one allocation of
those nodes, which the SLURM executor does not make (its job step is one task on one node),
so the compiler keeps a final run to one node's GPUs. A job file that cannot be read, or is
not a train job, runs (or fails) in this process as before. This module does not train.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from mixc import jobfile
from mixc.runtime.kinds import KINDS

PROCESSES = "MIXC_PROCESSES"
LAUNCHED = ("TORCHELASTIC_RUN_ID", "LOCAL_RANK")  # set by torchrun in every process it starts


def processes(env: Mapping[str, str]) -> int:
    """How many processes the job should use (the module's docstring says how it is decided)."""
    for name in (PROCESSES, "SLURM_GPUS_ON_NODE"):
        value = env.get(name, "").strip()
        if value:
            try:
                return max(1, int(value))
            except ValueError:
                raise ValueError(f"{name}={value!r} is not a number of processes") from None
    return 1


def _is_train_job(path: str) -> bool:
    """A readable, valid train job file (any other is run, or refused, by this process)."""
    try:
        return jobfile.load(path, KINDS).kind == "train"
    except jobfile.JobFileError:
        return False


def torchrun(argv: list[str], env: Mapping[str, str]) -> tuple[list[str], dict[str, str]] | None:
    """The command line and environment that run `argv` (one job file) under torchrun, or None
    when the job runs in this process."""
    if len(argv) != 1 or any(name in env for name in LAUNCHED):
        return None
    n = processes(env)
    if n <= 1 or not _is_train_job(argv[0]):
        return None
    threads = int(env.get("OMP_NUM_THREADS") or os.cpu_count() or 1)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}",
               "-m", "mixc.runtime", argv[0]]
    return command, {**env, "OMP_NUM_THREADS": str(max(1, threads // n))}


def launch(argv: list[str]) -> int | None:
    """Become torchrun when the job asks for several processes; otherwise return None, or 2
    when the number of processes is not a number."""
    try:
        found = torchrun(argv, os.environ)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if found is not None:
        command, env = found
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(command[0], command, env)
