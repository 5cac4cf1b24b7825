"""Gaussian-process regression of loss on the mixture (Rasmussen & Williams, *Gaussian
Processes for Machine Learning*, MIT Press 2006), a surrogate that also says how sure it is.

Per target, on u = sqrt(w) standardised per source (z = (u - mean) / std over the runs):

    y(w) = mu + f(w) + noise,   f ~ GP(0, k),   noise ~ N(0, s_n^2)
    k(z, z') = s_f^2 * m52(r),   r^2 = sum_j (z_j - z'_j)^2 / l_j^2
    m52(r) = (1 + sqrt5 r + 5 r^2 / 3) exp(-sqrt5 r)          (R&W eq. 4.17, Matern nu = 5/2)

Why sqrt(w): a loss falls as a power of the data that serves it, steeply near a weight of
zero and slowly near one, which no stationary kernel on w itself can follow; sqrt maps the
simplex onto the unit sphere, where Euclidean distance is sqrt 2 times the Hellinger
distance between mixtures, and stretches the region near zero where the loss moves most.
It needs no offset at w = 0 (unlike log w). On the RegMix training runs (5-fold, Pile-CC) it lifts the
out-of-fold Spearman from 98.2 to 99.1 at 512 runs and from 86 to 98 at 64.

The mean mu is constant, the runs' mean loss. A linear mean (a trend s_l^2 z . z' added to
the kernel, R&W sec. 2.7) was tried: once the inputs are sqrt(w) the marginal likelihood
drives s_l^2 to its floor on the RegMix runs and on synthetic power-law data, and the
5-fold Spearman on RegMix subsets of 48 to 128 runs is the same on average (96.7 against
96.6), so it bought a hyperparameter and twice the fitting time. One lengthscale per
source (ARD), so sources that do not matter switch off.

Hyperparameters (log l_j, log s_f^2, log s_n^2) maximise the log marginal
likelihood (R&W eq. 5.8) with its analytic gradient (eq. 5.9) by bounded L-BFGS-B, started
from a default and from the best of a few random draws; losses are standardised first, so
the bounds mean the same on every target. For speed the hyperparameters are fitted on a
seeded subset of at most HYPER_RUNS runs (subset of data, R&W sec. 8.3.1); the posterior
uses every run. The Cholesky factor is retried with growing jitter, so a near-singular
kernel (repeated mixtures, a constant loss) never fails. `predict_std` is the posterior
standard deviation of the latent f (noise excluded), in loss units: what Bayesian
optimisation needs; `posterior_cov` the covariance between mixtures, for batches. Not
convex in w: the solve samples. The params hold the standardised training inputs, so a
saved law is O(runs x sources) numbers.

In the field: ADMIRE-BayesOpt (Chen et al. 2025, arXiv:2508.11551) chooses mixtures by
Bayesian optimisation, which needs a surrogate's uncertainty besides its mean; Olmix
(Chen et al. 2026, arXiv:2602.12237) compares surrogate regressors for mixtures. numpy and
scipy only (no scikit-learn); this module fits and predicts and reads no files.
"""

from __future__ import annotations

import numpy as np

from mixc.compiler.mixture.laws.base import Law, standardise

SQRT5 = np.sqrt(5.0)
RESTARTS = 2  # L-BFGS-B runs: the default start and the best random draw
DRAWS = 12  # random starts scored by the likelihood alone (cheap: one Cholesky each)
MAX_ITER = 80
# Hyperparameters from at most this many runs: at 512 x 17 under 0.5 s a fit, and RegMix test
# Spearman 99.3-99.5 over five seeds, as with all 512 runs (99.4, 7 s); 128 sometimes overfits.
HYPER_RUNS = 192
CHUNK = 4096  # test mixtures per kernel block in predict: 4096 x runs floats at a time
JITTER = (0.0, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2)  # added to the diagonal, times its mean, until Cholesky holds
# Bounds on log hyperparameters, for standardised inputs and losses. A lengthscale from 0.3
# to 100 standard deviations of a source: much shorter and most runs are uncorrelated, so
# the "signal" is white noise that the fit interpolates (pure-noise targets go there);
# much longer and the source is switched off. The noise from 1e-6 (nearly exact) to all of
# the variance.
LOG_LENGTH = (np.log(0.3), np.log(100.0))
LOG_SIGNAL = (np.log(1e-4), np.log(1e2))
LOG_NOISE = (np.log(1e-6), np.log(1.0))


