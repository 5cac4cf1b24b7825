"""Proxy designs: which mixtures the small proxy runs train on.

Two methods, both seeded (the same arguments give the same mixtures) and both always
inside the polytope:
- "dirichlet" (RegMix, Liu et al. 2024, sec. 3): Dirichlet draws around a prior (the
  natural token shares or uniform) over a range of concentrations, tiny weights zeroed,
  duplicates removed, draws outside the polytope rejected; if rejection cannot fill the
  design in a bounded number of tries, uniform samples of the polytope (`polytope.sample`) fill the rest.
- "spacefilling": greedy farthest-point (maximin) selection from uniform samples of the polytope.
Named mixtures (baselines) are added first when they lie inside the polytope.
`nearest` moves a baseline (the token shares, uniform) into the polytope: the allowed mixture
closest to it in KL divergence, or the baseline itself when it is allowed.
This module decides mixtures only; it trains and fits nothing.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from mixc.compiler.mixture.polytope import Polytope, sample

METHODS = ("dirichlet", "spacefilling")
# KL is flat at its minimum: a gap of eps leaves the weights ~sqrt(eps) off, so the defaults
# (1e-8) would leave them 1e-4 off. These give ~1e-6.
NEAREST_TOLERANCES = {"tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_feas": 1e-11}


@dataclass(frozen=True)
class DesignConfig:
    method: str = "dirichlet"
    runs: int = 8
    seed: int = 0
    concentrations: tuple[float, float] = (0.1, 5.0)  # log-uniform range of the Dirichlet scale
    min_weight: float = 1e-3  # weights below this are zeroed (then renormalised)
    decimals: int = 4  # rounding used to recognise duplicates
    max_tries: int = 200  # rejection draws allowed per wanted mixture before the fallback


@dataclass(frozen=True)
class Nearest:
    """The allowed mixture closest to `wanted`, and how far it had to move."""

    weights: np.ndarray
    wanted: np.ndarray
    moved: bool  # False: `wanted` itself is allowed, and `weights` is it
    kl: float  # KL(weights || wanted) in nats; 0 when not moved
    binding: tuple[str, ...]  # labels of the constraints that hold with equality at `weights` (when moved)


@dataclass(frozen=True)
class Design:
    sources: tuple[str, ...]
    mixtures: np.ndarray  # (runs, sources)
    origin: tuple[str, ...]  # per row: "dirichlet", "hit-and-run", "spacefilling" or a baseline's name


def prior_weights(sources: tuple[str, ...], prior: str, tokens: Mapping[str, float] | None = None) -> np.ndarray:
    """"uniform", or "natural": each source's share of all tokens."""
    if prior == "uniform":
        return np.full(len(sources), 1.0 / len(sources))
    if prior == "natural":
        if tokens is None or any(s not in tokens for s in sources):
            raise ValueError("the natural prior needs a token count for every source")
        t = np.array([float(tokens[s]) for s in sources])
        if t.sum() <= 0:
            raise ValueError("the natural prior needs some tokens")
        return t / t.sum()
    raise ValueError(f"unknown prior {prior!r} (natural or uniform)")


class _Collector:
    """Keeps distinct mixtures (by rounded key) inside the polytope."""

    def __init__(self, poly: Polytope, decimals: int) -> None:
        self.poly, self.decimals = poly, decimals
        self.rows: list[np.ndarray] = []
        self.origin: list[str] = []
        self.keys: set[bytes] = set()

    def add(self, w: np.ndarray, origin: str) -> bool:
        key = np.round(w, self.decimals).tobytes()
        if key in self.keys or not self.poly.contains(w)[0]:
            return False
        self.keys.add(key)
        self.rows.append(w)
        self.origin.append(origin)
        return True


def _zero_small(W: np.ndarray, min_weight: float) -> np.ndarray:
    W = np.where(W < min_weight, 0.0, W)
    s = W.sum(axis=1, keepdims=True)
    return W / np.where(s > 0, s, 1.0)


def dirichlet_draws(poly: Polytope, n: int, prior: np.ndarray, rng: np.random.Generator,
                    concentrations: tuple[float, float] = (0.1, 5.0), min_weight: float = 1e-3) -> np.ndarray:
    """Up to n Dirichlet draws around `prior` (scale log-uniform in `concentrations`) that
    fall inside `poly`, tiny weights zeroed; draws outside are dropped, so fewer may return."""
    lo, hi = np.log(concentrations[0]), np.log(concentrations[1])
    base = np.maximum(np.asarray(prior, dtype=float), 1e-6)
    base = base / base.sum() * len(base)  # mean concentration 1 per source at scale 1
    scale = np.exp(rng.uniform(lo, hi, size=n))
    G = rng.gamma(base[None, :] * scale[:, None])
    W = _zero_small(G / np.maximum(G.sum(axis=1, keepdims=True), 1e-300), min_weight)
    W = W[W.sum(axis=1) > 0]
    return W[poly.contains(W)]


