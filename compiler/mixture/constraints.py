"""Labelled linear constraints on mixture weights, and whether they can all hold at once.

A `Constraint` is `sum(coef * weight(source)) op rhs` with an opaque `label` that the caller
chooses (the checker passes "file:line"); `check` answers `Feasibility(feasible, conflict)`,
where `conflict` names an irreducible conflicting subset by label, and `violated` the
constraints a given mixture breaks. The decision is exact:
numbers are read as the shortest decimals that give back the same floats (30% is 3/10) and
the system, the simplex included, is solved over rationals by `simplex.py`, with every row
loosened by `TOL` (in weight units) so that floats computed elsewhere (a law's support, a
chain of roundings) that meet exactly on paper still meet. Pure Python: `mixc check` runs
this without numpy or cvxpy. `text` writes a constraint as the spec would. It knows nothing
of centres or sampling (`polytope.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Mapping, Sequence

from mixc.compiler.mixture.simplex import Row, solve

OPS = ("<=", ">=", "==")
TOL = Fraction(1, 10**9)  # slack each row gets, per unit of its largest coefficient


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


@dataclass(frozen=True)
class Feasibility:
    feasible: bool
    conflict: tuple[str, ...]  # labels of an irreducible conflicting subset (empty when feasible)


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


def left(terms: Sequence[tuple[str, float]], quantity: str = "weight") -> str:
    """A constraint's left-hand side as the spec writes it: `2 * weight(a) - weight(b)`."""
    parts = []
    for i, (source, coef) in enumerate(terms):
        term = f"{quantity}({source})" if abs(coef) == 1 else f"{abs(coef):g} * {quantity}({source})"
        parts.append(("- " if coef < 0 else "" if i == 0 else "+ ") + term)
    return " ".join(parts)


def text(terms: Sequence[tuple[str, float]], op: str, rhs: float, quantity: str = "weight") -> str:
    """A whole constraint as the spec writes it: weights in percent (`<= 40%`), epochs as counts."""
    return f"{left(terms, quantity)} {op} {f'{rhs * 100:.4g}%' if quantity == 'weight' else f'{rhs:.4g}'}"


def exact(x: float) -> Fraction:
    """The shortest decimal that reads back as `x`, as a rational: 0.3 is 3/10, not 0.29999..."""
    return Fraction(repr(float(x)))


def validate(sources: Sequence[str], constraints: Iterable[Constraint]) -> None:
    """Raises ValueError unless the sources are distinct and every constraint names only them."""
    if not sources:
        raise ValueError("a mixture needs at least one source")
    if len(set(sources)) != len(sources):
        raise ValueError("source names repeat")
    known = set(sources)
    for c in constraints:
        unknown = [s for s, _ in c.coefs if s not in known]
        if unknown:
            raise ValueError(f"constraint {c.label}: unknown source {', '.join(unknown)}")


class _System:
    """The constraints as loosened rational rows, built once; `decide(members)` decides a subset."""

    def __init__(self, sources: Sequence[str], constraints: Sequence[Constraint]) -> None:
        column = {s: j for j, s in enumerate(sources)}
        self.n = len(sources)
        self.simplex = Row(tuple((j, Fraction(1)) for j in range(self.n)), "==", Fraction(1))
        self.rows: list[list[Row]] = []  # per constraint: one row, or two for an equality's band
        for c in constraints:
            coefs = tuple((column[s], exact(v)) for s, v in c.coefs)
            slack = TOL * max(abs(v) for _, v in coefs)
            rhs = exact(c.rhs)
            if c.op == "==":
                self.rows.append([Row(coefs, "<=", rhs + slack), Row(coefs, ">=", rhs - slack)])
            else:
                self.rows.append([Row(coefs, c.op, rhs + slack if c.op == "<=" else rhs - slack)])

    def holds(self, k: int, x: Sequence[Fraction]) -> bool:
        """Whether the point x satisfies constraint k (every one of its loosened rows)."""
        def ok(row: Row) -> bool:
            lhs = sum((coef * x[j] for j, coef in row.coefs), Fraction(0))
            return lhs <= row.rhs if row.op == "<=" else lhs >= row.rhs
        return all(ok(row) for row in self.rows[k])

    def decide(self, members: Sequence[int]) -> tuple[bool, frozenset[int]]:
        """Feasibility of the simplex with `members`; when infeasible, the members a certificate uses."""
        owner = [k for k in members for _ in self.rows[k]]
        answer = solve(self.n, [self.simplex] + [row for k in members for row in self.rows[k]])
        return answer.feasible, frozenset(owner[i - 1] for i in answer.certificate if i > 0)


def check(sources: Sequence[str], constraints: Sequence[Constraint]) -> Feasibility:
    """Feasibility; when infeasible, an irreducible conflicting subset found by a deletion filter.

    Deletion filter: drop each constraint in turn, in order, and keep it dropped if the rest
    is still infeasible. What is left is infeasible and every member is needed (the simplex
    itself is always assumed). A constraint outside the last infeasibility certificate is
    dropped without solving: the certificate's rows, all still kept, stay infeasible.
    """
    validate(sources, constraints)
    system = _System(sources, constraints)
    feasible, needed = system.decide(range(len(constraints)))
    if feasible:
        return Feasibility(True, ())
    keep = list(range(len(constraints)))
    for k in range(len(constraints)):
        trial = [m for m in keep if m != k]
        if k not in needed:
            keep = trial
            continue
        feasible, certificate = system.decide(trial)
        if not feasible:
            keep, needed = trial, certificate
    return Feasibility(False, tuple(dict.fromkeys(constraints[k].label for k in keep)))


def violated(sources: Sequence[str], constraints: Sequence[Constraint], weights: Sequence[float]) -> tuple[str, ...]:
    """Labels of the constraints that the mixture `weights` (one per source) breaks, in order.

    Decided exactly, with the loosened rows of `check`: a mixture `check` could return as
    feasible is never reported, and 40% against `<= 40%` holds.
    """
    validate(sources, constraints)
    if len(weights) != len(sources):
        raise ValueError(f"{len(weights)} weights for {len(sources)} sources")
    system = _System(sources, constraints)
    x = [exact(w) for w in weights]
    return tuple(dict.fromkeys(c.label for k, c in enumerate(constraints) if not system.holds(k, x)))
