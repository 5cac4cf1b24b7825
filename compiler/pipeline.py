"""From a spec path to the compiler's products, reporting diagnostics on the way.

The commands (`plan`, `graph`, `build`, `run`) all start the same way: check the spec
with the compiler's hooks (runs for the law, constraint feasibility, budget), then lower
it. This module is that shared start; it prints diagnostics but decides nothing about
output formats.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mixc.spec.check import check
from mixc.spec.diagnostics import Diagnostic, render_text
from mixc.spec.experiment import Experiment
from mixc.spec.load import load

if TYPE_CHECKING:
    from mixc.compiler.lower import JobGraph


class Stop(Exception):
    """Compilation cannot go on; `status` is the exit status (diagnostics already printed)."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class Compiled:
    experiment: Experiment
    graph: "JobGraph"
    texts: dict[str, str]


def hooks(with_budget: bool = True) -> tuple:
    """The checks that need the compiler, in the order they run."""
    from mixc.compiler.budget import budget_diagnostics
    from mixc.compiler.feasibility import feasibility_diagnostics
    from mixc.compiler.search_rules import search_diagnostics

    light = (search_diagnostics, feasibility_diagnostics)
    return (*light, budget_diagnostics) if with_budget else light


def report(diags: list[Diagnostic], texts: dict[str, str]) -> None:
    if diags:
        sys.stderr.write(render_text(diags, texts))


def checked(path: str, with_budget: bool = True) -> tuple[Experiment, dict[str, str]]:
    try:
        loaded = load(path)
    except OSError as exc:
        print(f"mixc: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        raise Stop(2) from None
    experiment, diags = check(loaded, hooks=hooks(with_budget))
    report(diags, loaded.texts)
    if experiment is None:
        raise Stop(1)
    return experiment, loaded.texts


def compiled(path: str, with_budget: bool = True, workdir: str | Path | None = None) -> Compiled:
    """Check and lower the spec at `path`. Data fingerprints are cached in the work directory
    (`workdir`, or `.mixc/` beside the spec when that exists), so a rebuild reads no data."""
    from mixc.compiler.lower import lower
    from mixc.hashing import FileDigests

    experiment, texts = checked(path, with_budget)
    folder = Path(workdir) if workdir is not None else default_workdir(path)
    digests = FileDigests(folder / "fingerprints.json" if workdir is not None or folder.is_dir() else None)
    graph, diags = lower(experiment, digests)
    digests.save()
    report(diags, texts)
    if graph is None:
        raise Stop(1)
    return Compiled(experiment, graph, texts)


def default_workdir(spec_path: str) -> Path:
    """Where `mixc run` keeps its work when not told: `.mixc/` beside the spec."""
    return Path(spec_path).resolve().parent / ".mixc"