def design(poly: Polytope, config: DesignConfig, prior: np.ndarray,
           named: Mapping[str, np.ndarray] | None = None) -> Design:
    """`config.runs` distinct mixtures inside `poly`; `named` ones (baselines) first, if inside."""
    if config.method not in METHODS:
        raise ValueError(f"unknown design method {config.method!r} ({', '.join(METHODS)})")
    if config.runs < 1:
        raise ValueError("a design needs at least one run")
    rng = np.random.default_rng(config.seed)
    got = _Collector(poly, config.decimals)
    for name, w in (named or {}).items():
        if len(got.rows) < config.runs:
            got.add(np.asarray(w, dtype=float), name)
    want = config.runs - len(got.rows)
    if config.method == "dirichlet" and want > 0:
        tries = config.max_tries * want
        while len(got.rows) < config.runs and tries > 0:
            batch = min(tries, 4 * want)
            tries -= batch
            for w in dirichlet_draws(poly, batch, prior, rng, config.concentrations, config.min_weight):
                if len(got.rows) >= config.runs:
                    break
                got.add(w, "dirichlet")
    if len(got.rows) < config.runs:
        # Fallback (and the space-filling method): uniform samples of the polytope, farthest point first.
        pool = sample(poly, max(64, 20 * config.runs), seed=int(rng.integers(2**31)))
        origin = "spacefilling" if config.method == "spacefilling" else "hit-and-run"
        chosen = np.array(got.rows) if got.rows else None
        dist = (np.min(np.linalg.norm(pool[:, None, :] - chosen[None, :, :], axis=2), axis=1)
                if chosen is not None else np.full(len(pool), np.inf))
        while len(got.rows) < config.runs and np.any(dist > 0):
            i = int(np.argmax(dist)) if chosen is not None or len(got.rows) else int(rng.integers(len(pool)))
            if got.add(pool[i], origin):
                chosen = pool[i][None, :] if chosen is None else np.vstack([chosen, pool[i]])
            dist = np.minimum(dist, np.linalg.norm(pool - pool[i], axis=1))
            dist[i] = 0.0
    if len(got.rows) < config.runs:
        raise ValueError(f"the constraints leave room for only {len(got.rows)} distinct mixtures, "
                         f"fewer than the {config.runs} runs asked for")
    return Design(poly.sources, np.array(got.rows), tuple(got.origin))


def nearest(poly: Polytope, wanted: np.ndarray, tol: float = 1e-9) -> Nearest:
    """The I-projection of `wanted` onto the polytope: argmin KL(w || wanted) over allowed w.

    Csiszar (1975), "I-divergence geometry of probability distributions and minimization
    problems", Ann. Probab. 3(1): over a closed convex set the minimiser exists and is unique,
    and it is `wanted` itself whenever `wanted` is inside (within `tol`). A source with no
    weight in `wanted` gets none (any would make the divergence infinite); when the
    constraints demand some, no allowed mixture is at a finite divergence: ValueError.
    Solved with cvxpy (Clarabel, exponential cones).
    """
    import cvxpy as cp

    p = np.asarray(wanted, dtype=float)
    if p.shape != (poly.dim,) or np.any(p < 0) or p.sum() <= 0:
        raise ValueError(f"a mixture of {poly.dim} non-negative weights is needed, got {p.tolist()}")
    p = p / p.sum()
    if poly.contains(p, tol=tol)[0]:
        return Nearest(p, p, False, 0.0, ())
    free = p > 0
    w = cp.Variable(poly.dim, nonneg=True)
    prob = cp.Problem(cp.Minimize(cp.sum(cp.kl_div(w[free], p[free]))),  # = KL(w || p): both sum to one
                      poly.cvxpy_constraints(w) + ([w[~free] == 0] if not free.all() else []))
    try:
        with warnings.catch_warnings():  # an inaccurate answer is checked below like any other
            warnings.simplefilter("ignore")
            prob.solve(solver=cp.CLARABEL, **NEAREST_TOLERANCES)
    except cp.error.SolverError as exc:
        raise ValueError(f"the solver failed to move the mixture into the constraints: {exc}") from None
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or w.value is None:
        zero = [s for s, f in zip(poly.sources, free) if not f]
        raise ValueError("no allowed mixture leaves out " + ", ".join(zero) if zero else
                         "the constraints admit no mixture")
    x = np.where(free, np.clip(np.asarray(w.value, dtype=float), 0.0, None), 0.0)
    x = x / x.sum()
    nz = x > 0
    return Nearest(x, p, True, float(np.sum(x[nz] * np.log(x[nz] / p[nz]))), poly.binding(x, tol=1e-6))
