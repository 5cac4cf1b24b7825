"""Choose the mixture: minimise an objective over a law's targets inside the polytope.

The objective is a weighted sum of predicted losses, or their weighted maximum (the
worst case), plus an optional KL pull toward a prior, kl * KL(w || prior).
- A convex law gives one cvxpy problem (Clarabel): an LP for linear, exponential cones
  for loglinear, power cones for powerlaw; the optimum is exact.
- Otherwise (lightgbm), as RegMix does (Liu et al. 2024, sec. 3.4): sample the polytope
  (100k points: Dirichlet draws around the uniform mixture over a wide range of
  concentrations, so corners are visited, topped up by uniform samples), score them with the
  law and average the best k; the average of points of a convex set stays inside it.
`within_support` adds caps that keep the solve inside the range of the fitted runs; when
they and the constraints leave no mixture, `solve` raises `Infeasible` with the labels of an
irreducible conflicting subset (the deletion filter of `constraints.check`).
The result carries the predicted losses, the constraints that bind and the distance
from the prior. This module fits nothing and reads no files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mixc.compiler.mixture.laws.base import Law
from mixc.compiler.mixture.design import dirichlet_draws
from mixc.compiler.mixture.polytope import Polytope, bound, check, sample

SAMPLES = 100_000
TOP_K = 100


class Infeasible(ValueError):
    """No mixture satisfies the polytope; `conflict` labels an irreducible conflicting subset."""

    def __init__(self, conflict: tuple[str, ...]) -> None:
        super().__init__("the constraints admit no mixture; these cannot all hold: " + ", ".join(conflict))
        self.conflict = conflict


@dataclass(frozen=True)
class Objective:
    terms: tuple[tuple[float, str], ...]  # (coefficient, target)
    kind: str = "sum"  # "sum" or "max"
    kl: float = 0.0  # weight of KL(w || prior); needs a prior when > 0
    prior: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("sum", "max"):
            raise ValueError(f"objective kind {self.kind!r} is not sum or max")
        if not self.terms:
            raise ValueError("the objective has no terms")
        if self.kl < 0:
            raise ValueError("the KL weight must not be negative")
        if self.kl > 0 and self.prior is None:
            raise ValueError("a KL pull needs a prior mixture")


@dataclass(frozen=True)
class Solution:
    sources: tuple[str, ...]
    weights: np.ndarray
    predicted: dict[str, float]  # per target in the objective
    objective: float  # value of the objective (KL term included)
    binding: tuple[str, ...]  # labels of the constraints that hold with equality
    kl_from_prior: float | None  # KL(w || prior) in nats
    tv_from_prior: float | None  # total variation distance, 0..1
    method: str  # "cvxpy" or "sampling"

    def to_json(self) -> dict[str, Any]:
        return {"sources": list(self.sources), "weights": [float(x) for x in self.weights],
                "mixture": dict(zip(self.sources, (float(x) for x in self.weights))),
                "predicted": self.predicted, "objective": self.objective, "binding": list(self.binding),
                "kl_from_prior": self.kl_from_prior, "tv_from_prior": self.tv_from_prior, "method": self.method}


def _prior(objective: Objective, dim: int) -> np.ndarray | None:
    if objective.prior is None:
        return None
    p = np.maximum(np.asarray(objective.prior, dtype=float), 1e-12)
    if p.shape != (dim,):
        raise ValueError(f"the prior has {p.size} weights for {dim} sources")
    return p / p.sum()


def _kl(w: np.ndarray, p: np.ndarray) -> float:
    nz = w > 0
    return float(np.sum(w[nz] * np.log(w[nz] / p[nz])))


def _value(law: Law, objective: Objective, W: np.ndarray, prior: np.ndarray | None) -> np.ndarray:
    pred = law.predict(W)
    cols = np.stack([c * pred[:, law.target_index(t)] for c, t in objective.terms], axis=1)
    v = cols.sum(axis=1) if objective.kind == "sum" else cols.max(axis=1)
    if objective.kl > 0:
        Wc = np.clip(W, 1e-300, None)
        v = v + objective.kl * np.sum(np.where(W > 0, W * np.log(Wc / prior), 0.0), axis=1)
    return v


def _solve_convex(law: Law, poly: Polytope, objective: Objective, prior: np.ndarray | None) -> np.ndarray | None:
    import cvxpy as cp

    w = cp.Variable(poly.dim, nonneg=True)
    parts = [c * law.cvx(w, law.target_index(t)) for c, t in objective.terms]
    expr = cp.sum(parts) if objective.kind == "sum" else cp.maximum(*parts) if len(parts) > 1 else parts[0]
    if objective.kl > 0:
        expr = expr + objective.kl * cp.sum(cp.kl_div(w, prior))  # = KL(w||p), both sum to one
    prob = cp.Problem(cp.Minimize(expr), poly.cvxpy_constraints(w))
    try:
        prob.solve(solver=cp.CLARABEL)
    except cp.error.SolverError:
        return None
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or w.value is None:
        return None
    x = np.clip(np.asarray(w.value, dtype=float), 0.0, None)
    x[x < 1e-7] = 0.0  # solver round-off, not a real allocation
    return x / x.sum()


def candidates(poly: Polytope, n: int, seed: int = 0) -> np.ndarray:
    """n mixtures inside poly: half (at most) Dirichlet draws that land inside, the rest uniform samples."""
    rng = np.random.default_rng(seed)
    W = dirichlet_draws(poly, n // 2, np.full(poly.dim, 1.0 / poly.dim), rng, (0.02, 5.0))
    return np.vstack([W, sample(poly, n - len(W), seed=seed)]) if len(W) < n else W


def within_support(law: Law, poly: Polytope) -> Polytope:
    """poly, plus: no source above the largest weight it had in the runs the law was fitted on.

    A law knows nothing of mixtures beyond its runs; this keeps the solve where it has seen data.
    The added constraints are labelled "runs' range of SRC".
    """
    caps = [c for s, hi in zip(law.sources, law.support) if hi < 1.0
            for c in bound(f"runs' range of {s}", s, hi=hi)]
    return poly.with_constraints(poly.constraints + tuple(caps))


def solve(law: Law, poly: Polytope, objective: Objective, seed: int = 0, samples: int = SAMPLES,
          top_k: int = TOP_K) -> Solution:
    """The best mixture in `poly` for `objective` under `law`; `Infeasible` when `poly` is empty."""
    if tuple(poly.sources) != tuple(law.sources):
        raise ValueError(f"the law's sources ({', '.join(law.sources)}) differ from the "
                         f"constraints' sources ({', '.join(poly.sources)})")
    for _, t in objective.terms:
        law.target_index(t)
    feasibility = check(poly)
    if not feasibility.feasible:
        raise Infeasible(feasibility.conflict)
    prior = _prior(objective, poly.dim)
    w, method = None, "sampling"
    if law.convex:
        w = _solve_convex(law, poly, objective, prior)
        method = "cvxpy" if w is not None else "sampling (the convex solve failed)"
    if w is None:
        from threadpoolctl import threadpool_limits

        W = candidates(poly, samples, seed)
        with threadpool_limits(limits=1, user_api="blas"):  # many small products: threads only spin
            best = np.argsort(_value(law, objective, W, prior))[:top_k]
        w = W[best].mean(axis=0)
    pred = law.predict(w)[0]
    return Solution(
        sources=poly.sources, weights=w,
        predicted={t: float(pred[law.target_index(t)]) for _, t in objective.terms},
        objective=float(_value(law, objective, w[None, :], prior)[0]),
        binding=poly.binding(w, tol=1e-5),
        kl_from_prior=_kl(w, prior) if prior is not None else None,
        tv_from_prior=float(0.5 * np.abs(w - prior).sum()) if prior is not None else None,
        method=method,
    )
