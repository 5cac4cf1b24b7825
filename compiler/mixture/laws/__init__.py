"""Mixing laws behind one interface: fit, cross-validate, choose (`auto`), save and load.

`fit_law(name, ...)` returns a fitted `Law` carrying its k-fold figures; `auto` fits every
available law under k-fold cross-validation on the given runs only and keeps the one with
the best mean Spearman over the targets (ties go to the convex, then the earlier law).
Laws are plain JSON (`Law.to_json`, `load_law`). This package never reads files.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np

from mixc.compiler.mixture.laws.base import Law, best_rank, pearson, spearman
from mixc.compiler.mixture.laws.boosted import BoostedLaw
from mixc.compiler.mixture.laws.linear import LinearLaw
from mixc.compiler.mixture.laws.loglinear import LogLinearLaw
from mixc.compiler.mixture.laws.powerlaw import PowerLaw

LAWS: dict[str, type[Law]] = {c.name: c for c in (LinearLaw, LogLinearLaw, PowerLaw, BoostedLaw)}
NAMES = ("auto", *LAWS)
CV_FOLDS = 5

__all__ = ["LAWS", "NAMES", "Law", "fit_law", "load_law", "cross_validate", "min_rows", "cv_folds",
           "spearman", "pearson", "best_rank"]


def _lightgbm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("lightgbm") is not None


def min_rows(name: str, n_sources: int, cv_folds: int = CV_FOLDS) -> int:
    """Fewest runs `name` can be fitted on (auto: its simplest candidate under cross-validation)."""
    if name == "auto":
        return -(-LinearLaw.min_rows(n_sources) * cv_folds // (cv_folds - 1))
    return LAWS[name].min_rows(n_sources)


def _fits_in_folds(need: int, n_rows: int, folds: int) -> bool:
    """Whether every training fold of a k-fold split of `n_rows` runs has at least `need` runs."""
    return n_rows - -(-n_rows // folds) >= need


def cv_folds(name: str, n_rows: int, n_sources: int) -> int:
    """The most folds (at most CV_FOLDS) whose every training fold can fit law `name` (auto:
    any non-empty fold, since it skips the candidates a fold is too small for); 0 when not
    even two folds can (the law is then fitted without cross-validation)."""
    need = LAWS[name].min_rows(n_sources) if name in LAWS else 1
    folds = CV_FOLDS
    while folds >= 2 and not _fits_in_folds(need, n_rows, folds):
        folds -= 1
    return folds if folds >= 2 else 0


def cross_validate(cls: type[Law], X: np.ndarray, Y: np.ndarray, sources: Sequence[str], targets: Sequence[str],
                   folds: int = CV_FOLDS, seed: int = 0) -> dict[str, Any]:
    """k-fold figures per target from out-of-fold predictions (the folds are a seeded shuffle)."""
    n = len(X)
    folds = min(folds, n)
    order = np.random.default_rng(seed).permutation(n)
    pred = np.empty_like(Y, dtype=float)
    for part in np.array_split(order, folds):
        train = np.setdiff1d(order, part)
        law = cls.fit(X[train], Y[train], tuple(sources), tuple(targets), seed=seed)
        pred[part] = law.predict(X[part])
    per = {t: {"spearman": spearman(pred[:, j], Y[:, j]), "pearson": pearson(pred[:, j], Y[:, j]),
               "rmse": float(np.sqrt(np.mean((pred[:, j] - Y[:, j]) ** 2))),
               "best_rank": best_rank(pred[:, j], Y[:, j])} for j, t in enumerate(targets)}
    mean = float(np.nanmean([v["spearman"] for v in per.values()])) if per else float("nan")
    return {"folds": folds, "spearman": mean, "targets": per}


def fit_law(name: str, X: np.ndarray, Y: np.ndarray, sources: Sequence[str], targets: Sequence[str],
            seed: int = 0, cv_folds: int = CV_FOLDS) -> Law:
    """Fit law `name` (or choose one, `auto`) on mixtures X (n, sources) and losses Y (n, targets).

    cv_folds = 0 skips cross-validation for a named law (auto always cross-validates).
    """
    X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float).reshape(len(X), -1)
    if name not in NAMES:
        raise ValueError(f"unknown law {name!r} (one of {', '.join(NAMES)})")
    need = min_rows(name, X.shape[1], max(cv_folds, 2))
    if len(X) < need:
        raise ValueError(f"the {name} law needs at least {need} runs for {X.shape[1]} sources; got {len(X)}")
    support = tuple(float(x) for x in X.max(axis=0))
    if name != "auto":
        law = replace(LAWS[name].fit(X, Y, tuple(sources), tuple(targets), seed=seed), support=support)
        if cv_folds >= 2:
            law = law.with_cv(cross_validate(LAWS[name], X, Y, sources, targets, cv_folds, seed))
        return law
    folds = max(cv_folds, 2)
    scores: dict[str, dict[str, Any]] = {}
    for cand, cls in LAWS.items():
        if cls is BoostedLaw and not _lightgbm_available():
            continue
        if not _fits_in_folds(cls.min_rows(X.shape[1]), len(X), folds):
            continue  # too few runs in a training fold for this law
        scores[cand] = cross_validate(cls, X, Y, sources, targets, folds, seed)
    ranked = sorted(scores, key=lambda c: (-np.nan_to_num(scores[c]["spearman"], nan=-2.0),
                                           not LAWS[c].convex, list(LAWS).index(c)))
    chosen = ranked[0]
    law = replace(LAWS[chosen].fit(X, Y, tuple(sources), tuple(targets), seed=seed), support=support)
    return law.with_cv({**scores[chosen], "chosen_by": "auto",
                        "candidates": {c: scores[c]["spearman"] for c in ranked}})


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
