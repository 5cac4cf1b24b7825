"""Threads of a local job: one job alone on 1 thread or on every core, and two jobs side by side
on one thread each against the same two one after another on every core.

    python benchmarks/threads.py [--quick] [--trials N]

Figures (medians over alternating trials, 2-core machine; `T` = os.cpu_count()):
  lone_{job}_speedup_{T}_threads       wall of the job alone on 1 thread / on T threads
  side_by_side_{job}_vs_sequential     wall of two such jobs one after another on T threads each
                                       / wall of the two side by side on 1 thread each
                                       (above 1: side by side is faster)
for job = final (the quickstart's target run: MoE, 4 layers, d_model 128, 8 experts top-2,
seq 128, batch 16, 147 steps = 300k tokens) and pack (the quickstart's proxy pack: 8 dense
proxies of 2 layers, d_model 64, 147 steps each). Each job is `python -m mixc.runtime JOB`,
as the workflow runs it, with OMP_NUM_THREADS set; process start, data, evaluation and writes
included. `--quick` trains a quarter of the steps. Writes only to a temp dir.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from packed import DOMAINS, REPO, figure, make_store, proxy_job


def target_job(tmp: Path, name: str, steps: int) -> dict:
    """The quickstart's final run (target_run) on its natural-ish mixture: uniform over the sources."""
    job = proxy_job(tmp, 0, steps, eval_tokens=65536)
    job["model"] |= {"kind": "moe", "layers": 4, "d_model": 128, "kv_heads": 4, "ffn_hidden": 352,
                     "experts": 8, "top_k": 2}
    return job | {"kind": "train", "weights": [1 / len(DOMAINS)] * len(DOMAINS), "lr": 2e-3, "min_lr": 2e-4,
                  "load_balance_coef": 0.01, "z_loss_coef": 0.001, "output": str(tmp / "runs" / name)}


def pack_job(tmp: Path, name: str, steps: int) -> dict:
    members = [proxy_job(tmp, i, steps, eval_tokens=65536) for i in range(8)]
    for i, m in enumerate(members):
        m["output"] = str(tmp / "runs" / name / f"member{i}")
    return {"kind": "pack", "members": members}


def start(tmp: Path, name: str, job: dict, threads: int) -> subprocess.Popen:
    import json

    path = tmp / f"{name}.json"
    path.write_text(json.dumps({"schema": 1, **job}))
    return subprocess.Popen([sys.executable, "-m", "mixc.runtime", str(path)], cwd=REPO,
                            env={**os.environ, "OMP_NUM_THREADS": str(threads)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"a job failed:\n{err[-2000:]}")


def timed(tmp: Path, build, steps: int, waves: list[list[int]]) -> float:
    """Wall of running jobs in waves: each wave a list of thread counts, its jobs side by side."""
    shutil.rmtree(tmp / "runs", ignore_errors=True)
    begin = time.perf_counter()
    for w, wave in enumerate(waves):
        wait([start(tmp, f"w{w}j{j}", build(tmp, f"w{w}j{j}", steps), t) for j, t in enumerate(wave)])
    return time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"{cores} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="mixc-threads-") as name:
        tmp = Path(name)
        make_store(tmp)
        for label, build, steps in [("final", target_job, 147), ("pack", pack_job, 147)]:
            steps = steps // 4 if args.quick else steps
            schedules = {"lone_1": [[1]], "lone_all": [[cores]], "side_by_side": [[1, 1]],
                         "sequential": [[cores], [cores]]}
            walls: dict[str, list[float]] = {k: [] for k in schedules}
            for t in range(args.trials):
                order = list(schedules) if t % 2 == 0 else list(reversed(schedules))
                for key in order:
                    walls[key].append(timed(tmp, build, steps, schedules[key]))
                print(f"{label} trial {t}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in walls.items())
                      + f"; load average {os.getloadavg()[0]:.1f}", flush=True)
            lone = [a / b for a, b in zip(walls["lone_1"], walls["lone_all"])]
            pair = [a / b for a, b in zip(walls["sequential"], walls["side_by_side"])]
            print(f"{label}: lone speedup {min(lone):.2f}-{max(lone):.2f}x, "
                  f"side by side vs sequential {min(pair):.2f}-{max(pair):.2f}x", flush=True)
            figure(f"lone_{label}_speedup_{cores}_threads", statistics.median(lone), "x")
            figure(f"side_by_side_{label}_vs_sequential", statistics.median(pair), "x")


if __name__ == "__main__":
    main()