def _warp(W) -> np.ndarray:
    """sqrt of the weights (clipped at 0 against round-off)."""
    return np.sqrt(np.clip(np.atleast_2d(np.asarray(W, dtype=float)), 0.0, None))


def _sq_dist(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between rows, clipped at 0 against round-off."""
    d = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    return np.maximum(d, 0.0)


def _kernel(A: np.ndarray, B: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """k(A, B) and sqrt5 r, for log hyperparameters theta = (log l, log s_f^2, log s_n^2)."""
    d = A.shape[1]
    ls, sf2 = np.exp(theta[:d]), np.exp(theta[d])
    s5r = _sq_dist(A / ls, B / ls)
    np.sqrt(s5r, out=s5r)
    s5r *= SQRT5
    K = s5r * s5r  # in place from here: predict builds blocks of CHUNK x runs
    K *= 1.0 / 3.0
    K += s5r
    K += 1.0
    K *= np.exp(-s5r)
    K *= sf2
    return K, s5r


def _cholesky(K: np.ndarray) -> tuple[np.ndarray, float]:
    """Lower Cholesky factor of K + jitter I, with the smallest jitter in JITTER that works."""
    scale = float(np.mean(np.diag(K)))
    for j in JITTER:
        try:
            return np.linalg.cholesky(K + (j * scale) * np.eye(len(K))), j * scale
        except np.linalg.LinAlgError:
            continue
    raise ValueError("the GP kernel matrix is not positive definite even with jitter (non-finite inputs?)")


def _nll(theta: np.ndarray, Z: np.ndarray, y: np.ndarray, with_grad: bool = True):
    """Negative log marginal likelihood (R&W eq. 5.8) and its gradient in theta (eq. 5.9)."""
    from scipy.linalg import cho_solve
    from scipy.linalg.lapack import dpotri

    n, d = Z.shape
    K, s5r = _kernel(Z, Z, theta)
    noise = np.exp(theta[-1])
    L, _ = _cholesky(K + noise * np.eye(n))
    alpha = cho_solve((L, True), y)
    nll = 0.5 * y @ alpha + np.log(np.diag(L)).sum() + 0.5 * n * np.log(2 * np.pi)
    if not with_grad:
        return nll
    Kinv = dpotri(L, lower=1)[0]  # the lower triangle of K^-1, from the factor
    Kinv = np.tril(Kinv) + np.tril(Kinv, -1).T
    W = np.outer(alpha, alpha) - Kinv  # dnll/dK = -W / 2
    ls, sf2 = np.exp(theta[:d]), np.exp(theta[d])
    e = np.exp(-s5r)
    # dK_ab/dlog l_j = B_ab (z_aj - z_bj)^2 / l_j^2 with B = s_f^2 (5/3)(1 + sqrt5 r) e^(-sqrt5 r);
    # sum_ab A_ab (u_a - u_b)^2 = 2 u^2 . A1 - 2 u . A u for symmetric A = W * B.
    A = W * (sf2 * (5.0 / 3.0) * (1.0 + s5r) * e)
    U = Z / ls
    g_ls = 2.0 * (U * U).T @ A.sum(1) - 2.0 * np.einsum("ij,ij->j", U, A @ U)
    grad = -0.5 * np.r_[g_ls, (W * K).sum(), noise * np.trace(W)]
    return nll, grad


def _bounds(d: int) -> np.ndarray:
    return np.array([LOG_LENGTH] * d + [LOG_SIGNAL, LOG_NOISE])


def _starts(d: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A default start (lengthscales of the data's spread, mostly signal, some noise) and random draws."""
    default = np.r_[np.full(d, np.log(np.sqrt(d))), np.log(1.0), np.log(0.05)]
    lo, hi = _bounds(d).T
    mid_lo, mid_hi = lo + 0.25 * (hi - lo), hi - 0.25 * (hi - lo)  # stay off the bounds
    return [default] + [rng.uniform(mid_lo, mid_hi) for _ in range(DRAWS)]


def _fit_one(Z: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Log hyperparameters maximising the marginal likelihood of standardised losses y."""
    from scipy.optimize import minimize

    n, d = Z.shape
    if n > HYPER_RUNS:
        keep = rng.choice(n, HYPER_RUNS, replace=False)
        Z, y = Z[keep], y[keep]
    starts = _starts(d, rng)
    draws = sorted(starts[1:], key=lambda t: _nll(t, Z, y, with_grad=False))
    best = None
    for t0 in [starts[0]] + draws[:RESTARTS - 1]:
        r = minimize(_nll, t0, args=(Z, y), jac=True, method="L-BFGS-B", bounds=_bounds(d),
                     options={"maxiter": MAX_ITER})
        if best is None or r.fun < best.fun:
            best = r
    return best.x


class GaussianProcessLaw(Law):
    name = "gp"
    convex = False

    @classmethod
    def fit(cls, X, Y, sources, targets, seed=0):
        from scipy.linalg import cho_solve
        from scipy.linalg.lapack import dpotri

        U, Y = _warp(X), np.asarray(Y, dtype=float)
        shift, scale = U.mean(0), U.std(0)
        scale = np.where(scale > 1e-12, scale, 1.0)  # a constant source carries no information
        Z = (U - shift) / scale
        rng = np.random.default_rng(seed)
        out = {k: [] for k in ("theta", "alpha", "y_mean", "y_scale", "jitter", "dof")}
        for j in range(Y.shape[1]):
            mu, sd = standardise(Y[:, j])
            y = (Y[:, j] - mu) / sd
            theta = _fit_one(Z, y, rng)
            K, _ = _kernel(Z, Z, theta)
            L, jitter = _cholesky(K + np.exp(theta[-1]) * np.eye(len(Z)))
            # Effective degrees of freedom (R&W sec. 2.6), the trace of the map from losses to
            # fitted losses, the mean included: with H = K (K + s^2 I)^-1 = I - s^2 (K + s^2 I)^-1,
            # tr [11'/n + H (I - 11'/n)] = n - s^2 (tr (K + s^2 I)^-1 - 1'(K + s^2 I)^-1 1 / n).
            s2, ones = np.exp(theta[-1]) + jitter, np.ones(len(Z))
            trace = np.diag(dpotri(L, lower=1)[0]).sum()
            out["dof"].append(float(len(Z) - s2 * (trace - ones @ cho_solve((L, True), ones) / len(Z))))
            out["theta"].append(theta.tolist())
            out["alpha"].append(cho_solve((L, True), y).tolist())
            out["y_mean"].append(mu)
            out["y_scale"].append(sd)
            out["jitter"].append(jitter)
        params = {"X": Z.tolist(), "shift": shift.tolist(), "scale": scale.tolist(), **out}
        return cls(tuple(sources), tuple(targets), params)

    def effective_parameters(self, n_runs: int) -> float:
        """Mean over targets of the smoother's effective degrees of freedom (the mean included)."""
        return float(np.mean(self.params["dof"]))

    def _inputs(self, W) -> np.ndarray:
        p = self.params
        return (_warp(W) - np.array(p["shift"])) / np.array(p["scale"])

    def predict(self, W):
        p = self.params
        Z, Zs = np.array(p["X"]), self._inputs(W)
        out = np.empty((len(Zs), len(self.targets)))
        for j in range(len(self.targets)):
            theta, alpha = np.array(p["theta"][j]), np.array(p["alpha"][j])
            for i in range(0, len(Zs), CHUNK):
                out[i:i + CHUNK, j] = _kernel(Zs[i:i + CHUNK], Z, theta)[0] @ alpha
            out[:, j] = p["y_mean"][j] + p["y_scale"][j] * out[:, j]
        return out

    def _factor(self, j: int) -> np.ndarray:
        """Lower Cholesky factor of target j's kernel matrix on the runs, noise and jitter included."""
        p, theta = self.params, np.array(self.params["theta"][j])
        Z = np.array(p["X"])
        K, _ = _kernel(Z, Z, theta)
        return np.linalg.cholesky(K + (np.exp(theta[-1]) + p["jitter"][j]) * np.eye(len(Z)))

    def predict_std(self, W: np.ndarray) -> np.ndarray:
        """(n, targets) posterior standard deviation of the latent loss f(w), noise excluded, in loss units."""
        from scipy.linalg import solve_triangular

        p = self.params
        Z, Zs = np.array(p["X"]), self._inputs(W)
        d = Z.shape[1]
        out = np.empty((len(Zs), len(self.targets)))
        for j in range(len(self.targets)):
            theta = np.array(p["theta"][j])
            L = self._factor(j)
            for i in range(0, len(Zs), CHUNK):
                z = Zs[i:i + CHUNK]
                v = solve_triangular(L, _kernel(z, Z, theta)[0].T, lower=True)
                out[i:i + CHUNK, j] = np.sqrt(np.maximum(np.exp(theta[d]) - (v * v).sum(0), 0.0))
            out[:, j] *= p["y_scale"][j]
        return out

    def posterior_cov(self, A: np.ndarray, B: np.ndarray, target: int = 0) -> np.ndarray:
        """(len(A), len(B)) posterior covariance of the latent loss between mixtures, noise excluded,
        in loss units squared: what batch and multi-fidelity acquisitions condition on."""
        from scipy.linalg import solve_triangular

        p = self.params
        Z, Za, Zb = np.array(p["X"]), self._inputs(A), self._inputs(B)
        theta, L = np.array(p["theta"][target]), self._factor(target)
        va = solve_triangular(L, _kernel(Za, Z, theta)[0].T, lower=True)
        vb = solve_triangular(L, _kernel(Zb, Z, theta)[0].T, lower=True)
        return (_kernel(Za, Zb, theta)[0] - va.T @ vb) * p["y_scale"][target] ** 2

    def grad(self, w):
        """(targets, sources) gradient of the predicted loss; infinite where a weight is 0 (d sqrt(w)/dw)."""
        p = self.params
        Z, z = np.array(p["X"]), self._inputs(w)[0]
        d = Z.shape[1]
        u = _warp(w)[0]
        du = np.where(u > 0, 0.5 / np.where(u > 0, u, 1.0), np.inf) / np.array(p["scale"])  # dz/dw
        rows = []
        for j in range(len(self.targets)):
            theta, alpha = np.array(p["theta"][j]), np.array(p["alpha"][j])
            ls, sf2 = np.exp(theta[:d]), np.exp(theta[d])
            diff = z - Z
            s5r = SQRT5 * np.sqrt(((diff / ls) ** 2).sum(1))
            # dm52/dz = -(5/3)(1 + sqrt5 r) e^(-sqrt5 r) (z - z') / l^2: smooth at r = 0
            dk = -(sf2 * (5.0 / 3.0) * (1.0 + s5r) * np.exp(-s5r))[:, None] * diff / ls ** 2
            g = p["y_scale"][j] * (alpha @ dk)
            with np.errstate(invalid="ignore"):
                rows.append(np.where(g == 0, 0.0, g * du))
        return np.array(rows)
