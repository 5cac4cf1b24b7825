"""`mixc run FILE`: build the workflow, then run it with Snakemake (local by default).

`--profile slurm` submits to a SLURM cluster through Snakemake's SLURM executor, with the
same job files. Arguments after `--` go to Snakemake unchanged. When the run finishes,
the result table of the report job is printed. Ctrl-C stops Snakemake and its jobs; a
job only counts as done once its marker is written, after it succeeded, and every job
writes its outputs atomically, so a rerun continues from what finished.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

PASSTHROUGH = True  # `mixc run FILE -- ARGS`: ARGS go to Snakemake


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE")
    p.add_argument("-o", "--output", metavar="DIR", help="work directory (default: .mixc/ beside the spec)")
    p.add_argument("--cores", type=int, default=None, help="cores to use locally (default: all)")
    p.add_argument("--profile", default="local", help="local (default), slurm, or a profile folder")
    p.add_argument("--dry-run", "-n", action="store_true", help="show what would run; run nothing")
    p.epilog = "Arguments after `--` go to Snakemake unchanged, e.g. `mixc run x.mix -- --keep-going`."


def snakemake_command(workdir: Path, index: Path, profile: str, cores: int | None, dry_run: bool,
                      extra: list[str]) -> list[str]:
    profile_dir = workdir / "profiles" / profile if profile in ("local", "slurm") else Path(profile).resolve()
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(workdir / "Snakefile"), "--directory", str(workdir),
           "--profile", str(profile_dir), "--config", f"index={index.relative_to(workdir)}"]
    if profile != "slurm":
        cmd += ["--cores", str(cores or os.cpu_count() or 1)]
    if dry_run:
        cmd.append("--dry-run")
    return cmd + extra


def run_snakemake(cmd: list[str]) -> int | None:
    """Run Snakemake in its own process group; its exit status, or None when interrupted.

    On Ctrl-C (or SIGTERM) the whole group gets SIGINT, so running jobs stop too (a train job
    stops between steps; its last checkpoint stays), then SIGTERM and SIGKILL if it lingers.
    """
    proc = subprocess.Popen(cmd, start_new_session=True)
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # kill mixc = Ctrl-C
    try:
        return proc.wait()
    except KeyboardInterrupt:
        for sig, grace in ((signal.SIGINT, 60), (signal.SIGTERM, 20), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
        return None
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace) -> int:
    from mixc.compiler.budget import estimate
    from mixc.compiler.emit import emit
    from mixc.compiler.pipeline import Stop, compiled, default_workdir
    from mixc.compiler.results import result_table

    workdir = Path(args.output or default_workdir(args.file)).resolve()
    try:
        c = compiled(args.file, workdir=workdir)
    except Stop as stop:
        return stop.status
    built = emit(c.graph, c.experiment.name, workdir, estimate(c.experiment))
    cmd = snakemake_command(workdir, built.index, args.profile, args.cores, args.dry_run, args.passthrough)
    print(f"mixc: {built.jobs} jobs in {workdir}; running Snakemake ({args.profile})", file=sys.stderr)
    status = run_snakemake(cmd)
    if status is None:
        print("mixc: interrupted; rerun the same command to continue from the finished jobs", file=sys.stderr)
        return 130
    if status != 0:
        print(f"mixc: Snakemake failed (exit {status}); the failed job's log is named above, under {workdir / 'logs'}; "
              "rerun the same command to continue from the finished jobs", file=sys.stderr)
        return 1
    if args.dry_run:
        return 0
    index = json.loads(built.index.read_text())
    report_id = next(j for j, info in index["jobs"].items() if info["kind"] == "report")
    print(result_table(json.loads((workdir / report_id / "summary.json").read_text())))
    print(f"\nreport: {workdir / report_id / 'report.html'}")
    return 0
