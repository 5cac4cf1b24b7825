"""Queue entries of a mixture search on SLURM: how many `sbatch` calls a 64-run search makes.

    tests/cluster/start_slurm.sh
    python benchmarks/cluster_queue.py [--runs 64]
    tests/cluster/stop_slurm.sh

Runs the small spec of tests/compiler (two sources, 1-layer proxies of 2k tokens, `runs: N`)
with `mixc run --profile slurm` on the test cluster that start_slurm.sh brings up (it refuses
any other), twice in fresh work directories: with the profile as written
(`slurm-array-jobs: proxy`) and with job arrays turned off (`--slurm-array-jobs none`, no
rule of that name), and counts the sbatch calls in Snakemake's log.

Figures:
  jobs_N                 jobs in the graph: the sbatch calls when every job is one
  runtime_jobs_N         those that are not the compiler's (design, fit, solve, report run
                         where Snakemake runs, as local rules)
  sbatch_calls_N_no_arrays   measured, one sbatch call a runtime job
  sbatch_calls_N         measured, with the search's proxies in job arrays
  wall_N_no_arrays_s, wall_N_s   each run's wall time (two cores; the jobs are seconds each)
Writes only to a temp dir.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.cluster.test_slurm import FAST_CHECKS, cluster, sbatch_calls  # noqa: E402
from tests.compiler.conftest import write_data, write_spec  # noqa: E402


def figure(name: str, value: float, unit: str = "") -> None:
    print(f"figure {name} {value:.4g} {unit}".rstrip(), flush=True)


def run(spec: Path, work: Path, *extra: str) -> tuple[int, float]:
    """One `mixc run --profile slurm` in `work`: (sbatch calls, wall seconds)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mixc", "run", str(spec), "-o", str(work), "--profile", "slurm",
                           "--", *FAST_CHECKS, *extra], capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"mixc run failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return sbatch_calls(done.stderr)[0], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=64)
    args = parser.parse_args()
    why_not = cluster()
    if why_not is not None:
        sys.exit(f"no test cluster: {why_not}")
    n = args.runs
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_data(folder)
        spec = write_spec(folder, runs=n)
        calls_apart, wall_apart = run(spec, folder / "apart", "--slurm-array-jobs", "none")
        calls, wall = run(spec, folder / "arrays")
        jobs = json.loads(next((folder / "arrays" / "jobs").glob("*.index.json")).read_text())["jobs"]
    figure(f"jobs_{n}", len(jobs))
    figure(f"runtime_jobs_{n}", sum(1 for info in jobs.values() if info["entry"] != "compiler.jobs"))
    figure(f"sbatch_calls_{n}_no_arrays", calls_apart)
    figure(f"sbatch_calls_{n}", calls)
    figure(f"wall_{n}_no_arrays_s", wall_apart, "s")
    figure(f"wall_{n}_s", wall, "s")


if __name__ == "__main__":
    main()
