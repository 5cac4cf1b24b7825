"""Exact linear feasibility: is there an x >= 0 satisfying a few dozen sparse linear rows?

Phase one of the simplex method over `fractions.Fraction`, with Bland's rule, so it always
terminates and no rounding can decide a feasible system infeasible or the reverse. When the
rows are feasible the answer carries a point satisfying them; when not, the rows that a
Farkas certificate uses (the phase-one duals that are not zero): a subset of the rows that
is infeasible by itself, which lets a caller looking for a minimal conflict skip the rows
outside it. Pure standard library, so that `mixc check` decides feasibility without numpy
or a solver; it knows nothing of mixtures, sources or labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

FLIP = {"<=": ">=", ">=": "<=", "==": "=="}


@dataclass(frozen=True)
class Row:
    """sum(coef * x[var] for var, coef in coefs) op rhs."""

    coefs: tuple[tuple[int, Fraction], ...]
    op: str
    rhs: Fraction


@dataclass(frozen=True)
class Answer:
    feasible: bool
    point: tuple[Fraction, ...]  # x satisfying every row when feasible; () otherwise
    certificate: frozenset[int]  # when infeasible: indices of rows that admit no x >= 0 by themselves


class _Tableau:
    """The phase-one problem: minimise the sum of artificial variables, rows kept sparse.

    Every row gets one column that starts as its basic variable (its "own" column): the
    slack of a `<=` row, or an artificial variable for `>=` and `==` rows, whose surplus
    column (for `>=`) is separate. Columns 0..n-1 are x.
    """

    def __init__(self, n: int, rows: Sequence[Row]) -> None:
        self.n = n
        self.rows: list[dict[int, Fraction]] = []
        self.rhs: list[Fraction] = []
        self.basis: list[int] = []
        self.own: list[int] = []  # each row's starting basic column
        self.artificial: set[int] = set()
        self.cost: dict[int, Fraction] = {}  # reduced costs of the phase-one objective
        self.value = Fraction(0)  # the phase-one objective: the sum of the artificials
        column = n
        for row in rows:
            sign = -1 if row.rhs < 0 else 1  # every right-hand side >= 0
            op = row.op if sign > 0 else FLIP[row.op]
            entries: dict[int, Fraction] = {}
            for var, coef in row.coefs:
                entries[var] = entries.get(var, Fraction(0)) + sign * coef
            entries = {var: v for var, v in entries.items() if v}
            if op == ">=":
                entries[column] = Fraction(-1)  # surplus
                column += 1
            entries[column] = Fraction(1)
            if op != "<=":
                self.artificial.add(column)
            self.rows.append(entries)
            self.rhs.append(sign * row.rhs)
            self.basis.append(column)
            self.own.append(column)
            column += 1
        for i, entries in enumerate(self.rows):
            if self.basis[i] in self.artificial:  # price out the basic artificials
                self.value += self.rhs[i]
                for col, v in entries.items():
                    if col not in self.artificial:
                        self.cost[col] = self.cost.get(col, Fraction(0)) - v

    def entering(self) -> int | None:
        """Bland's rule: the lowest-numbered column whose reduced cost is negative."""
        return min((col for col, v in self.cost.items() if v.numerator < 0), default=None)

    def leaving(self, col: int) -> int:
        """The ratio test; ties go to the row whose basic column is lowest-numbered (Bland)."""
        best: tuple[Fraction, int, int] | None = None
        for i, entries in enumerate(self.rows):
            a = entries.get(col)
            if a is not None and a.numerator > 0:
                key = (self.rhs[i] / a, self.basis[i], i)
                if best is None or key < best:
                    best = key
        assert best is not None, "phase one is bounded below by 0, so some row limits the step"
        return best[2]

    def pivot(self, r: int, col: int) -> None:
        p = self.rows[r][col]
        pivot_row = {c: v / p for c, v in self.rows[r].items()}
        self.rows[r], self.rhs[r] = pivot_row, self.rhs[r] / p
        for i, entries in enumerate(self.rows):
            f = entries.get(col)
            if i != r and f is not None:
                _axpy(entries, -f, pivot_row)
                self.rhs[i] -= f * self.rhs[r]
        f = self.cost.get(col)
        if f is not None:
            _axpy(self.cost, -f, pivot_row)
            self.value += f * self.rhs[r]
        self.basis[r] = col

    def dual(self, i: int) -> Fraction:
        """Row i's dual value, read at its own column: cost minus reduced cost."""
        col = self.own[i]
        return (1 if col in self.artificial else 0) - self.cost.get(col, Fraction(0))


def _axpy(target: dict[int, Fraction], factor: Fraction, source: dict[int, Fraction]) -> None:
    """target += factor * source, dropping entries that become zero."""
    for c, v in source.items():
        w = target.get(c, Fraction(0)) + factor * v
        if w:
            target[c] = w
        else:
            target.pop(c, None)


def solve(n: int, rows: Sequence[Row]) -> Answer:
    """Whether some x in Q^n, x >= 0, satisfies every row (see the module doc for the answer)."""
    t = _Tableau(n, rows)
    while (col := t.entering()) is not None:
        t.pivot(t.leaving(col), col)
    if t.value == 0:
        x = [Fraction(0)] * n
        for i, col in enumerate(t.basis):
            if col < n:
                x[col] = t.rhs[i]
        return Answer(True, tuple(x), frozenset())
    return Answer(False, (), frozenset(i for i in range(len(rows)) if t.dual(i)))
