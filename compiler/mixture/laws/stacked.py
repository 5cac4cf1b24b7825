"""A stack of fitted laws: per target, a convex combination of their predictions.

Stacked regression (Breiman 1996, "Stacked regressions", Machine Learning 24): the
combination weights are non-negative least squares of the measured losses on the laws'
out-of-fold predictions, scaled to sum to one. `auto` builds a stack and keeps it only when
it predicts held-out runs clearly better than every simpler candidate. A stack of convex
laws is convex (a non-negative sum of convex functions), so it is solved exactly; any
non-convex part makes the solve sample. JSON params: {"weights": [[w per law] per target],
"laws": [each law's JSON]}. This module fits no law itself.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from mixc.compiler.mixture.laws.base import Law
from mixc.compiler.mixture.laws.registry import law_from_json


def stack_weights(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(laws,) non-negative weights summing to one that best combine predictions P (n, laws) into y;
    all zero when no non-negative combination helps."""
    from scipy.optimize import nnls

    w = nnls(P, y)[0]
    return w / w.sum() if w.sum() > 0 else w


class StackedLaw(Law):
    name = "stack"

    @classmethod
    def of(cls, laws: list[Law], weights: np.ndarray) -> "StackedLaw":
        """The stack of fitted `laws` (same sources and targets) with `weights` (targets, laws)."""
        parts = [{**law.to_json(), "cv": {}, "support": []} for law in laws]
        return cls(laws[0].sources, laws[0].targets, {"weights": np.asarray(weights).tolist(), "laws": parts})

    @cached_property
    def parts(self) -> tuple[Law, ...]:
        return tuple(law_from_json(p) for p in self.params["laws"])

    @property
    def convex(self) -> bool:  # type: ignore[override]
        return all(p.convex for p in self.parts)

    def effective_parameters(self, n_runs: int) -> float:
        used = np.asarray(self.params["weights"]).max(axis=0) > 0
        return float(sum(p.effective_parameters(n_runs) for p, u in zip(self.parts, used) if u))

    def predict(self, W):
        W = np.atleast_2d(np.asarray(W, dtype=float))
        weights = np.asarray(self.params["weights"])  # (targets, laws)
        preds = np.stack([part.predict(W) for part in self.parts], axis=2)  # (n, targets, laws)
        return np.einsum("ntl,tl->nt", preds, weights)

    def grad(self, w):
        weights = np.asarray(self.params["weights"])
        return np.einsum("tls,tl->ts", np.stack([part.grad(w) for part in self.parts], axis=1), weights)

    def cvx(self, w, target):
        import cvxpy as cp

        weights = self.params["weights"][target]
        return cp.sum([c * part.cvx(w, target) for c, part in zip(weights, self.parts) if c > 0])
