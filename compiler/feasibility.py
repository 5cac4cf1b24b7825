"""The `mixc check` hook for constraints: can the weight constraints all hold at once, and does
every fixed baseline obey them?

Epoch caps depend on token counts, which only exist after tokenizing, so the design job
checks them with the data (and lists the fixed baselines that break one, for the report to
mark); here only `weight(...)` constraints are decided, exactly and in pure Python
(`compiler/mixture/constraints.py`: no numpy, no solver). When they conflict (E102), the
error points at the lines of an irreducible conflicting subset: each one is needed. A
`mixture(...)` baseline that breaks one (E106) points at the mixture and the constraint.
"""

from __future__ import annotations

from mixc.spec.diagnostics import Diagnostic, Note
from mixc.spec.experiment import BaselineSpec, ConstraintSpec, Experiment


def _conflict(conflict: list[ConstraintSpec]) -> Diagnostic:
    first, rest = conflict[0], conflict[1:]
    lines = ", ".join(str(c.span.line) for c in conflict)
    return Diagnostic(
        "E102", f"these constraints cannot all hold (lines {lines})", first.span,
        notes=tuple(Note("conflicts with this", c.span) for c in rest),
        help="weights are shares of one mixture and sum to 100%: loosen or remove one of these",
    )


def _outside(baseline: BaselineSpec, broken: list[ConstraintSpec]) -> Diagnostic:
    from mixc.compiler.mixture.constraints import left

    given = dict(baseline.weights or ())
    lines = ", ".join(str(c.span.line) for c in broken)
    return Diagnostic(
        "E106", f"this baseline breaks the constraint{'s' * (len(broken) > 1)} on line{'s' * (len(broken) > 1)} "
        f"{lines}", baseline.span,
        notes=tuple(Note(f"the constraint it breaks: here {left(c.coefs)} is "
                         f"{100 * sum(k * given.get(s, 0.0) for s, k in c.coefs):.4g}%", c.span) for c in broken),
        help="the chosen mixture obeys every constraint, so a baseline outside them is no fair comparison: "
             "change its weights until they hold, or remove it (`natural` and `uniform` are moved into the "
             "constraints for you)",
    )


def feasibility_diagnostics(experiment: Experiment) -> list[Diagnostic]:
    rows = [c for c in experiment.constraints if c.quantity == "weight"]
    if not rows:
        return []
    from mixc.compiler.mixture.constraints import Constraint, check, violated

    labels = {f"c{i}": c for i, c in enumerate(rows)}
    constraints = [Constraint(label, c.coefs, c.op, c.rhs) for label, c in labels.items()]
    result = check(experiment.source_names, constraints)
    if not result.feasible:
        return [_conflict([labels[label] for label in result.conflict])]
    out = []
    for b in experiment.baselines:
        if b.weights is not None:
            given = dict(b.weights)
            broken = violated(experiment.source_names, constraints,
                              [given.get(s, 0.0) for s in experiment.source_names])
            if broken:
                out.append(_outside(b, [labels[label] for label in broken]))
    return out
