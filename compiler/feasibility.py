"""The `mixc check` hook for constraints: can the weight constraints all hold at once?

Epoch caps depend on token counts, which only exist after tokenizing, so the design job
checks them with the data; here only `weight(...)` constraints are decided, exactly and in
pure Python (`compiler/mixture/constraints.py`: no numpy, no solver). When they conflict,
the error points at the lines of an irreducible conflicting subset: each one is needed.
"""

from __future__ import annotations

from mixc.spec.diagnostics import Diagnostic, Note
from mixc.spec.experiment import Experiment


def feasibility_diagnostics(experiment: Experiment) -> list[Diagnostic]:
    rows = [c for c in experiment.constraints if c.quantity == "weight"]
    if not rows:
        return []
    from mixc.compiler.mixture.constraints import Constraint, check

    labels = {f"c{i}": c for i, c in enumerate(rows)}
    result = check(experiment.source_names,
                   [Constraint(label, c.coefs, c.op, c.rhs) for label, c in labels.items()])
    if result.feasible:
        return []
    conflict = [labels[label] for label in result.conflict]
    first, rest = conflict[0], conflict[1:]
    lines = ", ".join(str(c.span.line) for c in conflict)
    return [Diagnostic(
        "E102", f"these constraints cannot all hold (lines {lines})", first.span,
        notes=tuple(Note("conflicts with this", c.span) for c in rest),
        help="weights are shares of one mixture and sum to 100%: loosen or remove one of these",
    )]
