"""The solve job: the mixture that minimises the objective under the fitted law and the constraints.

Writes `mixtures.json` ({"mixtures": {"solved": [...]}}, read by the chosen-mixture and
final train jobs) and `solution.json` (predicted losses, binding constraints, distance
from the prior, the method used). Epoch caps hold at every count of `tokens`: each run that
trains on the solution. Unless the search says `extrapolate: true`, no source may exceed the
largest weight it had in the proxy runs; when those caps and the constraints leave no
mixture, the error names the ones in conflict and how to get out of it.
"""

from __future__ import annotations

from pathlib import Path

from mixc.jobfile import JobError
from mixc.jobs import SolveJob

CONFLICT_HELP = ("the law is only trusted within the weights the proxy runs gave each source: "
                 "let the solve go beyond them with `search { extrapolate: true }`, or cover the constraints "
                 "with more runs (`runs`) or another design (`prior: uniform`, `design: spacefilling`), "
                 "or loosen one of the constraints named")


def run(job: SolveJob) -> None:
    from mixc.atomic import atomic_directory, write_json
    from mixc.compiler.jobs.mixtures import describe, polytope
    from mixc.compiler.jobs.outputs import read_json
    from mixc.compiler.mixture.design import prior_weights
    from mixc.compiler.mixture.laws import load_law
    from mixc.compiler.mixture.solve import Infeasible, Objective, solve, within_support

    names = list(job.sources)
    design = read_json(Path(job.design) / "mixtures.json", "the design")
    try:
        law = load_law(read_json(Path(job.fit) / "law.json", "the fitted law"))
    except ValueError as exc:
        raise JobError(f"{job.fit}/law.json: {exc}") from None
    poly = polytope(names, job.constraints, design["tokens"], job.tokens)
    if not job.extrapolate:  # a law has seen nothing beyond its runs' weights
        poly = within_support(law, poly)
    o = job.objective
    prior = tuple(prior_weights(tuple(names), o.kl_prior, design["tokens"])) if o.kl else None
    objective = Objective(tuple((t.coef, t.target) for t in o.terms), o.kind, o.kl, prior)
    try:
        solution = solve(law, poly, objective, seed=0)
    except Infeasible as exc:
        raise JobError("no mixture keeps within the proxy runs' range and the constraints; these cannot all hold: "
                       + "; ".join(describe(exc.conflict, job.constraints, poly)) + f". Fix: {CONFLICT_HELP}") from None
    except ValueError as exc:
        raise JobError(f"solving: {exc}") from None
    with atomic_directory(job.output) as tmp:
        write_json(Path(tmp) / "solution.json", solution.to_json())
        write_json(Path(tmp) / "mixtures.json", {"sources": names,
                                                  "mixtures": {"solved": [float(x) for x in solution.weights]}})
