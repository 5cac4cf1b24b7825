"""The fit job: a mixing law from the proxy runs' mixtures and measured losses.

Writes `law.json` (the law, with its cross-validation figures) and `runs.json` (the
table it was fitted on: each run's mixture and measured losses, and the law's out-of-fold
prediction for each target with the fold that held the run out). Too few runs for the law
is an error before any fitting, worded as `mixc check`'s E104 (compiler/mixture/sizes.py).
This job never decides which law is trusted: it records the figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mixc.jobfile import JobError
from mixc.jobs import FitJob

if TYPE_CHECKING:
    from mixc.compiler.mixture.laws import Aim, OutOfFold


def measured_losses(run_folder: str, eval_groups: dict[str, str]) -> dict[str, float]:
    """Loss on each evaluation set (by name) of one finished train job."""
    from mixc.compiler.jobs.outputs import read_json

    metrics = read_json(Path(run_folder) / "metrics.json", "the run's metrics")
    ev = metrics.get("eval") if isinstance(metrics, dict) else None
    if not isinstance(ev, dict):
        raise JobError(f"{run_folder}/metrics.json: no 'eval' results")
    return {name: float(ev[group]["loss"]) for name, group in eval_groups.items() if group in ev}


def run_table(job: FitJob) -> list[dict]:
    """Each proxy run's mixture (from the design) and measured losses, in the design's order."""
    from mixc.compiler.jobs.outputs import read_json

    mixtures = read_json(Path(job.design) / "mixtures.json", "the design")["mixtures"]
    table = []
    for i, folder in enumerate(job.runs):
        losses = measured_losses(folder, job.eval_groups)
        missing = [t for t in job.targets if t not in losses]
        if missing:
            raise JobError(f"{folder}/metrics.json: no loss for {', '.join(missing)}")
        table.append({"run": folder, "mixture": mixtures[f"run{i}"], "losses": losses})
    return table


def with_out_of_fold(table: list[dict], oof: "OutOfFold", targets: tuple[str, ...]) -> list[dict]:
    """The run table with each run's out-of-fold prediction per target and its fold number."""
    return [{**row, "oof": {t: float(oof.predictions[i, j]) for j, t in enumerate(targets)},
             "fold": int(oof.fold[i])} for i, row in enumerate(table)]


def aim(job: FitJob) -> "Aim":
    """The objective as the laws see it: a coefficient per target, in the job's target order."""
    from mixc.compiler.mixture.laws import Aim

    coefs = {t: 0.0 for t in job.targets}
    for term in job.objective.terms:
        coefs[term.target] += term.coef
    return Aim(tuple(coefs[t] for t in job.targets), job.objective.kind)


def run(job: FitJob) -> None:
    import numpy as np

    from mixc.atomic import atomic_directory, write_json
    from mixc.compiler.mixture import sizes
    from mixc.compiler.mixture.laws import fit_and_validate

    table = run_table(job)
    X = np.array([r["mixture"] for r in table])
    Y = np.array([[r["losses"][t] for t in job.targets] for r in table])
    if not np.all(np.isfinite(Y)):
        raise JobError("a proxy run's loss is not finite; see the runs' metrics.json")
    n, d = len(table), len(job.sources)
    if n < sizes.runs_needed(job.law, d):
        raise JobError(f"{sizes.requirement(job.law, d)}; the design has {n} proxy runs: {sizes.remedy(job.law, d)}")
    try:
        law, oof = fit_and_validate(job.law, X, Y, job.sources, job.targets, seed=job.seed, aim=aim(job))
    except ValueError as exc:
        raise JobError(f"fitting the {job.law} law: {exc}") from None
    with atomic_directory(job.output) as tmp:
        write_json(Path(tmp) / "runs.json", with_out_of_fold(table, oof, job.targets))
        write_json(Path(tmp) / "law.json", law.to_json())
