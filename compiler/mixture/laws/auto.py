"""`auto`: which law to trust for these runs, decided by how well each predicts runs it did not see.

Every candidate that the runs can cross-validate (sizes.py) is fitted on the same k folds;
one that fails is skipped with its reason. A stack of the candidates (stacked.py) joins
them, its weights fitted without the fold they predict. Each is scored by its out-of-fold
prediction of the quantity the solve optimises, the objective (`Aim`) over the targets.

The rule (`RULE`): take the candidate with the lowest out-of-fold mean squared error of the
objective; among the candidates within one standard error of it, keep the one with the
fewest effective parameters. This is the one-standard-error rule of Breiman et al. (1984,
*Classification and Regression Trees*, sec. 3.4.3) and Hastie, Tibshirani and Friedman
(2009, *The Elements of Statistical Learning*, sec. 7.10), with the error's standard error
taken over runs and paired with the best candidate (both are scored on the same runs, so
the paired difference is what noise would have to explain). The reason for leaning simple:
a law is fitted on proxies and used at another scale, and a flexible law's extra in-sample
fit seldom carries over. The stack counts the parameters of all its parts, so it is kept
only when it is clearly better than each of them.

Figures are not optimistic: the reported ones are of the choice cross-validated, fold by
fold: the rule decides on the other folds' out-of-fold predictions, and the candidate it
picks there is scored on the fold (`picks` counts the choices). The candidates' own
figures sit beside it. This module reads no files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from mixc.compiler.mixture import sizes
from mixc.compiler.mixture.laws.base import NUMERICAL_ERRORS, Law, LawFitError, fit_checked, standardise
from mixc.compiler.mixture.laws.crossval import Aim, OutOfFold, figures, out_of_fold, sizes_figures
from mixc.compiler.mixture.laws.stacked import StackedLaw, stack_weights

RULE = ("the candidate with the lowest out-of-fold mean squared error of the objective; among those within "
        "one standard error of it (paired over runs), the one with the fewest effective parameters")
ESTIMATE = ("the choice cross-validated: for each fold, the rule decides on the other folds' out-of-fold "
            "predictions and the candidate it picks is scored on the fold")


@dataclass(frozen=True, eq=False)
class Candidate:
    """A law fitted on all the runs, with its out-of-fold predictions (n, targets)."""

    name: str
    law: Law
    predictions: np.ndarray

    def effective(self, n_runs: int) -> float:
        return self.law.effective_parameters(n_runs)


@dataclass(frozen=True, eq=False)
class Choice:
    """What auto decided: the law (fitted on all runs), its out-of-fold predictions and the `cv` figures."""

    law: Law
    out_of_fold: OutOfFold
    figures: dict[str, Any]


def _fit_candidates(X, Y, sources, targets, fold, seed, classes) -> tuple[list[Candidate], dict[str, str]]:
    """Each class that the folds can hold, fitted and cross-validated; the others with the reason."""
    n, d = X.shape
    rows = sizes.smallest_training_fold(n, int(fold.max()) + 1)
    fitted, skipped = [], {}
    for name, cls in classes.items():
        need = sizes.train_rows(name, d)
        if rows < need:
            skipped[name] = f"needs {need} runs per training fold, has {rows}"
            continue
        try:
            oof = out_of_fold(cls, X, Y, sources, targets, fold, seed)
            fitted.append(Candidate(name, fit_checked(cls, X, Y, sources, targets, seed), oof.predictions))
        except LawFitError as exc:
            skipped[name] = str(exc)
    return fitted, skipped


def _stack(cands: list[Candidate], Y: np.ndarray, fold: np.ndarray) -> Candidate | None:
    """The stack of the candidates, its out-of-fold predictions from weights fitted without
    each fold; None when fewer than two candidates earn weight."""
    if len(cands) < 2:
        return None
    P = np.stack([c.predictions for c in cands], axis=2)  # (n, targets, candidates)
    weights = np.stack([stack_weights(P[:, j], Y[:, j]) for j in range(Y.shape[1])])  # (targets, candidates)
    used = weights.max(axis=0) > 0
    if used.sum() < 2:
        return None
    P, weights = P[:, :, used], weights[:, used]
    pred = np.empty_like(Y, dtype=float)
    for i in range(int(fold.max()) + 1):
        held = fold == i
        for j in range(Y.shape[1]):
            pred[held, j] = P[held, j] @ stack_weights(P[~held, j], Y[~held, j])
    law = StackedLaw.of([c.law for c, u in zip(cands, used) if u], weights / weights.sum(axis=1, keepdims=True))
    return Candidate("stack", law, pred)


def _order(cands: list[Candidate], n_runs: int) -> list[Candidate]:
    """Simplest first: fewest effective parameters, then convex, then the registry's order."""
    return sorted(cands, key=lambda c: (c.effective(n_runs), not c.law.convex))


