"""Mixing laws behind one interface: fit, cross-validate, choose (`auto`), save and load.

`fit_law(name, ...)` returns a fitted `Law` carrying its k-fold figures; `fit_and_validate`
also returns each run's out-of-fold prediction. Cross-validation follows the rule of
`compiler/mixture/sizes.py`: at least two folds, every training fold with more runs than the
law has free parameters, so too few runs is an error, never a fit judged without folds.
`auto` (auto.py) cross-validates every available law, and a stack of them, and keeps the
simplest within noise of the best out-of-fold prediction of the objective. A law that
cannot be fitted is a LawFitError (a ValueError) that says why. `maximize` fits a
higher-is-better metric as its negation, so every law and solve minimises. Laws are plain
JSON (`Law.to_json`, `load_law`). This package never reads files.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np

from mixc.compiler.mixture import sizes
from mixc.compiler.mixture.laws import auto
from mixc.compiler.mixture.laws.base import Law, LawFitError, best_rank, fit_checked, pearson, spearman
from mixc.compiler.mixture.laws.boosted import BoostedLaw
from mixc.compiler.mixture.laws.crossval import Aim, CrossValidation, OutOfFold, assign_folds, cross_validate, judged
from mixc.compiler.mixture.laws.registry import LAWS, law_from_json
from mixc.compiler.mixture.laws.stacked import StackedLaw

NAMES = ("auto", *LAWS)
CV_FOLDS = sizes.FOLDS

__all__ = ["LAWS", "NAMES", "Law", "LawFitError", "Aim", "OutOfFold", "CrossValidation", "fit_law",
           "fit_and_validate", "load_law", "cross_validate", "spearman", "pearson", "best_rank"]


def _candidates() -> dict[str, type[Law]]:
    """auto's candidates: every law whose packages are installed."""
    import importlib.util

    return {name: cls for name, cls in LAWS.items()
            if cls is not BoostedLaw or importlib.util.find_spec("lightgbm") is not None}


def _check_request(name: str, n: int, d: int, cv_folds: int) -> bool:
    """Whether the fit is cross-validated; ValueError for an unknown law, bad folds or too few runs."""
    if name not in NAMES:
        raise ValueError(f"unknown law {name!r} (one of {', '.join(NAMES)})")
    if cv_folds == 1 or cv_folds < 0:
        raise ValueError(f"cv_folds must be 0 (no cross-validation) or at least {sizes.MIN_FOLDS}, got {cv_folds}")
    validated = cv_folds >= sizes.MIN_FOLDS or name == "auto"
    if n < (sizes.runs_needed(name, d) if validated else sizes.train_rows(name, d)):
        raise ValueError(f"{sizes.requirement(name, d, validated)}; got {n}")
    return validated


def fit_and_validate(name: str, X: np.ndarray, Y: np.ndarray, sources: Sequence[str], targets: Sequence[str],
                     seed: int = 0, cv_folds: int = CV_FOLDS, aim: Aim | None = None,
                     maximize: bool = False) -> tuple[Law, OutOfFold | None]:
    """Fit law `name` (or choose one, `auto`) on mixtures X (n, sources) and losses Y (n, targets),
    cross-validated on min(cv_folds, n) folds; also each run's out-of-fold prediction.

    cv_folds = 0 skips cross-validation for a named law (the out-of-fold predictions are then
    None); auto always cross-validates, on at least two folds. `aim` is the objective the
    targets feed (default: their mean); `maximize` means Y is higher-is-better (the law, and its
    out-of-fold predictions, are of -Y). Too few runs for the rule of `compiler/mixture/sizes.py`
    is a ValueError that says how many are needed; a law that cannot fit, a LawFitError.
    """
    X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float).reshape(len(X), -1)
    Y = -Y if maximize else Y
    n, d = X.shape
    validated = _check_request(name, n, d, cv_folds)
    aim = aim or Aim.mean(Y.shape[1])
    fold = assign_folds(n, max(cv_folds, sizes.MIN_FOLDS), seed)
    with np.errstate(all="ignore"):  # figures of wild predictions are inf or NaN, not warnings
        law, oof, cv = _fit(name, X, Y, sources, targets, fold, seed, aim, validated)
    law = replace(law, support=tuple(float(x) for x in X.max(axis=0)), maximize=maximize, cv=cv)
    return law, oof


def _fit(name, X, Y, sources, targets, fold, seed, aim, validated) -> tuple[Law, OutOfFold | None, dict]:
    """The law (auto's choice or the named one) fitted on all runs, its out-of-fold predictions, its figures."""
    if name == "auto":
        choice = auto.choose(X, Y, sources, targets, fold, seed, aim, _candidates())
        return choice.law, choice.out_of_fold, choice.figures
    law = fit_checked(LAWS[name], X, Y, sources, targets, seed)
    if not validated:
        return law, None, {}
    cv = judged(LAWS[name], X, Y, sources, targets, fold, seed, aim)
    return law, cv.out_of_fold, cv.figures


def fit_law(name: str, X: np.ndarray, Y: np.ndarray, sources: Sequence[str], targets: Sequence[str],
            seed: int = 0, cv_folds: int = CV_FOLDS, aim: Aim | None = None, maximize: bool = False) -> Law:
    """`fit_and_validate` without the out-of-fold predictions."""
    return fit_and_validate(name, X, Y, sources, targets, seed, cv_folds, aim, maximize)[0]


def load_law(data: Mapping[str, Any]) -> Law:
    """A law (one that can be named, or a stack of them) from its JSON form; ValueError if malformed."""
    if not isinstance(data, Mapping):
        raise ValueError("not a mixing law: expected a JSON object")
    return law_from_json(data, {**LAWS, StackedLaw.name: StackedLaw})
