"""Mixing laws behind one interface: fit, cross-validate, choose (`auto`), save and load.

`fit_law(name, ...)` returns a fitted `Law` carrying its k-fold figures; `fit_and_validate`
also returns each run's out-of-fold prediction. Cross-validation follows the rule of
`compiler/mixture/sizes.py`: at least two folds, every training fold with more runs than the
law has free parameters, so too few runs is an error, never a fit judged without folds.
`auto` cross-validates every available law on the given runs only (skipping those a training
fold is too small for) and keeps the one with the best mean Spearman over the targets (ties
go to the convex, then the earlier law). Laws are plain JSON (`Law.to_json`, `load_law`).
This package never reads files.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np

from mixc.compiler.mixture import sizes
from mixc.compiler.mixture.laws.base import Law, best_rank, pearson, spearman
from mixc.compiler.mixture.laws.boosted import BoostedLaw
from mixc.compiler.mixture.laws.linear import LinearLaw
from mixc.compiler.mixture.laws.loglinear import LogLinearLaw
from mixc.compiler.mixture.laws.powerlaw import PowerLaw

LAWS: dict[str, type[Law]] = {c.name: c for c in (LinearLaw, LogLinearLaw, PowerLaw, BoostedLaw)}
NAMES = ("auto", *LAWS)
CV_FOLDS = sizes.FOLDS

__all__ = ["LAWS", "NAMES", "Law", "OutOfFold", "CrossValidation", "fit_law", "fit_and_validate", "load_law",
           "cross_validate", "spearman", "pearson", "best_rank"]


@dataclass(frozen=True, eq=False)
class OutOfFold:
    """Each run's prediction by the law fitted without its fold: `predictions` (n, targets), `fold` (n,)."""

    predictions: np.ndarray
    fold: np.ndarray


@dataclass(frozen=True, eq=False)
class CrossValidation:
    """k-fold figures (the law JSON's `cv` block) and the out-of-fold predictions they come from."""

    figures: dict[str, Any]
    out_of_fold: OutOfFold


def _lightgbm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("lightgbm") is not None


def cross_validate(cls: type[Law], X: np.ndarray, Y: np.ndarray, sources: Sequence[str], targets: Sequence[str],
                   folds: int = CV_FOLDS, seed: int = 0) -> CrossValidation:
    """k-fold figures per target from out-of-fold predictions (the folds are a seeded shuffle)."""
    n = len(X)
    folds = min(folds, n)
    order = np.random.default_rng(seed).permutation(n)
    pred = np.empty_like(Y, dtype=float)
    fold = np.empty(n, dtype=int)
    for i, part in enumerate(np.array_split(order, folds)):
        train = np.setdiff1d(order, part)
        law = cls.fit(X[train], Y[train], tuple(sources), tuple(targets), seed=seed)
        pred[part] = law.predict(X[part])
        fold[part] = i
    per = {t: {"spearman": spearman(pred[:, j], Y[:, j]), "pearson": pearson(pred[:, j], Y[:, j]),
               "rmse": float(np.sqrt(np.mean((pred[:, j] - Y[:, j]) ** 2))),
               "best_rank": best_rank(pred[:, j], Y[:, j])} for j, t in enumerate(targets)}
    mean = float(np.nanmean([v["spearman"] for v in per.values()])) if per else float("nan")
    p = sizes.parameters(cls.name, X.shape[1])
    figures = {"folds": folds, "spearman": mean, "targets": per, "parameters": p, "min_train_rows": p + 1,
               "train_rows": sizes.smallest_training_fold(n, folds), "rule": sizes.RULE}
    return CrossValidation(figures, OutOfFold(pred, fold))


