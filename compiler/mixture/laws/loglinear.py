"""The log-linear law of Data Mixing Laws (Ye et al. 2024, eq. 1): L = c + exp(b + t . w)
per target. Convex in w (an exponential cone in cvxpy). Fitted by Huber least squares
on the standardised target from several random starts, keeping the lowest cost, because the
fit is not convex."""

from __future__ import annotations

import numpy as np

from mixc.compiler.mixture.laws.base import Law, least_squares_restarts, standardise

RESTARTS = 5
HUBER_SCALE = 0.0625  # standard deviations of the target (0.02 loss units on RegMix); beyond it, linear


class LogLinearLaw(Law):
    name = "loglinear"
    convex = True

    @classmethod
    def fit(cls, X, Y, sources, targets, seed=0):
        d = X.shape[1]
        out = {"c": [], "b": [], "t": []}
        for j in range(Y.shape[1]):
            mean, scale = standardise(Y[:, j])
            y = (Y[:, j] - mean) / scale

            def res(p):
                return p[0] + np.exp(p[1] + X @ p[2:]) - y

            def jac(p):
                e = np.exp(p[1] + X @ p[2:])
                return np.c_[np.ones(len(y)), e, e[:, None] * X]

            rng = np.random.default_rng(seed)
            starts = (np.r_[y.min() - 1.5, 0.0, rng.normal(0.0, 1.0, d)] for _ in range(RESTARTS))
            best = least_squares_restarts(res, jac, starts, loss="huber", f_scale=HUBER_SCALE, max_nfev=2000)
            # y = mean + scale (c + exp(b + t.w)) in the target's own units
            out["c"].append(float(mean + scale * best.x[0]))
            out["b"].append(float(best.x[1] + np.log(scale)))
            out["t"].append(best.x[2:].tolist())
        return cls(tuple(sources), tuple(targets), out)

    def _exp(self, W):
        return np.exp(np.array(self.params["b"]) + np.atleast_2d(W) @ np.array(self.params["t"]).T)

    def predict(self, W):
        return np.array(self.params["c"]) + self._exp(W)

    def grad(self, w):
        return self._exp(w)[0][:, None] * np.array(self.params["t"])

    def cvx(self, w, target):
        import cvxpy as cp

        return self.params["c"][target] + cp.exp(self.params["b"][target] + np.array(self.params["t"][target]) @ w)