def _decide(errors: dict[str, np.ndarray], order: Sequence[str], rows: np.ndarray) -> str:
    """The rule on the runs `rows`: errors are each candidate's squared errors of the objective (n,)."""
    means = {c: float(np.nan_to_num(errors[c][rows].mean(), nan=np.inf)) for c in order}
    best = min(order, key=means.get)
    if not np.isfinite(means[best]):
        return best
    for name in order:
        diff = errors[name][rows] - errors[best][rows]
        se = diff.std(ddof=1) / np.sqrt(rows.sum()) if rows.sum() > 1 else 0.0
        if np.isfinite(diff.mean()) and diff.mean() <= se:
            return name
    return best


def _candidate_figures(c: Candidate, Y, targets, aim, errors, best: str, n: int) -> dict[str, Any]:
    """A candidate's out-of-fold figures for the objective (and per target's Spearman when several)."""
    found = figures(c.predictions, Y, targets, aim)
    diff = errors[c.name] - errors[best]
    out = {"spearman": found["objective"]["spearman"], "rmse": found["objective"]["rmse"],
           "best_rank": found["objective"]["best_rank"], "effective_parameters": round(c.effective(n), 3),
           # the rule's figures: mean squared error above the best, and its standard error, in units
           # of the measured objective's variance over the runs
           "excess_mse": float(diff.mean()), "excess_se": float(diff.std(ddof=1) / np.sqrt(n)),
           "convex": bool(c.law.convex)}
    if len(targets) > 1:
        out["targets"] = {t: v["spearman"] for t, v in found["targets"].items()}
    return out


def choose(X: np.ndarray, Y: np.ndarray, sources: Sequence[str], targets: Sequence[str], fold: np.ndarray,
           seed: int, aim: Aim, classes: Mapping[str, type[Law]]) -> Choice:
    """auto on mixtures X (n, sources) and losses Y (n, targets) over the folds `fold` (n,)."""
    cands, skipped = _fit_candidates(X, Y, sources, targets, fold, seed, classes)
    if not cands:
        raise LawFitError("no candidate law could be fitted on these runs: "
                          + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    try:
        stack = _stack(cands, Y, fold)
    except NUMERICAL_ERRORS as exc:
        stack, skipped["stack"] = None, f"its weights could not be fitted: {exc}"
    n = len(X)
    cands = _order(cands + ([stack] if stack else []), n)
    by_name = {c.name: c for c in cands}
    truth = aim.values(Y)
    unit = standardise(truth)[1]
    # Squared errors in units of the objective's spread over the runs: scale-free, and no overflow.
    errors = {c.name: ((aim.values(c.predictions) - truth) / unit) ** 2 for c in cands}
    order = [c.name for c in cands]
    chosen = by_name[_decide(errors, order, np.ones(n, dtype=bool))]
    picked = np.empty_like(Y, dtype=float)
    picks: dict[str, int] = {}
    for i in range(int(fold.max()) + 1):
        held = fold == i
        name = _decide(errors, order, ~held)
        picked[held] = by_name[name].predictions[held]
        picks[name] = picks.get(name, 0) + 1
    best = min(order, key=lambda c: errors[c].mean())
    found = {**sizes_figures(sizes.simplest("auto", X.shape[1]) if chosen.name == "stack" else chosen.name,
                             n, X.shape[1], int(fold.max()) + 1),
             **figures(picked, Y, targets, aim), "chosen_by": "auto", "choice_rule": RULE, "estimate": ESTIMATE,
             "picks": picks, "skipped": skipped,
             "candidates": {c.name: _candidate_figures(c, Y, targets, aim, errors, best, n) for c in cands}}
    return Choice(chosen.law, OutOfFold(chosen.predictions, fold), found)
