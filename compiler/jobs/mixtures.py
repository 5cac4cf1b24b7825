"""The constraint polytope of a job, from its constraints and the token store's counts."""

from __future__ import annotations

from typing import Sequence

from mixc.jobfile import JobError
from mixc.jobs import Constraint, SourceGroup


def train_tokens(store: str, sources: Sequence[SourceGroup]) -> dict[str, int]:
    """Training tokens of each source in a token store."""
    from mixc.runtime.store import open_source

    return {s.name: open_source(store, s.group).tokens("train") for s in sources}


def polytope(names: list[str], constraints: Sequence[Constraint], tokens: dict[str, int] | None,
             target_tokens: int | None):
    """The polytope; epoch caps need `tokens` (per source) and the run's `target_tokens`."""
    from mixc.compiler.mixture.polytope import Polytope, check, from_quantities

    rows = []
    for c in constraints:
        if c.quantity == "epochs" and target_tokens is None:
            continue
        empty = [t.source for t in c.terms if c.quantity == "epochs" and not (tokens or {}).get(t.source)]
        if empty:
            raise JobError(f"{c.label}: an epoch cap on {', '.join(empty)}, which has no training tokens")
        rows.append(from_quantities(c.label, c.quantity, [(t.source, t.coef) for t in c.terms], c.op, c.rhs,
                                    tokens=tokens, target_tokens=target_tokens))
    poly = Polytope(tuple(names), tuple(rows))
    feasible = check(poly)
    if not feasible.feasible:
        raise JobError("these constraints cannot all hold with the data's token counts: "
                       + ", ".join(feasible.conflict) + " (each names the spec file and line)")
    return poly
