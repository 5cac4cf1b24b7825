"""The fit job: a mixing law from the proxy runs' mixtures and measured losses.

Writes `law.json` (the law, with its cross-validation figures) and `runs.json` (the
table it was fitted on: each run's mixture and measured losses, and the law's out-of-fold
prediction for each target with the fold that held the run out). A search in rounds names
each run's mixture file and key; at several fidelities, the law is the last fidelity's, fitted
on every run with each cheaper fidelity's losses moved by its offset (`fidelity_offsets`,
written to `fidelities.json`), and each run's out-of-fold prediction is of its own loss. Too few runs for the law
is an error before any fitting, worded as `mixc check`'s E104 (compiler/mixture/sizes.py).
This job never decides which law is trusted: it records the figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mixc.jobfile import JobError
from mixc.jobs import FitJob, WeightsFile

if TYPE_CHECKING:
    import numpy as np

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
    """Each proxy run's mixture (from the file and key it trained on: the design's run<i>, or a
    round's) and measured losses, with its fidelity when the search has several, in the job's order."""
    from mixc.compiler.jobs.outputs import read_json

    places = job.mixtures or tuple(WeightsFile(str(Path(job.design) / "mixtures.json"), f"run{i}")
                                   for i in range(len(job.runs)))
    files: dict[str, dict] = {}
    table = []
    for i, (folder, place) in enumerate(zip(job.runs, places)):
        if place.path not in files:
            files[place.path] = read_json(place.path, "the proxy runs' mixtures")["mixtures"]
        if place.key not in files[place.path]:
            raise JobError(f"{place.path}: no mixture {place.key!r} (for the run in {folder})")
        losses = measured_losses(folder, job.eval_groups)
        missing = [t for t in job.targets if t not in losses]
        if missing:
            raise JobError(f"{folder}/metrics.json: no loss for {', '.join(missing)}")
        row = {"run": folder, "mixture": files[place.path][place.key], "losses": losses}
        table.append({**row, "fidelity": job.fidelity[i]} if job.fidelity else row)
    return table


def fidelity_offsets(job: FitJob, Y: "np.ndarray") -> "np.ndarray":
    """(fidelities, targets): how much higher each fidelity's losses sit than the last's, the mean
    difference over the runs that trained one mixture (the same file and key: the first round's)
    at both; zero for the last. The model, assumed to first order: a cheaper proxy shifts the
    loss level and leaves the mixture's effect alone, so the constant carries the cheap runs
    over onto the last fidelity's law. (The offsets are estimated once, on all the pairs; the
    folds that judge the law do not re-estimate them.)"""
    import numpy as np

    last = max(job.fidelity)
    offsets = np.zeros((last + 1, Y.shape[1]))
    at_last = {job.mixtures[i]: i for i, f in enumerate(job.fidelity) if f == last}
    for level in range(last):
        pairs = [(i, at_last[job.mixtures[i]]) for i, f in enumerate(job.fidelity)
                 if f == level and job.mixtures[i] in at_last]
        if not pairs:
            raise JobError(f"fidelity {level} has no run on a mixture the last fidelity also trained: "
                           "its losses cannot be carried over")
        offsets[level] = np.mean([Y[a] - Y[b] for a, b in pairs], axis=0)
    return offsets


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
    from dataclasses import replace

    import numpy as np

    from mixc.atomic import atomic_directory, write_json
    from mixc.compiler.mixture import sizes
    from mixc.compiler.mixture.laws import fit_and_validate

    table = run_table(job)
    X = np.array([r["mixture"] for r in table])
    Y = np.array([[r["losses"][t] for t in job.targets] for r in table])
    if not np.all(np.isfinite(Y)):
        raise JobError("a proxy run's loss is not finite; see the runs' metrics.json")
    # Several fidelities: the law is the last fidelity's, fitted on every run moved by its offset.
    offsets = fidelity_offsets(job, Y) if job.fidelity else np.zeros((1, Y.shape[1]))
    shift = offsets[list(job.fidelity) if job.fidelity else [0] * len(table)]
    Y = Y - shift
    n, d = len(table), len(job.sources)
    if n < sizes.runs_needed(job.law, d):
        raise JobError(f"{sizes.requirement(job.law, d)}; the design has {n} proxy runs: {sizes.remedy(job.law, d)}")
    try:
        law, oof = fit_and_validate(job.law, X, Y, job.sources, job.targets, seed=job.seed, aim=aim(job))
    except ValueError as exc:
        raise JobError(f"fitting the {job.law} law: {exc}") from None
    # Out-of-fold predictions of each run's own loss: at a cheaper fidelity, with its offset back.
    oof = replace(oof, predictions=oof.predictions + shift)
    with atomic_directory(job.output) as tmp:
        write_json(Path(tmp) / "runs.json", with_out_of_fold(table, oof, job.targets))
        write_json(Path(tmp) / "law.json", law.to_json())
        if job.fidelity:
            write_json(Path(tmp) / "fidelities.json", {
                "targets": list(job.targets), "offsets": [[float(v) for v in row] for row in offsets],
                "runs": [job.fidelity.count(f) for f in range(len(offsets))]})
