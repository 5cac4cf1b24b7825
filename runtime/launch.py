"""How a train job's processes start: in this process, or under torchrun, one process per GPU;
and, on a machine of one's own, which of its GPUs the job gets.

`python -m mixc.runtime JOBFILE` (the workflow's command) runs a train job in its own
process unless it is to use several processes; then it replaces itself with

    python -m torch.distributed.run --standalone --nproc-per-node N -m mixc.runtime JOBFILE

whose N processes join one process group (NCCL on CUDA, gloo on CPU: `runtime.device`) and
train with DDP, each on its share of every batch, so the effective batch, the losses and a
resume from a checkpoint are those of one process (`runtime.train`). N is, in this order:
`MIXC_PROCESSES` when set (an override: CPU processes with gloo in the tests); the GPUs SLURM
gave the job's step (`SLURM_GPUS_ON_NODE`, which the SLURM executor sets from the job's `gpus`);
the job's GPUs as the workflow asked for them (`MIXC_GPUS`, the Snakefile's `resources.gpu`);
else 1. The machine's cores are shared out: each process gets OMP_NUM_THREADS / N threads (the
workflow sets OMP_NUM_THREADS to the job's `threads`).

GPUs outside SLURM: a local run caps the GPUs in use at once at the budget's (the local
profile's `gpu` resource) but does not say which; every job would open cuda:0. So a job
with `MIXC_GPUS` > 0, not under SLURM and with no CUDA_VISIBLE_DEVICES of its own, claims
that many of the machine's GPUs (one lock file each, `flock`, under $TMPDIR/mixc-gpus, held
until the job's processes end, whoever they are: the lock's file descriptor is inherited
across the exec into torchrun) and sets CUDA_VISIBLE_DEVICES to them. A claim takes all its
GPUs or none, and waits while too few are free; a job asking for more GPUs than the machine
has is refused. A CUDA_VISIBLE_DEVICES set by the user is left as it is. Inside a SLURM job
the job's log starts with `slurm: job ID on NODE`.

One node only: `--standalone` rendezvous on this machine. Several nodes would need one
torchrun per node (`srun --ntasks-per-node 1 torchrun --nnodes $SLURM_NNODES --nproc-per-node
G --rdzv-backend c10d --rdzv-endpoint <first node>:<port> ...`) inside one allocation of
those nodes, which the SLURM executor does not make (its job step is one task on one node),
so the compiler keeps a final run to one node's GPUs. A job file that cannot be read, or is
not a train job, runs (or fails) in this process as before. This module does not train.
"""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from mixc import jobfile
from mixc.runtime.kinds import KINDS

PROCESSES = "MIXC_PROCESSES"
GPUS = "MIXC_GPUS"
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")  # one entry per GPU the NVIDIA driver sees
LAUNCHED = ("TORCHELASTIC_RUN_ID", "LOCAL_RANK")  # set by torchrun in every process it starts


def processes(env: Mapping[str, str]) -> int:
    """How many processes the job should use (the module's docstring says how it is decided)."""
    for name in (PROCESSES, "SLURM_GPUS_ON_NODE", GPUS):
        value = env.get(name, "").strip()
        if value:
            return max(1, _count(name, value))
    return 1


def _count(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a number of processes") from None


def machine_gpus() -> int:
    """The NVIDIA GPUs of this machine, from the driver (no CUDA call: that would fix the
    visible devices before this process sets them)."""
    try:
        return len(list(NVIDIA_GPUS.iterdir()))
    except OSError:
        return 0


def try_claim(wanted: int, total: int, folder: Path) -> list[int] | None:
    """Lock `wanted` of GPUs 0..total-1 (one lock file each in `folder`), all or none: their
    indices, or None when fewer are free. The locks stay held by open, inheritable file
    descriptors until this process and those it becomes or starts with them end."""
    folder.mkdir(parents=True, exist_ok=True)
    held: list[tuple[int, int]] = []
    for index in range(total):
        fd = os.open(folder / f"gpu{index}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        held.append((index, fd))
        if len(held) == wanted:
            for _, kept in held:
                os.set_inheritable(kept, True)
            return [i for i, _ in held]
    for _, fd in held:
        os.close(fd)  # closing the descriptor releases its lock
    return None


def claim_gpus(env: Mapping[str, str], total: int, folder: Path, poll_s: float = 1.0) -> dict[str, str]:
    """The environment with CUDA_VISIBLE_DEVICES set to the GPUs claimed for the job, when it
    is a job of a local run that asks for GPUs (the module's docstring); else `env` as it is."""
    wanted = _count(GPUS, env.get(GPUS, "").strip() or "0")
    if wanted <= 0 or total == 0 or "SLURM_JOB_ID" in env or "CUDA_VISIBLE_DEVICES" in env:
        return dict(env)  # no claim to make: the job's device field decides (on no GPU, cuda fails)
    if wanted > total:
        raise ValueError(f"the job asks for {wanted} GPUs and this machine has {total}: lower the budget's "
                         "`gpus` or run on a cluster (--profile slurm)")
    said = False
    while (got := try_claim(wanted, total, folder)) is None:
        if not said:
            print(f"waiting for {wanted} free GPUs of {total} (locks in {folder})", file=sys.stderr, flush=True)
            said = True
        time.sleep(poll_s)
    return {**env, "CUDA_VISIBLE_DEVICES": ",".join(map(str, got))}


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


def slurm_line(env: Mapping[str, str]) -> str | None:
    """`slurm: job ID on NODE` (ID as squeue and sacct show it: <array>_<task> for an array
    task) when this runs inside a SLURM job; else None."""
    if "SLURM_JOB_ID" not in env:
        return None
    task = env.get("SLURM_ARRAY_TASK_ID")
    job = f"{env['SLURM_ARRAY_JOB_ID']}_{task}" if task and "SLURM_ARRAY_JOB_ID" in env else env["SLURM_JOB_ID"]
    return f"slurm: job {job} on {env.get('SLURMD_NODENAME', '?')}"


def launch(argv: list[str]) -> int | None:
    """Claim the job's GPUs on a machine of one's own, then become torchrun when the job asks
    for several processes; otherwise return None (run in this process), or 2 when the numbers
    of processes or GPUs cannot be met."""
    try:
        env = claim_gpus(os.environ, machine_gpus(), Path(tempfile.gettempdir()) / "mixc-gpus")
        found = torchrun(argv, env)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    os.environ.update(env)  # before CUDA starts: it reads CUDA_VISIBLE_DEVICES once
    if not any(name in env for name in LAUNCHED) and (line := slurm_line(env)):
        print(line, file=sys.stderr, flush=True)  # ties the job's log to its SLURM job
    if found is not None:
        command, env = found
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(command[0], command, env)
