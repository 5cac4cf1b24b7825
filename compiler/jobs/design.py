"""The design job: which mixtures the proxy runs train on, inside the constraints.

Reads the token counts of the store (for the natural prior and epoch caps), draws the
design (compiler.mixture.design) and writes `mixtures.json`: {"sources", "mixtures":
{"run0": [...], ..., "natural": [...]}, "origin", "tokens"}; train jobs name their key.
"""

from __future__ import annotations

from pathlib import Path

from mixc.jobs import DesignJob


def run(job: DesignJob) -> None:
    from mixc.atomic import atomic_directory, write_json
    from mixc.compiler.jobs.mixtures import polytope, train_tokens
    from mixc.compiler.mixture.design import DesignConfig, design, prior_weights

    names = [s.name for s in job.sources]
    tokens = train_tokens(job.store, job.sources)
    poly = polytope(names, job.constraints, tokens, job.tokens)
    prior = prior_weights(tuple(names), job.prior, tokens)
    d = design(poly, DesignConfig(method=job.method, runs=job.runs, seed=job.seed), prior)
    mixtures = {f"run{i}": [float(x) for x in row] for i, row in enumerate(d.mixtures)}
    mixtures["natural"] = [float(x) for x in prior_weights(tuple(names), "natural", tokens)]
    with atomic_directory(job.output) as tmp:
        write_json(Path(tmp) / "mixtures.json", {"sources": names, "mixtures": mixtures, "origin": list(d.origin),
                                                  "tokens": tokens})
