"""The solve job: the mixture that minimises the objective under the fitted law and the constraints.

Writes `mixtures.json` ({"mixtures": {"solved": [...]}}, read by the chosen-mixture and
final train jobs) and `solution.json` (predicted losses, binding constraints, distance
from the prior, the method used). Unless the search says `extrapolate: true`, no source
may exceed the largest weight it had in the proxy runs.
"""

from __future__ import annotations

from pathlib import Path

from mixc.jobfile import JobError
from mixc.jobs import SolveJob


def run(job: SolveJob) -> None:
    from mixc.atomic import atomic_directory, write_json
    from mixc.compiler.jobs.mixtures import polytope
    from mixc.compiler.jobs.outputs import read_json
    from mixc.compiler.mixture.design import prior_weights
    from mixc.compiler.mixture.laws import load_law
    from mixc.compiler.mixture.solve import Objective, solve, within_support

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
    except ValueError as exc:
        raise JobError(f"solving: {exc}") from None
    with atomic_directory(job.output) as tmp:
        write_json(Path(tmp) / "solution.json", solution.to_json())
        write_json(Path(tmp) / "mixtures.json", {"sources": names,
                                                  "mixtures": {"solved": [float(x) for x in solution.weights]}})
