"""`mixc run FILE`: build the workflow, then run it with Snakemake (local by default).

`--profile slurm` submits to a SLURM cluster through Snakemake's SLURM executor, with the
same job files. Arguments after `--` go to Snakemake unchanged. When the run finishes,
the result table of the report job is printed; Snakemake options that run no jobs
(`--unlock`, `--dry-run`, `--list-...`, `--summary`, `--touch`, ...) print none.

Before Snakemake starts, `mixc run` takes the work directory (compiler.run_lock: one run at a
time; Snakemake locks left by a killed run are cleared, live ones refuse) and gives back the
marker of every finished job whose output is gone or damaged (compiler.finished), so that
the run rebuilds it. Ctrl-C stops Snakemake and every process it started within a bound
(compiler.supervise); a job only counts as done once its marker is written, after it
succeeded, and every job writes its outputs atomically, so a rerun continues from what
finished. This module prints and decides the exit status; it never edits job outputs.

What a person sees: the work directory and the report's path first and last; while jobs run,
a live view on a terminal and a line per job start and end elsewhere (compiler.progress_view),
with Snakemake's own output in `logs/snakemake/<time>.log` under the work directory, named
with the failed jobs' log tails when the run fails. `-v` shows Snakemake's output instead, as
do the options that run no job.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mixc.compiler.pipeline import Compiled
    from mixc.compiler.run_lock import Owner
    from mixc.compiler.supervise import Grace, Outcome

PASSTHROUGH = True  # `mixc run FILE -- ARGS`: ARGS go to Snakemake

# Snakemake options after which it runs no job: those that change nothing in the work
# directory, and those that do (they take the work directory like a run, but get no table).
INSPECT = frozenset({
    "-n", "--dry-run", "--dryrun", "-l", "--list", "--list-rules", "--lt", "--list-target-rules",
    "--lc", "--list-changes", "--li", "--list-input-changes", "--lp", "--list-params-changes",
    "--lu", "--list-untracked", "-S", "--summary", "-D", "--detailed-summary", "--dag", "--rulegraph",
    "--filegraph", "--d3dag", "--lint", "--print-compilation", "--list-conda-envs", "--export-cwl",
    "--containerize", "--archive", "--report", "-h", "--help", "-v", "--version",
})
DRY_RUN = frozenset({"-n", "--dry-run", "--dryrun"})
MAINTAIN = frozenset({
    "--unlock", "-t", "--touch", "--cm", "--cleanup-metadata", "--cleanup-shadow", "--delete-all-output",
    "--delete-temp-output", "--conda-create-envs-only", "--conda-cleanup-envs", "--generate-unit-tests",
})


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE")
    p.add_argument("-o", "--output", metavar="DIR", help="work directory (default: .mixc/ beside the spec)")
    p.add_argument("--cores", type=int, default=None, help="cores to use locally (default: all)")
    p.add_argument("--profile", default="local", help="local (default), slurm, or a profile folder")
    p.add_argument("--dry-run", "-n", action="store_true", help="show what would run; run nothing")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show Snakemake's own output instead of the progress view")
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


def no_jobs_option(extra: list[str], within: frozenset[str]) -> str | None:
    """The first of `extra` (Snakemake's arguments) that is one of the options `within`."""
    return next((a for a in extra if a.split("=", 1)[0] in within), None)


def mixc_command(args: argparse.Namespace, *extra: str) -> str:
    """The command line that reruns this experiment, with `extra` Snakemake arguments."""
    words = ["mixc", "run", args.file] + (["-o", args.output] if args.output else [])
    words += ["--profile", args.profile] if args.profile != "local" else []
    return shlex.join(words + (["--", *extra] if extra else []))


def grace_for(profile: str) -> "Grace":
    """How long each step of a stop may take: locally, a few seconds; on a cluster, Snakemake
    cancels the queued jobs first (one scancel each)."""
    from mixc.compiler.supervise import Grace

    return Grace() if profile == "local" else Grace(interrupt=120.0)


def rebuild_damaged(workdir: Path, index: Path, act: bool) -> None:
    """Give back the markers of finished jobs whose outputs are gone or damaged, and of the jobs
    that read from them (or, when not `act`, only say which)."""
    from mixc.compiler.finished import damaged, downstream, invalidate

    jobs = json.loads(index.read_text())["jobs"]
    found = damaged(workdir, jobs)
    if not found:
        return
    after = {j for j in downstream(jobs, found) if (workdir / "done" / j).is_file()}
    for job_id, why in found.items():
        print(f"mixc: {'rebuilding' if act else 'would rebuild'} {job_id}: {why}", file=sys.stderr)
    if after:
        print(f"mixc: {'and' if act else 'and would rerun'} the {len(after)} finished job(s) that read from "
              f"{'it' if len(found) == 1 else 'them'}", file=sys.stderr)
    if act:
        invalidate(workdir, [*found, *after])


def take(args: argparse.Namespace, workdir: Path) -> "Owner":
    """Claim the work directory for this run and clear the Snakemake locks a dead run left;
    raises Busy (naming who has it and the fix) when it is not free."""
    from mixc.compiler.run_lock import Busy, claim, describe

    owner = claim(workdir, args.profile, mixc_command(args))
    if no_jobs_option(args.passthrough, MAINTAIN) is None:  # `--unlock` and the like clear locks themselves
        try:
            cleared = owner.clear_stale_locks(args.profile, mixc_command(args, "--unlock"))
        except Busy:
            owner.abandon()
            raise
        if cleared:
            print(f"mixc: removed the Snakemake locks ({', '.join(p.name for p in cleared)}) left by "
                  f"{describe(owner.previous)}, which no longer runs", file=sys.stderr)
    owner.begin()
    return owner


def run(args: argparse.Namespace) -> int:
    from mixc.compiler.pipeline import Stop, compiled, default_workdir
    from mixc.compiler.run_lock import Busy

    from mixc.layers import install_line, missing

    if args.profile == "local" and not args.dry_run and missing("train"):  # the jobs run on this machine
        print(install_line("mixc run", "train") + " (jobs run on this machine; on a cluster, --profile slurm)",
              file=sys.stderr)
        return 2
    workdir = Path(args.output or default_workdir(args.file)).resolve()
    try:
        c = compiled(args.file, workdir=workdir)
    except Stop as stop:
        return stop.status
    if args.dry_run or no_jobs_option(args.passthrough, INSPECT) is not None:
        return launch(args, c, workdir, None)  # changes nothing: needs no claim on the work directory
    try:
        owner = take(args, workdir)
    except Busy as busy:
        print(f"mixc: {busy}", file=sys.stderr)
        return 1
    return launch(args, c, workdir, owner)


def report_path(index: Path, workdir: Path) -> Path:
    """Where the report job writes report.html."""
    jobs = json.loads(index.read_text(encoding="utf-8"))["jobs"]
    return workdir / next(j for j, info in jobs.items() if info["kind"] == "report") / "report.html"


def snakemake_log(workdir: Path) -> Path:
    """A new file for this run's Snakemake output: logs/snakemake/<local time>.log."""
    from mixc.compiler.progress import LOGS

    folder = workdir / LOGS
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H%M%S")
    path, n = folder / f"{stamp}.log", 1
    while path.exists():  # two runs within a second
        path, n = folder / f"{stamp}-{n}.log", n + 1
    return path


def launch(args: argparse.Namespace, c: "Compiled", workdir: Path, owner: "Owner | None") -> int:
    """Write the workflow, run Snakemake under supervision, and say how it went."""
    from mixc.compiler import supervise
    from mixc.compiler.budget import estimate
    from mixc.compiler.emit import emit
    from mixc.compiler.progress import Watch
    from mixc.compiler.progress_view import Display

    outcome, log = None, None
    try:
        built = emit(c.graph, c.experiment.name, workdir, estimate(c.experiment))
        if owner is not None and no_jobs_option(args.passthrough, MAINTAIN) is None:
            rebuild_damaged(workdir, built.index, act=True)
        elif args.dry_run or no_jobs_option(args.passthrough, DRY_RUN):
            rebuild_damaged(workdir, built.index, act=False)
        cmd = snakemake_command(workdir, built.index, args.profile, args.cores, args.dry_run, args.passthrough)
        quiet = not (args.verbose or args.dry_run or no_jobs_option(args.passthrough, INSPECT | MAINTAIN))
        log = snakemake_log(workdir) if quiet else None
        print(f"mixc: {c.experiment.name}: {built.jobs} jobs in {workdir}; Snakemake ({args.profile})"
              + (f", its log: {log.relative_to(workdir)}" if log else "")
              + f"\nmixc: report: {report_path(built.index, workdir)}", file=sys.stderr)
        started = time.time() - 2  # a log's mtime on a shared filesystem may lag this clock a little
        display = Display(c.experiment.name, Watch(workdir, log, time.time()), sys.stderr) if log else None
        with open(log, "w", encoding="utf-8") if log else contextlib.nullcontext() as output:
            outcome = supervise.run(cmd, grace_for(args.profile), pass_fds=[owner.fd] if owner else [],
                                    on_start=(lambda proc: owner.started(proc.pid)) if owner else None,
                                    output=output, tick=display.tick if display else None)
        if display is not None:
            display.close()
    finally:
        if owner is not None:
            left = outcome.left if outcome is not None else ()
            owner.release(ended=not left, clear_locks=outcome is not None and outcome.status < 0 and not left)
    return conclude(args, outcome, workdir, built.index, started, log)


TAIL_LINES = 12  # of a failed job's log, printed under its name


def log_tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    from mixc.compiler.progress import tail

    return [line for line in tail(path).splitlines() if line.strip()][-lines:]


def name_failed(workdir: Path, index: Path, since: float, log: Path | None) -> None:
    """Say which jobs failed in this run, where their logs are, each log's last error and tail;
    and where Snakemake's log is (its tail when no job is to blame)."""
    from mixc.compiler.finished import failed

    jobs = json.loads(index.read_text(encoding="utf-8"))["jobs"]
    found = failed(workdir, jobs, since)
    for job_id, job_log, words in found:
        tail = "".join(f"\n  | {line}" for line in log_tail(job_log))
        print(f"mixc: job {job_id} failed; its log: {job_log}\n  {words}{tail}", file=sys.stderr)
    if log is not None:
        tail = "" if found else "".join(f"\n  | {line}" for line in log_tail(log))
        print(f"mixc: Snakemake's log: {log}{tail}", file=sys.stderr)


def conclude(args: argparse.Namespace, outcome: "Outcome", workdir: Path, index: Path, started: float,
             log: Path | None) -> int:
    """The exit status of `mixc run`, and what it prints: the result table when there is one."""
    from mixc.compiler.results import result_table

    if outcome.left:
        print(f"mixc: processes of the run still alive after SIGKILL: pids {', '.join(map(str, outcome.left))} "
              "(stuck in the kernel?)", file=sys.stderr)
    report = report_path(index, workdir)
    if outcome.interrupted:
        print("mixc: interrupted; Snakemake and its jobs stopped; rerun the same command to continue "
              f"from the finished jobs\nmixc: work directory: {workdir}", file=sys.stderr)
        return 130
    if outcome.status != 0:
        name_failed(workdir, index, started, log)
        print(f"mixc: Snakemake failed (exit {outcome.status}); rerun the same command to continue from the "
              f"finished jobs\nmixc: work directory: {workdir}", file=sys.stderr)
        return 1
    option = no_jobs_option(args.passthrough, INSPECT | MAINTAIN)
    if args.dry_run or option:
        if option:
            print(f"mixc: Snakemake ran no jobs ({option}), so there is no result table", file=sys.stderr)
        return 0
    summary = report.parent / "summary.json"
    try:
        text = result_table(json.loads(summary.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else exc
        if args.passthrough:  # Snakemake did what it was asked (targets, say), which did not include the report
            print(f"mixc: Snakemake finished with `{shlex.join(args.passthrough)}`, but the report job has not "
                  f"written {summary} ({why}), so there is no result table; `{mixc_command(args)}` finishes "
                  "the experiment", file=sys.stderr)
            return 0
        print(f"mixc: Snakemake finished, but the report job's summary {summary} is unreadable ({why}); "
              f"`{mixc_command(args)}` runs the report job again", file=sys.stderr)
        return 1
    print(text)
    print(f"\nwork directory: {workdir}\nreport: {report}")
    return 0
