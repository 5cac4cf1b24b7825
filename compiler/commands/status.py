"""`mixc status DIR`: where the run in work directory DIR stands, the view `mixc run` shows.

Read from what the run writes there, so it works for a run made from another shell or
machine (a SLURM run, say, on a shared filesystem): Snakemake's newest log (`mixc run`'s copy
in logs/snakemake/, or Snakemake's own), the train jobs' logs, and `owner.json` (who runs
there, and whether that run ended). `--follow` redraws it until the run ends. Reads only;
exit 0, or 2 when DIR holds no run.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

FOLLOW_S = 1.0  # how often --follow looks again


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("workdir", metavar="DIR",
                   help="a work directory of `mixc run` (for a spec without -o: .mixc/ beside it)")
    p.add_argument("-f", "--follow", action="store_true", help="keep the view up to date until the run ends")


def experiment_name(workdir: Path) -> str:
    names = sorted(p.name.removesuffix(".index.json") for p in (workdir / "jobs").glob("*.index.json"))
    return names[0] if len(names) == 1 else workdir.name


def owner_record(workdir: Path) -> dict[str, Any] | None:
    from mixc.compiler.run_lock import RECORD

    try:
        return json.loads((workdir / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def run_state(record: dict[str, Any] | None) -> tuple[str, bool]:
    """Who runs there, in words, and whether that run is over."""
    from mixc.compiler.run_lock import describe, live_pids

    if record is None:
        return "no owner record (a Snakemake run started by hand?)", False
    if record.get("ended"):
        return f"{describe(record)}; ended", True
    if record.get("host") != socket.gethostname():
        return f"{describe(record)}; running on another host", False
    if live_pids(record):
        return f"{describe(record)}; running", False
    return f"{describe(record)}; stopped without ending (killed?)", True


def run(args: argparse.Namespace) -> int:
    from mixc.compiler.progress import Watch, latest_log
    from mixc.compiler.progress_view import Display, live_lines, use_colour

    workdir = Path(args.workdir)
    log = latest_log(workdir)
    if not workdir.is_dir() or log is None:
        print(f"mixc: {workdir}: no Snakemake log there: no run has started in this work directory", file=sys.stderr)
        return 2
    name = experiment_name(workdir)
    who, over = run_state(owner_record(workdir))
    print(f"mixc: {who}\nmixc: Snakemake's log: {log}")
    watch = Watch(workdir, log)
    if args.follow and not over:
        display = Display(name, watch, sys.stdout)
        while not over:
            display.tick()
            time.sleep(FOLLOW_S)
            who, over = run_state(owner_record(workdir))
        display.close()
        print(f"mixc: {who}")
        return 0
    watch.poll()
    snapshot = watch.snapshot(now=log.stat().st_mtime if over else None)
    colour = use_colour(sys.stdout)
    print("\n".join(live_lines(name, snapshot, colour)))
    for job in snapshot.failed:
        print(f"mixc: job {job} failed; its log: {workdir / 'logs' / f'{job}.log'}")
    return 0
