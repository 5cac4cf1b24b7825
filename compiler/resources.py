"""Resources: what each job asks its executor for (memory, CPUs, GPUs, a time limit), from the job itself.

A train job's memory is `compiler.memory`'s sum, per process: on CPU all host memory; on
CUDA state, activations and loss on the GPU (`gpu_mem_mb`, per GPU, with `CUDA_DEVICE_MB`
assumed for the context) and the rest on the host. A job asks for its processes' host
memory x `MARGIN`, rounded up to 256 MB, at least `TRAIN_FLOOR_MB`. Bookkeeping jobs ask for a measured figure.

CPUs: one for a bookkeeping job and for a proxy-scale run on CPU (many run side by side,
and on a few cores two single-threaded jobs beat one two-threaded job: small matrices scale
poorly across threads);
a final-scale run on CPU shares the build machine's cores with the other final-scale runs
(all of them when it is the only one: Snakemake scales `threads` down to `--cores`, so
asking for more is safe locally; the runtime's torch follows OMP_NUM_THREADS, which the
Snakefile sets to `threads`); a GPU job `CPUS_PER_GPU` a GPU (the sampler, host-side ops,
inductor's compile workers). GPUs: `budget.Estimate.devices_for` (a proxy one, a final run
all the budget's). Time limit: twice the job's estimate, at least 10 minutes. Every
proxy-scale train job or pack asks for the largest of their requests (one job array, one
request). A pack (several proxies in one process) holds `compiler.memory.pack_bytes`.

Pure Python; reads no file and runs nothing: `mixc plan` shows these in a bare install and
`compiler.emit` writes them into the index.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from typing import Iterable

from mixc.compiler.budget import TRAINING, Estimate
from mixc.compiler.lower import Job
from mixc.compiler.memory import CUDA_DEVICE_MB, MB, pack_bytes, train_bytes

# Measured peak RSS: tokenizer 37-104 MB, tokenize 65-115 MB, design 130 MB, fit 103 MB,
# solve 122 MB, report 113 MB (the tiny spec of tests/compiler and the quickstart); cluster 430 MB
# (examples/clusters: its 10,000-document sample, hashed n-grams and the SVD). Data jobs
# get more room: their memory grows with the tokenizer's vocabulary and the longest document.
SMALL_MB = {"tokenizer": 1024, "tokenize": 1024, "cluster": 2048, "design": 512, "propose": 512, "fit": 512, "solve": 512, "report": 512}
MARGIN = 1.25
TRAIN_FLOOR_MB = 1024
CPUS_PER_GPU = 4
MIN_LIMIT_MIN = 10


@dataclass(frozen=True)
class Resources:
    mem_mb: int  # host memory of the whole job (all its processes)
    threads: int
    gpus: int
    runtime_min: int  # the time limit
    gpu_mem_mb: int = 0  # estimated use of each GPU; 0 on CPU


def _round_mb(n_bytes: float) -> int:
    return 256 * math.ceil(n_bytes * MARGIN / MB / 256)


def job_resources(job: Job, est: Estimate, final_share: int) -> Resources:
    """One job's requests; `final_share`: the CPU threads of a final-scale run on CPU."""
    seconds = est.seconds(job.kind, job.job_class, job.flops)
    limit = max(MIN_LIMIT_MIN, int(seconds / 60 * 2) + 1)
    if job.kind not in TRAINING:
        return Resources(SMALL_MB[job.kind], 1, 0, limit)
    gpus = est.devices_for(job.kind, job.job_class) if est.gpu else 0
    processes = max(1, gpus)
    if job.kind == "pack":
        host, gpu = pack_bytes(job.config, est.gpu)
    else:
        host, gpu = train_bytes(job.config, est.gpu, processes)
    mem = max(TRAIN_FLOOR_MB, _round_mb(host * processes))
    if est.gpu:
        threads = CPUS_PER_GPU * gpus
    else:
        threads = final_share if job.job_class == "final" else 1
    return Resources(mem, threads, gpus, limit, _round_mb(gpu) if gpu else 0)


def resources(jobs: Iterable[Job], est: Estimate, cores: int | None = None) -> dict[str, Resources]:
    """Every job's requests, by id; `cores`: the build machine's (default: all of this one's).
    Proxy-scale train jobs all ask for the most any of them needs: the SLURM executor submits
    a job array with its first member's requests."""
    jobs = list(jobs)
    finals = sum(1 for j in jobs if j.kind in TRAINING and j.job_class == "final")
    share = max(1, (cores or os.cpu_count() or 1) // max(1, finals))
    asks = {j.id: job_resources(j, est, share) for j in jobs}
    proxies = [j.id for j in jobs if j.kind in TRAINING and j.job_class == "proxy"]
    if proxies:
        most = Resources(*(max(getattr(asks[j], f.name) for j in proxies) for f in fields(Resources)))
        asks.update(dict.fromkeys(proxies, most))
    return asks
