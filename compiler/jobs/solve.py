"""The solve job: the mixture that minimises the objective under the fitted law and the constraints.

Writes `mixtures.json` ({"mixtures": {"solved": [...]}}, read by the chosen-mixture and
final train jobs) and `solution.json` (predicted losses, binding constraints, distance
from the prior, the method used). Unless the search says `extrapolate: true`, no source
may exceed the largest weight it had in the proxy runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REQUIRED = ("fit", "design", "sources", "objective", "constraints", "extrapolate", "tokens", "output")


def run(config: dict[str, Any]) -> None:
    from mixc.atomic import write_json
    from mixc.compiler.jobs.common import JobFailed, read_json
    from mixc.compiler.jobs.mixtures import polytope
    from mixc.compiler.mixture.design import prior_weights
    from mixc.compiler.mixture.laws import load_law
    from mixc.compiler.mixture.solve import Objective, solve, within_support
    from mixc.atomic import atomic_directory

    names = config["sources"]
    design = read_json(Path(config["design"]) / "mixtures.json", "the design")
    try:
        law = load_law(read_json(Path(config["fit"]) / "law.json", "the fitted law"))
    except ValueError as exc:
        raise JobFailed(f"{config['fit']}/law.json: {exc}") from None
    poly = polytope(names, config["constraints"], design["tokens"], config["tokens"])
    if not config["extrapolate"]:  # a law has seen nothing beyond its runs' weights
        poly = within_support(law, poly)
    o = config["objective"]
    prior = tuple(prior_weights(tuple(names), o["kl_prior"], design["tokens"])) if o["kl"] else None
    objective = Objective(tuple((float(c), t) for c, t in o["terms"]), o["kind"], float(o["kl"]), prior)
    try:
        solution = solve(law, poly, objective, seed=0)
    except ValueError as exc:
        raise JobFailed(f"solving: {exc}") from None
    with atomic_directory(config["output"]) as tmp:
        write_json(Path(tmp) / "solution.json", solution.to_json())
        write_json(Path(tmp) / "mixtures.json", {"sources": names,
                                                  "mixtures": {"solved": [float(x) for x in solution.weights]}})
