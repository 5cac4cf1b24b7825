"""`mixc report DIR`: (re)build the report of an experiment from what its jobs wrote in DIR.

Writes the report job's folder (summary.json, report.md, report.html, results.zarr) and
prints the markdown. Works on a partial run too: what has not finished shows as `-`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("workdir", metavar="DIR", help="a work directory written by `mixc build` or `mixc run`")
    p.add_argument("--experiment", help="which experiment, when DIR holds several")


def run(args: argparse.Namespace) -> int:
    from mixc.compiler.jobs.kinds import KINDS
    from mixc.jobfile import JobError, JobFileError, load
    from mixc.compiler.results import markdown

    workdir = Path(args.workdir)
    indexes = sorted((workdir / "jobs").glob("*.index.json"))
    if args.experiment:
        indexes = [i for i in indexes if i.name == f"{args.experiment}.index.json"]
    if len(indexes) != 1:
        names = ", ".join(i.name.removesuffix(".index.json") for i in indexes) or "none"
        print(f"mixc: {workdir}: expected one experiment's index in jobs/, found: {names}"
              + ("; choose with --experiment" if len(indexes) > 1 else ""), file=sys.stderr)
        return 2
    index = json.loads(indexes[0].read_text())
    report_id = next(j for j, info in index["jobs"].items() if info["kind"] == "report")
    here = os.getcwd()
    os.chdir(workdir)  # job paths are relative to the work directory
    try:
        job = load(f"jobs/{report_id}.json", {"report": KINDS["report"]})
        job.run(job.config)
        summary = json.loads(Path(report_id, "summary.json").read_text())
    except (JobFileError, JobError) as exc:
        print(f"mixc: {exc}", file=sys.stderr)
        return 1
    finally:
        os.chdir(here)
    print(markdown(summary), end="")
    folder = workdir / report_id
    print(f"\nwrote {folder / 'report.md'}, {folder / 'report.html'} and {folder / 'results.zarr'}")
    return 0
