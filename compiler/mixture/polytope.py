"""The set of allowed mixtures: the simplex cut by linear constraints on the weights.

Every constraint carries an opaque `label` chosen by the caller (the checker passes
"file:line"), and every answer that names constraints -- the conflicting subset of an
infeasible set, the constraints that bind at a solution -- names them by that label.

Feasibility of plain bounds (every constraint on one source) is decided in closed form
with numpy alone, so `mixc check` does not import cvxpy for them; anything else is a
small cvxpy feasibility problem. This module must not import cvxpy at top level, and
knows nothing about laws or objectives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from mixc.compiler.mixture.intervals import is_plain, plain_feasible

OPS = ("<=", ">=", "==")
TOL = 1e-9  # slack allowed when deciding feasibility and membership


@dataclass(frozen=True)
class Constraint:
    """sum(coef * weight(source)) op rhs. `label` is the caller's identity for it."""

    label: str
    coefs: tuple[tuple[str, float], ...]
    op: str
    rhs: float

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"constraint {self.label}: operator {self.op!r} is not one of {', '.join(OPS)}")
        if not self.coefs or all(c == 0 for _, c in self.coefs):
            raise ValueError(f"constraint {self.label}: it has no non-zero term")


def bound(label: str, source: str, lo: float | None = None, hi: float | None = None) -> list[Constraint]:
    """lo <= weight(source) <= hi (either side may be absent)."""
    out = []
    if lo is not None:
        out.append(Constraint(label, ((source, 1.0),), ">=", float(lo)))
    if hi is not None:
        out.append(Constraint(label, ((source, 1.0),), "<=", float(hi)))
    return out


def epoch_cap(label: str, source: str, epochs: float, tokens: float, target_tokens: float) -> Constraint:
    """A run of `target_tokens` may see the `tokens` of `source` at most `epochs` times.

    Written as w <= epochs * (tokens / target_tokens): the ratio first, so that the bound
    stays well scaled however large the token counts are.
    """
    return Constraint(label, ((source, 1.0),), "<=", float(epochs) * (float(tokens) / float(target_tokens)))


def ratio(label: str, a: str, b: str, r: float, op: str = "<=") -> Constraint:
    """weight(a) op r * weight(b)."""
    return Constraint(label, ((a, 1.0), (b, -float(r))), op, 0.0)


def group_sum(label: str, sources: Sequence[str], op: str, rhs: float) -> Constraint:
    """sum of the weights of `sources` op rhs."""
    return Constraint(label, tuple((s, 1.0) for s in sources), op, float(rhs))


def from_quantities(label: str, quantity: str, coefs: Iterable[tuple[str, float]], op: str, rhs: float,
                    tokens: Mapping[str, float] | None = None, target_tokens: float | None = None) -> Constraint:
    """A constraint on "weight" or "epochs" (= weight * target_tokens / tokens), in weight space.

    Epoch rows are rescaled so their largest coefficient is 1 (the raw T/tokens factors
    can be 1e6 apart between sources).
    """
    coefs = tuple((s, float(c)) for s, c in coefs)
    if quantity == "weight":
        return Constraint(label, coefs, op, float(rhs))
    if quantity != "epochs":
        raise ValueError(f"constraint {label}: unknown quantity {quantity!r} (weight or epochs)")
    if tokens is None or target_tokens is None:
        raise ValueError(f"constraint {label}: an epochs constraint needs token counts and the run's tokens")
    missing = [s for s, _ in coefs if not tokens.get(s)]
    if missing:
        raise ValueError(f"constraint {label}: no token count for {', '.join(missing)}")
    # coef * w * T / n_s; divide the row by its largest |coef * T / n_s|, computed as ratios.
    ratios = [(s, c / (float(tokens[s]) / float(target_tokens))) for s, c in coefs]
    scale = max(abs(r) for _, r in ratios)
    return Constraint(label, tuple((s, r / scale) for s, r in ratios), op, float(rhs) / scale)


@dataclass(frozen=True)
class Feasibility:
    feasible: bool
    conflict: tuple[str, ...]  # labels of a smallest conflicting subset (empty when feasible)


@dataclass(frozen=True)
class Polytope:
    sources: tuple[str, ...]
    constraints: tuple[Constraint, ...] = ()

    def __post_init__(self) -> None:
        if not self.sources:
            raise ValueError("a mixture needs at least one source")
        if len(set(self.sources)) != len(self.sources):
            raise ValueError("source names repeat")
        known = set(self.sources)
        for c in self.constraints:
            unknown = [s for s, _ in c.coefs if s not in known]
            if unknown:
                raise ValueError(f"constraint {c.label}: unknown source {', '.join(unknown)}")

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

    def is_plain(self) -> bool:
        """True when every constraint bounds a single source (closed-form feasibility)."""
        return is_plain(self.constraints)

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


def _lp_feasible(p: Polytope) -> bool:
    import cvxpy as cp

    w = cp.Variable(p.dim)
    prob = cp.Problem(cp.Minimize(0), p.cvxpy_constraints(w))
    prob.solve(solver=cp.CLARABEL)
    return prob.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)


def is_feasible(p: Polytope) -> bool:
    return plain_feasible(p.sources, p.constraints, TOL) if p.is_plain() else _lp_feasible(p)


def check(p: Polytope) -> Feasibility:
    """Feasibility; when infeasible, an irreducible conflicting subset found by a deletion filter.

    Deletion filter: drop each constraint in turn and keep it dropped if the rest is still
    infeasible. What is left is infeasible and every member is needed (the simplex itself
    is always assumed), so each label it names is part of the conflict.
    """
    if is_feasible(p):
        return Feasibility(True, ())
    keep = list(p.constraints)
    for c in list(p.constraints):
        trial = [k for k in keep if k is not c]
        if not is_feasible(p.with_constraints(trial)):
            keep = trial
    labels = tuple(dict.fromkeys(c.label for c in keep))
    return Feasibility(False, labels)


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
