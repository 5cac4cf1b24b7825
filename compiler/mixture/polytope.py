"""The set of allowed mixtures: the simplex cut by linear constraints on the weights, as numpy.

Every constraint carries an opaque `label` chosen by the caller (the checker passes
"file:line"), and every answer that names constraints -- the conflicting subset of an
infeasible set, the constraints that bind at a solution -- names them by that label.

Constraints, their builders and the exact feasibility test live in `constraints.py` (pure
Python, what `mixc check` uses) and are re-exported here; this module adds what needs numpy:
rows as arrays, membership, the Chebyshev centre and uniform sampling (exact Dirichlet(1)
draws where enough fall inside, else hit-and-run). It must not import cvxpy at top level,
and knows nothing about laws or objectives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mixc.compiler.mixture.constraints import (Constraint, Feasibility, bound, epoch_cap, from_quantities, group_sum,
                                               ratio, validate)
from mixc.compiler.mixture.constraints import check as check_constraints

__all__ = ["Centre", "Constraint", "Feasibility", "Polytope", "bound", "check", "chebyshev_centre", "epoch_cap",
           "from_quantities", "group_sum", "ratio", "sample"]


@dataclass(frozen=True)
class Polytope:
    sources: tuple[str, ...]
    constraints: tuple[Constraint, ...] = ()

    def __post_init__(self) -> None:
        validate(self.sources, self.constraints)

    @property
    def dim(self) -> int:
        return len(self.sources)

    def row(self, c: Constraint) -> np.ndarray:
        a = np.zeros(self.dim)
        for s, coef in c.coefs:
            a[self.sources.index(s)] += coef
        return a

    def inequalities(self) -> tuple[np.ndarray, np.ndarray]:
        """G w <= h: the "<=" and ">=" rows plus w >= 0."""
        rows, rhs = [-np.eye(self.dim)], [np.zeros(self.dim)]
        for c in self.constraints:
            if c.op == "==":
                continue
            sign = 1.0 if c.op == "<=" else -1.0
            rows.append(sign * self.row(c)[None, :])
            rhs.append(np.array([sign * c.rhs]))
        return np.vstack(rows), np.concatenate(rhs)

    def equalities(self) -> tuple[np.ndarray, np.ndarray]:
        """A w = b: the simplex row plus the "==" rows."""
        rows = [np.ones((1, self.dim))] + [self.row(c)[None, :] for c in self.constraints if c.op == "=="]
        rhs = [1.0] + [c.rhs for c in self.constraints if c.op == "=="]
        return np.vstack(rows), np.array(rhs)

    def slack(self, w: np.ndarray) -> dict[str, float]:
        """Each constraint's slack at w (>= 0 when satisfied; 0 when it binds); a label's worst row."""
        out: dict[str, float] = {}
        for c in self.constraints:
            v = float(self.row(c) @ w)
            s = {"<=": c.rhs - v, ">=": v - c.rhs, "==": -abs(v - c.rhs)}[c.op]
            out[c.label] = min(s, out.get(c.label, np.inf))
        return out

    def binding(self, w: np.ndarray, tol: float = 1e-6) -> tuple[str, ...]:
        return tuple(label for label, s in self.slack(w).items() if abs(s) <= tol)

    def contains(self, W: np.ndarray, tol: float = 1e-6) -> np.ndarray:
        """Row-wise membership for mixtures W (n, dim)."""
        W = np.atleast_2d(W)
        G, h = self.inequalities()
        A, b = self.equalities()
        return np.all(W @ G.T <= h + tol, axis=1) & np.all(np.abs(W @ A.T - b) <= tol, axis=1)

    def cvxpy_constraints(self, w) -> list:
        """The polytope as cvxpy constraints on the variable w (simplex included)."""
        import cvxpy as cp

        out = [w >= 0, cp.sum(w) == 1]
        for c in self.constraints:
            e = self.row(c) @ w
            out.append(e <= c.rhs if c.op == "<=" else e >= c.rhs if c.op == ">=" else e == c.rhs)
        return out

    def with_constraints(self, constraints: Sequence[Constraint]) -> "Polytope":
        return Polytope(self.sources, tuple(constraints))


def check(p: Polytope) -> Feasibility:
    """Exact feasibility and, when infeasible, an irreducible conflicting subset (`constraints.check`)."""
    return check_constraints(p.sources, p.constraints)


@dataclass(frozen=True)
class Centre:
    point: np.ndarray
    radius: float  # 0 when the polytope has no interior within its equalities


def _null_space(A: np.ndarray) -> np.ndarray:
    _, s, vt = np.linalg.svd(A)
    rank = int((s > 1e-10 * max(1.0, s[0])).sum())
    return vt[rank:].T  # (dim, dim - rank), orthonormal columns


def chebyshev_centre(p: Polytope) -> Centre:
    """The centre of the largest ball inside the polytope, within the affine hull of its equalities."""
    import cvxpy as cp

    G, h = p.inequalities()
    A, b = p.equalities()
    N = _null_space(A)
    norms = np.linalg.norm(G @ N, axis=1)  # row norms measured along the feasible directions
    w, r = cp.Variable(p.dim), cp.Variable()
    prob = cp.Problem(cp.Maximize(r), [G @ w + r * norms <= h, A @ w == b, r >= 0])
    prob.solve(solver=cp.CLARABEL)
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise ValueError("the constraints admit no mixture")
    point = np.clip(np.asarray(w.value, dtype=float), 0.0, None)
    return Centre(point / point.sum(), float(max(r.value, 0.0)))


# Dirichlet(1) draws are kept while at least this share of them fall inside: above it, exact
# points cost under 20 draws each (at worst a second or two for 100k points at 30 sources); below it,
# hit-and-run is cheaper per point, though its points are correlated along each chain.
MIN_ACCEPTANCE = 0.05
BATCH = 1 << 14  # Dirichlet draws tried at once


def sample(p: Polytope, n: int, seed: int = 0, chains: int = 256, burn_in: int | None = None,
           thin: int | None = None, start: np.ndarray | None = None, exact: bool = True) -> np.ndarray:
    """n mixtures uniform over the polytope: exact where that is cheap, else hit-and-run.

    Dirichlet(1) is the uniform distribution on the simplex, so the Dirichlet(1) draws that
    satisfy the constraints are exact, independent uniform draws of the polytope (every draw,
    on the bare simplex). They are used while at least MIN_ACCEPTANCE of them fall inside;
    the rest (all of it when the polytope is flat, `start` is given or exact=False) comes from
    hit-and-run chains begun at the exact draws when there are some, else at the Chebyshev
    centre (or `start`). Hit-and-run never rejects and takes a fixed number of steps, so
    sampling always finishes, also on flat polytopes. Rows: the exact draws first, then the
    chains' points, row i of them from chain i % chains.
    """
    rng = np.random.default_rng(seed)
    G, h = p.inequalities()
    A, b = p.equalities()
    W = np.empty((0, p.dim))
    # Rejection needs volume: only when every equality holds on the whole simplex (at its vertices).
    if exact and start is None and np.allclose(A, b[:, None], rtol=0.0, atol=1e-12):
        W = _dirichlet_inside(G, h, n, rng)
    if len(W) == n:
        return W
    if start is not None:
        starts = np.asarray(start, dtype=float)[None, :]
    else:
        starts = W if len(W) else chebyshev_centre(p).point[None, :]
    rest = _hit_and_run(G, h, _null_space(A), starts, n - len(W), rng, chains, burn_in, thin)
    return np.vstack([W, rest])


def _dirichlet_inside(G: np.ndarray, h: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to n exact, independent uniform draws of {w in the simplex : G w <= h}, by rejection.

    The lower bounds lo that single-weight rows set span the simplex {w >= lo, sum w = 1}, the
    image of the unit simplex under the affine map w = lo + (1 - sum lo) v; so w is uniform there
    when v is Dirichlet(1), and the w that satisfy the other rows are uniform on the polytope.
    Stopping once under MIN_ACCEPTANCE of the draws are inside only counts draws, so it biases
    nothing, and it bounds the work at about n / MIN_ACCEPTANCE + BATCH draws.
    """
    lo = _lower_bounds(G, h)
    scale = 1.0 - lo.sum()
    if scale <= 1e-9:  # the bounds leave a point or nothing: no volume to draw from
        return np.empty((0, G.shape[1]))
    h = (h - G @ lo) / scale  # the rows in terms of v
    cuts = G.max(axis=1) > h + 1e-12  # a row that every vertex satisfies cuts nothing
    G, h = G[cuts], h[cuts]
    kept, accepted, drawn = [], 0, 0
    while accepted < n:
        E = rng.standard_exponential((BATCH if len(G) else n - accepted, G.shape[1]))
        S = E.sum(axis=1, keepdims=True)
        E = E[np.all(E @ G.T <= S * h, axis=1)]  # G (E / S) <= h, without dividing the rejected
        kept.append(E / E.sum(axis=1, keepdims=True))
        accepted, drawn = accepted + len(E), drawn + len(S)
        if accepted < MIN_ACCEPTANCE * drawn:
            break
    return lo + scale * np.concatenate(kept)[:n]


