"""`mixc build FILE -o DIR`: compile a spec into a Snakemake workflow in DIR (nothing runs)."""

from __future__ import annotations

import argparse


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE")
    p.add_argument("-o", "--output", metavar="DIR", help="work directory (default: .mixc/ beside the spec)")


def run(args: argparse.Namespace) -> int:
    from mixc.compiler.budget import estimate
    from mixc.compiler.emit import emit
    from mixc.compiler.pipeline import Stop, compiled, default_workdir

    workdir = args.output or default_workdir(args.file)
    try:
        c = compiled(args.file, workdir=workdir)
    except Stop as stop:
        return stop.status
    built = emit(c.graph, c.experiment.name, workdir, estimate(c.experiment))
    print(f"wrote {built.jobs} jobs to {built.workdir}")
    print(f"run: snakemake -d {built.workdir} -s {built.workdir / 'Snakefile'} --profile {built.workdir / 'profiles/local'} "
          f"--config index={built.index.relative_to(built.workdir)}")
    return 0
