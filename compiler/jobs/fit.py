"""The fit job: a mixing law from the proxy runs' mixtures and measured losses.

Writes `law.json` (the law, with its cross-validation figures) and `runs.json` (the
table it was fitted on: each run's mixture and losses).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REQUIRED = ("law", "seed", "design", "eval_groups", "targets", "runs", "sources", "output")


def measured_losses(run_folder: str, eval_groups: dict[str, str]) -> dict[str, float]:
    """Loss on each evaluation set (by name) of one finished train job."""
    from mixc.compiler.jobs.common import JobFailed, read_json

    metrics = read_json(Path(run_folder) / "metrics.json", "the run's metrics")
    ev = metrics.get("eval") if isinstance(metrics, dict) else None
    if not isinstance(ev, dict):
        raise JobFailed(f"{run_folder}/metrics.json: no 'eval' results")
    return {name: float(ev[group]["loss"]) for name, group in eval_groups.items() if group in ev}


def run(config: dict[str, Any]) -> None:
    import numpy as np

    from mixc.atomic import write_json
    from mixc.compiler.jobs.common import JobFailed, read_json
    from mixc.compiler.mixture.laws import CV_FOLDS, LAWS, fit_law, min_rows
    from mixc.atomic import atomic_directory

    mixtures = read_json(Path(config["design"]) / "mixtures.json", "the design")["mixtures"]
    X, Y, table = [], [], []
    for i, folder in enumerate(config["runs"]):
        losses = measured_losses(folder, config["eval_groups"])
        missing = [t for t in config["targets"] if t not in losses]
        if missing:
            raise JobFailed(f"{folder}/metrics.json: no loss for {', '.join(missing)}")
        X.append(mixtures[f"run{i}"])
        Y.append([losses[t] for t in config["targets"]])
        table.append({"run": folder, "mixture": mixtures[f"run{i}"], "losses": losses})
    X, Y = np.array(X), np.array(Y)
    if not np.all(np.isfinite(Y)):
        raise JobFailed("a proxy run's loss is not finite; see the runs' metrics.json")
    name = config["law"]
    # Cross-validate when every training fold still has enough runs for the law.
    folds = CV_FOLDS
    while folds >= 2 and len(X) - -(-len(X) // folds) < (LAWS[name].min_rows(X.shape[1]) if name in LAWS else 1):
        folds -= 1
    if len(X) < min_rows(name, X.shape[1], max(folds, 2)):
        raise JobFailed(f"the {name} law needs at least {min_rows(name, X.shape[1], max(folds, 2))} proxy runs "
                        f"for {X.shape[1]} sources; the design has {len(X)}: raise `runs` or use law: linear")
    try:
        law = fit_law(name, X, Y, config["sources"], config["targets"], seed=config["seed"],
                      cv_folds=folds if folds >= 2 else 0)
    except ValueError as exc:
        raise JobFailed(f"fitting the {name} law: {exc}") from None
    with atomic_directory(config["output"]) as tmp:
        write_json(Path(tmp) / "runs.json", table)
        write_json(Path(tmp) / "law.json", law.to_json())
