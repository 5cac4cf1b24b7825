"""The set of allowed mixtures: the simplex cut by linear constraints on the weights, as numpy.

Every constraint carries an opaque `label` chosen by the caller (the checker passes
"file:line"), and every answer that names constraints -- the conflicting subset of an
infeasible set, the constraints that bind at a solution -- names them by that label.

Constraints, their builders and the exact feasibility test live in `constraints.py` (pure
Python, what `mixc check` uses) and are re-exported here; this module adds what needs numpy:
rows as arrays, membership, the Chebyshev centre and hit-and-run sampling. It must not
import cvxpy at top level, and knows nothing about laws or objectives.
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


def sample(p: Polytope, n: int, seed: int = 0, chains: int = 256, burn_in: int = 64, thin: int = 4,
           start: np.ndarray | None = None) -> np.ndarray:
    """n mixtures spread over the polytope by hit-and-run from its Chebyshev centre.

    Every step moves each chain along a random feasible direction to a uniform point of
    the chord through it, so the sampler never rejects and always finishes after a fixed
    number of steps; a flat polytope simply keeps chains where chords are empty.
    """
    rng = np.random.default_rng(seed)
    G, h = p.inequalities()
    A, _ = p.equalities()
    N = _null_space(A)
    x0 = chebyshev_centre(p).point if start is None else np.asarray(start, dtype=float)
    chains = max(1, min(chains, n))
    X = np.repeat(x0[None, :], chains, axis=0)
    per_chain = -(-n // chains)
    out = []
    for step in range(burn_in + per_chain * thin):
        if N.shape[1] > 0:
            d = rng.standard_normal((chains, N.shape[1])) @ N.T
            d /= np.linalg.norm(d, axis=1, keepdims=True)
            gd = d @ G.T
            slack = np.maximum(h - X @ G.T, 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                t = slack / gd
            tmax = np.where(gd > 1e-12, t, np.inf).min(axis=1)
            tmin = np.where(gd < -1e-12, t, -np.inf).max(axis=1)
            ok = np.isfinite(tmax) & np.isfinite(tmin) & (tmax > tmin)
            u = rng.random(chains)
            step_len = np.where(ok, tmin + u * (tmax - tmin), 0.0)
            step_len = np.where(np.isfinite(step_len), step_len, 0.0)
            X = X + step_len[:, None] * d
        if step >= burn_in and (step - burn_in) % thin == thin - 1:
            out.append(X.copy())
    W = np.clip(np.concatenate(out)[:n], 0.0, None)
    return W / W.sum(axis=1, keepdims=True)
