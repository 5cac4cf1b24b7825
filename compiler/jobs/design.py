"""The design job: which mixtures the proxy runs train on, inside the constraints.

Reads the token counts of the store (for the natural prior and epoch caps), draws the
design (compiler.mixture.design) and writes `mixtures.json`: {"sources", "mixtures":
{"run0": [...], ..., "natural": [...]}, "origin", "tokens"}; train jobs name their key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REQUIRED = ("method", "runs", "prior", "seed", "store", "sources", "constraints", "tokens", "output")


def run(config: dict[str, Any]) -> None:
    from mixc.atomic import write_json
    from mixc.compiler.jobs.mixtures import polytope, train_tokens
    from mixc.compiler.mixture.design import DesignConfig, design, prior_weights
    from mixc.atomic import atomic_directory

    names = [s["name"] for s in config["sources"]]
    tokens = train_tokens(config["store"], config["sources"])
    poly = polytope(names, config["constraints"], tokens, config["tokens"])
    prior = prior_weights(tuple(names), config["prior"], tokens)
    d = design(poly, DesignConfig(method=config["method"], runs=config["runs"], seed=config["seed"]), prior)
    mixtures = {f"run{i}": [float(x) for x in row] for i, row in enumerate(d.mixtures)}
    mixtures["natural"] = [float(x) for x in prior_weights(tuple(names), "natural", tokens)]
    with atomic_directory(config["output"]) as tmp:
        write_json(Path(tmp) / "mixtures.json", {"sources": names, "mixtures": mixtures, "origin": list(d.origin),
                                                  "tokens": tokens})