def _choose(X: np.ndarray, Y: np.ndarray, sources: Sequence[str], targets: Sequence[str], folds: int,
            seed: int) -> tuple[str, CrossValidation]:
    """auto: the candidate with the best mean k-fold Spearman, and its cross-validation."""
    rows = sizes.smallest_training_fold(len(X), folds)
    scores: dict[str, CrossValidation] = {}
    skipped: dict[str, int] = {}  # candidate -> the training rows it would need
    for cand, cls in LAWS.items():
        if cls is BoostedLaw and not _lightgbm_available():
            continue
        need = sizes.train_rows(cand, X.shape[1])
        if rows < need:
            skipped[cand] = need
            continue
        scores[cand] = cross_validate(cls, X, Y, sources, targets, folds, seed)
    ranked = sorted(scores, key=lambda c: (-np.nan_to_num(scores[c].figures["spearman"], nan=-2.0),
                                           not LAWS[c].convex, list(LAWS).index(c)))
    chosen = scores[ranked[0]]
    figures = {**chosen.figures, "chosen_by": "auto",
               "candidates": {c: scores[c].figures["spearman"] for c in ranked},
               "skipped": {c: f"needs {need} runs per training fold, has {rows}" for c, need in skipped.items()}}
    return ranked[0], CrossValidation(figures, chosen.out_of_fold)


def fit_and_validate(name: str, X: np.ndarray, Y: np.ndarray, sources: Sequence[str], targets: Sequence[str],
                     seed: int = 0, cv_folds: int = CV_FOLDS) -> tuple[Law, OutOfFold | None]:
    """Fit law `name` (or choose one, `auto`) on mixtures X (n, sources) and losses Y (n, targets),
    cross-validated on min(cv_folds, n) folds; also each run's out-of-fold prediction.

    cv_folds = 0 skips cross-validation for a named law (the out-of-fold predictions are then
    None); auto always cross-validates, on at least two folds. Too few runs for the rule of
    `compiler/mixture/sizes.py` is a ValueError that says how many are needed.
    """
    X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float).reshape(len(X), -1)
    if name not in NAMES:
        raise ValueError(f"unknown law {name!r} (one of {', '.join(NAMES)})")
    if cv_folds == 1 or cv_folds < 0:
        raise ValueError(f"cv_folds must be 0 (no cross-validation) or at least {sizes.MIN_FOLDS}, got {cv_folds}")
    n, d = X.shape
    validated = cv_folds >= sizes.MIN_FOLDS or name == "auto"
    if n < (sizes.runs_needed(name, d) if validated else sizes.train_rows(name, d)):
        raise ValueError(f"{sizes.requirement(name, d, validated)}; got {n}")
    folds = min(max(cv_folds, sizes.MIN_FOLDS), n)
    if name == "auto":
        name, cv = _choose(X, Y, sources, targets, folds, seed)
    else:
        cv = cross_validate(LAWS[name], X, Y, sources, targets, folds, seed) if validated else None
    law = replace(LAWS[name].fit(X, Y, tuple(sources), tuple(targets), seed=seed),
                  support=tuple(float(x) for x in X.max(axis=0)))
    return (law, None) if cv is None else (law.with_cv(cv.figures), cv.out_of_fold)


def fit_law(name: str, X: np.ndarray, Y: np.ndarray, sources: Sequence[str], targets: Sequence[str],
            seed: int = 0, cv_folds: int = CV_FOLDS) -> Law:
    """`fit_and_validate` without the out-of-fold predictions."""
    return fit_and_validate(name, X, Y, sources, targets, seed, cv_folds)[0]


def load_law(data: Mapping[str, Any]) -> Law:
    """A law from its JSON form, with a clear error for anything malformed."""
    try:
        cls = LAWS[data["law"]]
        law = cls(tuple(data["sources"]), tuple(data["targets"]), dict(data["params"]), dict(data.get("cv", {})),
                  tuple(float(x) for x in data.get("support", ())))
    except KeyError as exc:
        raise ValueError(f"not a mixing law: missing or unknown {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not a mixing law: {exc}") from None
    try:
        law.predict(np.full((1, len(law.sources)), 1.0 / max(len(law.sources), 1)))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"malformed {cls.name} law parameters: {exc}") from None
    return law
