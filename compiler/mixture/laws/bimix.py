"""The BiMix law (Ge et al. 2024, "BiMix: A Bivariate Data Mixing Law for Language Model
Pretraining", arXiv:2405.14908), extended from a domain's own loss to any target.

BiMix models the validation loss of domain i with five coefficients per domain, separable
(multiplicatively) in that domain's proportion r_i and the training steps s:

    L_i(r_i, s) = A_i / r_i^alpha_i * (B_i / s^beta_i + C_i),

so at one training budget (a fixed s, as in a sweep of proxy runs) the loss of a domain
is a pure power of its own proportion: L_i = K_i r_i^(-alpha_i). A target here is any
held-out loss, not necessarily one of the sources, and may depend on several of them, so
this law is the natural extension, not the paper's law: a sum of such powers over every
source, plus a floor,

    L(w) = c' + sum_j A_j (w_j + eps)^(-alpha_j),   A_j >= 0,   ALPHA[0] <= alpha_j <= ALPHA[1],

written and saved as L(w) = c + sum_j k_j ((w_j + eps)^(-alpha_j) - 1) / alpha_j with
k_j = alpha_j A_j and c = c' + sum_j A_j: the same law, but as alpha_j -> 0 a term tends
to -k_j log(w_j + eps) instead of needing A_j and -c' to run off to infinity (on the
RegMix runs most exponents sit at that end). With the target equal to source i, k_j = 0
for j != i and a zero floor it is BiMix at a fixed budget.

eps = 1e-3 keeps w_j = 0 finite: designs (this project's and RegMix's) zero any weight
under 1e-3, so below that a weight cannot be told from absence, and eps^-alpha stays
under 1e3 for alpha <= 1. Each term is convex and decreasing in w_j, so L is convex in w:
the solve is one cvxpy problem (exponential cones). Fitted by bounded least squares with
an analytic Jacobian from a few starts, each with c and k solved exactly (bounded linear
least squares) for a common alpha. 2d + 1 parameters per target. This module reads no files.
"""

from __future__ import annotations

import numpy as np

from mixc.compiler.mixture.laws.base import Law, least_squares_restarts, standardise

EPS = 1e-3
ALPHA = (1e-3, 1.0)  # exponents: near 0 is the log law, above 1 eps^-alpha swamps the fit
START_ALPHAS = (0.01, 0.1, 0.5)  # one start per common exponent: nearly log, moderate, steep
MAX_EVALS = 200


def _terms(X: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """G = ((w + eps)^(-alpha) - 1) / alpha per source, and dG/dalpha."""
    logx = np.log(np.clip(X, 0.0, None) + EPS)
    e = np.expm1(-alpha * logx)  # x^-alpha - 1 without cancellation when alpha log x is small
    G = e / alpha
    return G, (-logx * (e + 1.0) - G) / alpha


def _start(X: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """(c, k, alpha) with the given common alpha and c, k >= 0 the bounded least-squares optimum."""
    from scipy.optimize import lsq_linear

    d = X.shape[1]
    a = np.full(d, alpha)
    G = _terms(X, a)[0]
    r = lsq_linear(np.c_[np.ones(len(y)), G], y, bounds=(np.r_[-np.inf, np.zeros(d)], np.inf))
    return np.r_[r.x, a]


def _fit_one(X: np.ndarray, y: np.ndarray) -> dict:
    """(c, k, alpha) for one target, fitted on the standardised target and mapped back:
    y = mean + scale (c + sum_j k_j G_j)."""
    n, d = X.shape
    mean, scale = standardise(y)
    z = (y - mean) / scale

    def res(p):
        return p[0] + _terms(X, p[1 + d:])[0] @ p[1:1 + d] - z

    def jac(p):
        G, dG = _terms(X, p[1 + d:])
        return np.c_[np.ones(n), G, dG * p[1:1 + d]]

    lower = np.r_[-np.inf, np.zeros(d), np.full(d, ALPHA[0])]
    upper = np.r_[np.inf, np.full(d, np.inf), np.full(d, ALPHA[1])]
    starts = (np.clip(_start(X, z, a), lower, upper) for a in START_ALPHAS)
    best = least_squares_restarts(res, jac, starts, bounds=(lower, upper), max_nfev=MAX_EVALS)
    c, k, alpha = best.x[0], best.x[1:1 + d], best.x[1 + d:]
    return {"c": mean + scale * float(c), "k": (scale * k).tolist(), "alpha": alpha.tolist()}


class BiMixLaw(Law):
    name = "bimix"
    convex = True

    @classmethod
    def fit(cls, X, Y, sources, targets, seed=0):
        X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float)
        fits = [_fit_one(X, Y[:, j]) for j in range(Y.shape[1])]
        return cls(tuple(sources), tuple(targets), {key: [f[key] for f in fits] for key in ("c", "k", "alpha")})

    def _target(self, j: int) -> tuple[float, np.ndarray, np.ndarray]:
        p = self.params
        return float(p["c"][j]), np.array(p["k"][j], dtype=float), np.array(p["alpha"][j], dtype=float)

    def predict(self, W):
        W = np.atleast_2d(np.asarray(W, dtype=float))
        cols = []
        for j in range(len(self.targets)):
            c, k, alpha = self._target(j)
            cols.append(c + _terms(W, alpha)[0] @ k)
        return np.stack(cols, axis=1)

    def grad(self, w):
        w = np.clip(np.asarray(w, dtype=float), 0.0, None)
        rows = []
        for j in range(len(self.targets)):
            _, k, alpha = self._target(j)
            rows.append(-k * (w + EPS) ** (-alpha - 1.0))
        return np.array(rows)

    def cvx(self, w, target):
        import cvxpy as cp

        c, k, alpha = self._target(target)
        # (x^-a - 1) / a as (exp(-a log x) - 1) / a: exponential cones stay well scaled when a is tiny.
        terms = [(k[i] / alpha[i]) * (cp.exp(-alpha[i] * cp.log(w[i] + EPS)) - 1.0)
                 for i in range(len(k)) if k[i] > 0]
        return c + cp.sum(terms) if terms else c + 0 * cp.sum(w)
