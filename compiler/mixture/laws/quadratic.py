"""A quadratic surrogate with pairwise interactions, fitted by ridge regression:

    L(w) = c + t . w + sum_{i<=j} q_ij w_i w_j

MoDoMoDo (Liang et al. 2025, arXiv:2505.24871) fits this form, a + b.w + w'Cw, to predict
a multimodal model's score after RL post-training from the mixture, and optimises it over
the simplex. (DaMo, Shi et al. 2025, arXiv:2510.19336, fits an MLP instead, not a quadratic.)

On the simplex the form is not identifiable: sum w = 1 makes c = c * sum_i w_i a linear
term, and w_i^2 = w_i - sum_{j != i} w_i w_j a linear plus cross terms. What is fitted is
the identifiable part, Scheffe's canonical quadratic mixture model (Scheffe 1958,
"Experiments with mixtures", JRSS B 20):

    L(w) = sum_i b_i w_i + sum_{i<j} b_ij w_i w_j,     d (d + 1) / 2 parameters per target,

saved as L = t . w + w' Q w (Q symmetric, zero diagonal, Q_ij = b_ij / 2). The features are
scaled to unit root mean square and the losses standardised (the mean goes into t, since
sum w = 1), so the ridge penalty shrinks toward a constant loss and weighs every term
alike; its strength is chosen per target by exact leave-one-out error over a log grid,
in closed form from one SVD (Allen's PRESS: e_i / (1 - H_ii)). It fits with fewer runs
than parameters, but the cross-validation rule of `sizes.py` counts d (d + 1) / 2; auto's
simplicity rule sees the ridge fit's effective degrees of freedom instead.

Convex only when Q restricted to the simplex's tangent space (sum v = 0) is positive
semidefinite, which depends on the fit; `convex` is a class constant, so it is False and
the solve samples the polytope. This module reads no files.
"""

from __future__ import annotations

import numpy as np

from mixc.compiler.mixture.laws.base import Law, standardise

RIDGE_GRID = np.logspace(-8, 2, 41)  # ridge strength, times the largest squared singular value


def _features(W: np.ndarray) -> np.ndarray:
    """[w_i, w_i w_j for i < j]: the Scheffe quadratic terms."""
    i, j = np.triu_indices(W.shape[1], k=1)
    return np.c_[W, W[:, i] * W[:, j]]


def _ridge_loo(F: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Ridge coefficients for standardised y with the strength of least leave-one-out error,
    that strength, and the fit's effective degrees of freedom."""
    U, s, Vt = np.linalg.svd(F, full_matrices=False)
    uy = U.T @ y
    outside = y - U @ uy  # the part of y no coefficient can reach
    best = None
    for lam in RIDGE_GRID[::-1] * max(s[0] ** 2, 1e-300):  # strongest first: ties keep more shrinkage
        f = s * s / (s * s + lam)
        resid = outside + U @ ((1.0 - f) * uy)
        h = (U * U) @ f
        press = float(np.mean((resid / np.maximum(1.0 - h, 1e-12)) ** 2))
        if best is None or press < best[0]:
            best = (press, lam, f)
    _, lam, f = best
    # Degrees of freedom of the whole map from losses to fits, the mean included:
    # tr [11'/n + H (I - 11'/n)] = 1 + tr H - 1'H1 / n.
    u1 = U.sum(0)
    dof = 1.0 + f.sum() - (f * u1 * u1).sum() / len(y)
    return Vt.T @ ((f / np.where(s > 0, s, 1.0)) * uy), float(lam), float(dof)


class QuadraticLaw(Law):
    name = "quadratic"
    convex = False

    @classmethod
    def fit(cls, X, Y, sources, targets, seed=0):
        X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float)
        d = X.shape[1]
        F = _features(X)
        rms = np.sqrt(np.mean(F * F, axis=0))
        rms = np.where(rms > 1e-12, rms, 1.0)  # a term that is always 0 gets coefficient 0 anyway
        i, j = np.triu_indices(d, k=1)
        out = {"t": [], "Q": [], "ridge": [], "dof": []}
        for col in range(Y.shape[1]):
            mu, sd = standardise(Y[:, col])
            beta, lam, dof = _ridge_loo(F / rms, (Y[:, col] - mu) / sd)
            beta = sd * beta / rms
            Q = np.zeros((d, d))
            Q[i, j] = Q[j, i] = beta[d:] / 2.0
            out["t"].append((beta[:d] + mu).tolist())  # the mean as mu * sum w
            out["Q"].append(Q.tolist())
            out["ridge"].append(lam)
            out["dof"].append(dof)
        return cls(tuple(sources), tuple(targets), out)

    def effective_parameters(self, n_runs: int) -> float:
        """Mean over targets of the ridge fit's effective degrees of freedom (the mean included)."""
        return float(np.mean(self.params["dof"]))

    def predict(self, W):
        W = np.atleast_2d(np.asarray(W, dtype=float))
        t, Q = np.array(self.params["t"]), np.array(self.params["Q"])
        return np.stack([W @ t[k] + ((W @ Q[k]) * W).sum(1) for k in range(len(t))], axis=1)

    def grad(self, w):
        w = np.asarray(w, dtype=float)
        return np.array(self.params["t"]) + 2.0 * np.array(self.params["Q"]) @ w
