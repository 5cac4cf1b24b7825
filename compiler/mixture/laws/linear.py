"""The linear law: L = c + t . w per target (least squares; the minimum-norm solution,
since the weights sum to one and c is not identifiable apart from t)."""

from __future__ import annotations

import numpy as np

from mixc.compiler.mixture.laws.base import Law


class LinearLaw(Law):
    name = "linear"
    convex = True

    @classmethod
    def fit(cls, X, Y, sources, targets, seed=0):
        A = np.c_[np.ones(len(X)), X]
        coef = np.linalg.lstsq(A, Y, rcond=None)[0]  # (1 + d, m)
        return cls(tuple(sources), tuple(targets), {"c": coef[0].tolist(), "t": coef[1:].T.tolist()})

    def predict(self, W):
        return np.atleast_2d(W) @ np.array(self.params["t"]).T + np.array(self.params["c"])

    def grad(self, w):
        return np.array(self.params["t"])

    def cvx(self, w, target):
        return self.params["c"][target] + np.array(self.params["t"][target]) @ w
