"""k-fold cross-validation of one law: the folds, each run's out-of-fold prediction, the figures.

The folds are a seeded shuffle cut into k near-equal parts; how many runs a law needs for
them is the rule of `compiler/mixture/sizes.py`. A law is judged on what it predicts for
runs it was not fitted on, for each target and for the objective the targets feed (`Aim`):
Spearman, Pearson, RMSE and the true rank of the run it predicts best. A fold whose fit
fails is a LawFitError naming the fold. This module chooses nothing (that is `auto.py`)
and reads no files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from mixc.compiler.mixture import sizes
from mixc.compiler.mixture.laws.base import Law, LawFitError, best_rank, fit_checked, pearson, rmse, spearman


@dataclass(frozen=True)
class Aim:
    """What the law's targets feed: the objective `sum_j coefs_j L_j` (kind "sum") or
    `max_j coefs_j L_j` (kind "max"), in the order of the law's targets. The default for m
    targets is their mean."""

    coefs: tuple[float, ...]
    kind: str = "sum"

    @classmethod
    def mean(cls, n_targets: int) -> "Aim":
        return cls(tuple([1.0 / n_targets] * n_targets))

    def values(self, L: np.ndarray) -> np.ndarray:
        """(n,) objective values of losses L (n, targets)."""
        weighted = np.asarray(L, dtype=float) * np.asarray(self.coefs)
        return weighted.sum(axis=1) if self.kind == "sum" else weighted.max(axis=1)


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


def assign_folds(n: int, folds: int, seed: int) -> np.ndarray:
    """(n,) fold number of each run: a seeded shuffle cut into `folds` near-equal parts."""
    order = np.random.default_rng(seed).permutation(n)
    fold = np.empty(n, dtype=int)
    for i, part in enumerate(np.array_split(order, min(folds, n))):
        fold[part] = i
    return fold


def out_of_fold(cls: type[Law], X: np.ndarray, Y: np.ndarray, sources: Sequence[str], targets: Sequence[str],
                fold: np.ndarray, seed: int = 0) -> OutOfFold:
    """Each run's prediction by `cls` fitted on the other folds."""
    pred = np.empty_like(Y, dtype=float)
    k = int(fold.max()) + 1
    for i in range(k):
        held = fold == i
        try:
            law = fit_checked(cls, X[~held], Y[~held], sources, targets, seed=seed)
        except LawFitError as exc:
            raise LawFitError(f"fold {i + 1} of {k}: {exc}") from None
        with np.errstate(all="ignore"):
            pred[held] = law.predict(X[held])
    if not np.all(np.isfinite(pred)):
        raise LawFitError(f"the {cls.name} law predicts non-finite losses for runs held out of its fit")
    return OutOfFold(pred, fold)


def column_figures(pred: np.ndarray, true: np.ndarray) -> dict[str, float | int]:
    """How well predictions `pred` (n,) of held-out runs match what was measured (n,)."""
    return {"spearman": spearman(pred, true), "pearson": pearson(pred, true),
            "rmse": rmse(pred, true), "best_rank": best_rank(pred, true)}


def figures(pred: np.ndarray, Y: np.ndarray, targets: Sequence[str], aim: Aim) -> dict[str, Any]:
    """Per-target figures, their mean Spearman, and the figures of the objective they feed."""
    per = {t: column_figures(pred[:, j], Y[:, j]) for j, t in enumerate(targets)}
    rhos = [v["spearman"] for v in per.values() if np.isfinite(v["spearman"])]
    mean = float(np.mean(rhos)) if rhos else float("nan")
    return {"spearman": mean, "targets": per, "objective": column_figures(aim.values(pred), aim.values(Y))}


def sizes_figures(name: str, n_runs: int, n_sources: int, folds: int) -> dict[str, Any]:
    """What the cross-validation rule of sizes.py required of this law, and what the folds gave."""
    p = sizes.parameters(name, n_sources)
    return {"folds": folds, "parameters": p, "min_train_rows": p + 1,
            "train_rows": sizes.smallest_training_fold(n_runs, folds), "rule": sizes.RULE}


def cross_validate(cls: type[Law], X: np.ndarray, Y: np.ndarray, sources: Sequence[str], targets: Sequence[str],
                   folds: int = sizes.FOLDS, seed: int = 0, aim: Aim | None = None) -> CrossValidation:
    """k-fold figures of `cls` from its out-of-fold predictions."""
    return judged(cls, X, Y, sources, targets, assign_folds(len(X), folds, seed), seed, aim or Aim.mean(Y.shape[1]))


def judged(cls: type[Law], X: np.ndarray, Y: np.ndarray, sources: Sequence[str], targets: Sequence[str],
           fold: np.ndarray, seed: int, aim: Aim) -> CrossValidation:
    """The figures of `cls` on the given folds: what the rule required, and what its out-of-fold predictions gave."""
    oof = out_of_fold(cls, X, Y, sources, targets, fold, seed)
    found = figures(oof.predictions, Y, targets, aim)
    return CrossValidation({**sizes_figures(cls.name, len(X), X.shape[1], int(fold.max()) + 1), **found}, oof)
