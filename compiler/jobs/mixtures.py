"""The constraint polytope of a job, from its constraints and the token store's counts, and the
words in which messages and reports name its constraints.

Epoch constraints hold for every run that trains on the polytope's mixtures: each becomes
one weight-space row per distinct training-token count of those runs (for a cap `<=` the
largest count binds, for a floor `>=` the smallest). Constraints are named as the spec
states them, after their label ("legal.mix:12 epochs(legal) <= 2"); rows the compiler adds
(the runs' range caps) by their label and bound. This module reads token counts and decides
no mixture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

from mixc.compiler.mixture.constraints import text, violated
from mixc.jobfile import JobError
from mixc.jobs import Constraint, SourceGroup

if TYPE_CHECKING:
    from mixc.compiler.mixture.polytope import Polytope


def train_tokens(store: str, sources: Sequence[SourceGroup]) -> dict[str, int]:
    """Training tokens of each source in a token store."""
    from mixc.runtime.store import open_source

    return {s.name: open_source(store, s.group).tokens("train") for s in sources}


def statement(c: Constraint) -> str:
    """A spec constraint after its label: "legal.mix:12 epochs(legal) <= 2"."""
    return f"{c.label} {text([(t.source, t.coef) for t in c.terms], c.op, c.rhs, c.quantity)}"


def describe(labels: Sequence[str], constraints: Sequence[Constraint], poly: "Polytope") -> list[str]:
    """Each label as a reader needs it: a spec constraint's statement, or an added row's bound
    ("runs' range of code: weight(code) <= 31.2%")."""
    spec = {c.label: c for c in constraints}
    rows = {}
    for row in poly.constraints:
        rows.setdefault(row.label, row)
    return [statement(spec[label]) if label in spec else
            f"{label}: {text(rows[label].coefs, rows[label].op, rows[label].rhs)}"
            for label in labels]


def polytope(names: list[str], constraints: Sequence[Constraint], tokens: Mapping[str, int] | None,
             run_tokens: Sequence[int]) -> "Polytope":
    """The polytope; epoch constraints need `tokens` (per source) and hold at every count of
    `run_tokens` (the training tokens of the runs on its mixtures; none: they are left out)."""
    from mixc.compiler.mixture.polytope import Polytope, check, from_quantities

    counts = sorted(set(run_tokens))
    rows = []
    for c in constraints:
        empty = [t.source for t in c.terms if c.quantity == "epochs" and not (tokens or {}).get(t.source)]
        if empty and counts:
            raise JobError(f"{c.label}: an epoch cap on {', '.join(empty)}, which has no training tokens")
        for count in (counts if c.quantity == "epochs" else [None]):
            rows.append(from_quantities(c.label, c.quantity, [(t.source, t.coef) for t in c.terms], c.op, c.rhs,
                                        tokens=tokens, target_tokens=count))
    poly = Polytope(tuple(names), tuple(rows))
    feasible = check(poly)
    if not feasible.feasible:
        at = (f" (epoch constraints hold at {' and '.join(f'{n:,}' for n in counts)} training tokens, "
              "every run on these mixtures)") if counts and any(c.quantity == "epochs" for c in constraints) else ""
        raise JobError("these constraints cannot all hold with the data's token counts: "
                       + "; ".join(describe(feasible.conflict, constraints, poly)) + at
                       + ". Loosen or remove one of them")
    return poly


def breaks(poly: "Polytope", constraints: Sequence[Constraint], weights: Sequence[float]) -> list[str]:
    """The constraints of `poly` that the mixture `weights` breaks, described; decided exactly, as
    `mixc check` decides them."""
    return describe(violated(poly.sources, poly.constraints, weights), constraints, poly)
