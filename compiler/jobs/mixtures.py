"""The constraint polytope of a job, from its config and the token store's counts."""

from __future__ import annotations

from typing import Any

from mixc.compiler.jobs.common import JobFailed


def train_tokens(store: str, sources: list[dict[str, str]]) -> dict[str, int]:
    """Training tokens of each source ({name, group} pairs) in a token store."""
    from mixc.runtime.errors import JobError
    from mixc.runtime.store import open_source

    counts = {}
    for s in sources:
        try:
            counts[s["name"]] = open_source(store, s["group"]).tokens("train")
        except JobError as exc:
            raise JobFailed(str(exc)) from None
    return counts


def polytope(names: list[str], constraints: list[dict[str, Any]], tokens: dict[str, int] | None,
             target_tokens: int | None):
    """The polytope; epoch caps need `tokens` (per source) and the run's `target_tokens`."""
    from mixc.compiler.mixture.polytope import Polytope, check, from_quantities

    rows = []
    for c in constraints:
        if c["quantity"] == "epochs" and target_tokens is None:
            continue
        empty = [s for s, _ in c["coefs"] if c["quantity"] == "epochs" and not (tokens or {}).get(s)]
        if empty:
            raise JobFailed(f"{c['label']}: an epoch cap on {', '.join(empty)}, which has no training tokens")
        rows.append(from_quantities(c["label"], c["quantity"], [tuple(p) for p in c["coefs"]], c["op"], c["rhs"],
                                    tokens=tokens, target_tokens=target_tokens))
    poly = Polytope(tuple(names), tuple(rows))
    feasible = check(poly)
    if not feasible.feasible:
        raise JobFailed("these constraints cannot all hold with the data's token counts: "
                        + ", ".join(feasible.conflict) + " (each names the spec file and line)")
    return poly
