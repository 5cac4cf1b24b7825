"""The `mixc check` hook for the search: enough proxy runs for the law to be fitted and
cross-validated honestly (E104).

The rule and every law's parameter count are `compiler/mixture/sizes.py`'s, the same numbers
the fit job enforces when it runs, so a spec that passes here is never stopped there for its
number of runs. Pure Python: this module must not import numpy or anything that fits.
"""

from __future__ import annotations

from mixc.compiler.mixture import sizes
from mixc.spec.diagnostics import Diagnostic
from mixc.spec.experiment import Experiment


def search_diagnostics(experiment: Experiment) -> list[Diagnostic]:
    """E104 at the search's `runs:` entry when the runs are too few for its law and sources."""
    search = experiment.search
    if search is None:
        return []
    n_sources = len(experiment.sources)
    if search.runs >= sizes.runs_needed(search.law, n_sources):
        return []
    return [Diagnostic("E104", f"{sizes.requirement(search.law, n_sources)}; the search has {search.runs}",
                       search.runs_span, help=sizes.remedy(search.law, n_sources))]