def _lower_bounds(G: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The bounds w_i >= lo_i that the rows of G w <= h with a single, negative coefficient set."""
    i = np.argmin(G, axis=1)
    coef = G[np.arange(len(G)), i]
    single = (np.count_nonzero(G, axis=1) == 1) & (coef < 0)
    lo = np.zeros(G.shape[1])
    np.maximum.at(lo, i[single], h[single] / coef[single])
    return lo


def _hit_and_run(G: np.ndarray, h: np.ndarray, N: np.ndarray, starts: np.ndarray, n: int,
                 rng: np.random.Generator, chains: int, burn_in: int | None, thin: int | None) -> np.ndarray:
    """n points of `chains` hit-and-run chains begun at `starts` (cycled), in the affine hull x0 + N y.

    Each step moves a chain along a uniformly random direction to a uniform point of the chord
    there, a move that keeps the uniform distribution. Hit-and-run mixes in O*(k^2 R^2 / r^2)
    steps from a warm start and O*(k^3 R^2 / r^2) from a point inside, k the dimension and R / r
    the ratio of outer to inner radius (Lovász 1999, "Hit-and-run mixes fast", Math. Program. 86;
    Lovász & Vempala 2006, "Hit-and-run from a corner", SIAM J. Comput. 35(4)). Their constants
    are far too large to use, so burn-in is 4 k^2, as measured on the 30-source simplex from its
    centre: the mean largest weight is 1% low after 2 k^2 steps, 0.3% after 3 k^2, and within one
    standard error (0.2%) of exact after 4 k^2. Thinning by k / 4 is what 100k points can afford:
    a weight's autocorrelation time there is of order k^2 steps, so a chain's points stay correlated.
    """
    k = N.shape[1]
    burn_in = 4 * k * k if burn_in is None else burn_in
    thin = max(1, -(-k // 4)) if thin is None else thin
    chains = max(1, min(chains, n))
    X0 = starts[np.arange(chains) % len(starts)]
    GN = G @ N  # a row constant on the affine hull (GN = 0) bounds no chord: left out
    moving = np.linalg.norm(GN, axis=1) > 1e-10 * np.linalg.norm(G, axis=1)
    GN, slack = GN[moving], np.maximum(h[moving] - X0 @ G[moving].T, 0.0)
    Y = np.zeros((chains, k))  # each chain is at X0 + Y N^T; directions are drawn in y
    out = []
    for step in range(burn_in + -(-n // chains) * thin):
        if k > 0:
            Z = rng.standard_normal((chains, k))  # the chord, not the direction's length, sets the step
            gz = Z @ GN.T
            with np.errstate(divide="ignore", invalid="ignore"):
                r = gz / slack  # slack >= 0, so the chord ends at 1 / max r and 1 / min r
            hi, lo = 1.0 / r.max(axis=1), 1.0 / r.min(axis=1)
            s = lo + rng.random(chains) * (hi - lo)
            s = np.where(np.isfinite(s), s, 0.0)  # nan: a row with no slack and no motion; stay put
            Y += s[:, None] * Z
            slack = np.maximum(slack - s[:, None] * gz, 0.0)
        if step >= burn_in and (step - burn_in) % thin == thin - 1:
            out.append(X0 + Y @ N.T)
    W = np.clip(np.concatenate(out)[:n], 0.0, None)
    return W / W.sum(axis=1, keepdims=True)
