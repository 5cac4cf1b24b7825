"""Feasibility of plain bounds (each constraint on one weight) in closed form, without numpy.

Each bound narrows one weight's interval inside [0, 1]; the intervals admit a mixture
iff every interval is non-empty and the lower ends sum to at most 1 while the upper ends
sum to at least 1. Pure Python so that `mixc check` decides the common case without
importing numpy or cvxpy. Knows nothing of labels, conflicts or solvers.
"""

from __future__ import annotations

from typing import Protocol, Sequence

TOL = 1e-9


class Row(Protocol):
    coefs: tuple[tuple[str, float], ...]
    op: str
    rhs: float


def is_plain(rows: Sequence[Row]) -> bool:
    return all(len(r.coefs) == 1 for r in rows)


def plain_feasible(sources: Sequence[str], rows: Sequence[Row], tol: float = TOL) -> bool:
    """Whether single-source bounds `rows` leave a mixture over `sources` (see the module doc)."""
    lo = dict.fromkeys(sources, 0.0)
    hi = dict.fromkeys(sources, 1.0)
    for r in rows:
        (s, coef), = r.coefs
        v = r.rhs / coef
        op = r.op if coef > 0 or r.op == "==" else {"<=": ">=", ">=": "<="}[r.op]
        if op in ("<=", "=="):
            hi[s] = min(hi[s], v)
        if op in (">=", "=="):
            lo[s] = max(lo[s], v)
    return all(lo[s] <= hi[s] + tol for s in sources) and sum(lo.values()) <= 1 + tol and sum(hi.values()) >= 1 - tol
