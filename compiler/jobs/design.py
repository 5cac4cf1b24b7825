"""The design job: which mixtures the proxy runs and the natural and uniform baselines train on,
inside the constraints.

Reads the token counts of the store (for the natural prior and epoch caps), draws the design
(compiler.mixture.design) and writes `mixtures.json`:
    {"sources": [...], "tokens": {source: training tokens},
     "mixtures": {"run0": [...], ..., "natural": [...], "uniform": [...]}, "origin": [...],
     "baselines": {"natural": {"unconstrained", "moved", "kl", "binding", "run_tokens"}, "uniform": {...}},
     "violations": {"fixed0": ["legal.mix:12 epochs(legal) <= 2"], ...}}
Train jobs name their key. Proxy mixtures keep the epoch caps at a proxy run's tokens.
`natural` and `uniform` are the allowed mixtures closest (in KL) to the token shares and to
uniform, with the caps held at every run on them ("run_tokens"): themselves when allowed,
else moved into the constraints, with the divergence and the constraints that bind recorded
under "baselines". Fixed baselines are the spec's and never moved: `mixc check` refused any
that breaks a weight constraint (E106); the epoch caps one breaks, at any run on it, are
listed under "violations" (only those that break one), for the report to mark. This job
trains nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mixc.jobfile import JobError
from mixc.jobs import DesignJob

BASELINES = ("natural", "uniform")  # the priors a design moves into the constraints


def _run_tokens(job: DesignJob, name: str) -> tuple[int, ...]:
    """Training tokens of every run on baseline `name`; a proxy run's when the job lists none
    (without epoch caps it lists none, and the count does not matter)."""
    return next((b.tokens for b in job.baselines if b.name == name), (job.tokens,))


def _moved(job: DesignJob, tokens: dict[str, int]) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Natural and uniform moved into the constraints (`mixture.design.nearest`): their weights,
    and for each how far it moved and what binds it."""
    from mixc.compiler.jobs.mixtures import describe, polytope
    from mixc.compiler.mixture.design import nearest, prior_weights

    names = [s.name for s in job.sources]
    weights, records = {}, {}
    for name in BASELINES:
        counts = _run_tokens(job, name)
        poly = polytope(names, job.constraints, tokens, counts)
        try:
            b = nearest(poly, prior_weights(poly.sources, name, tokens))
        except ValueError as exc:
            raise JobError(f"the {name} baseline cannot be moved into the constraints: {exc}") from None
        weights[name] = [float(x) for x in b.weights]
        records[name] = {"unconstrained": [float(x) for x in b.wanted], "moved": b.moved, "kl": b.kl,
                         "binding": describe(b.binding, job.constraints, poly), "run_tokens": sorted(set(counts))}
    return weights, records


def _violations(job: DesignJob, tokens: dict[str, int]) -> dict[str, list[str]]:
    """The fixed baselines that break a constraint at some run on them, with what they break."""
    from mixc.compiler.jobs.mixtures import breaks, polytope

    names = [s.name for s in job.sources]
    out = {}
    for b in job.baselines:
        if b.weights is not None:
            broken = breaks(polytope(names, job.constraints, tokens, b.tokens), job.constraints, b.weights)
            if broken:
                out[b.name] = broken
    return out


def run(job: DesignJob) -> None:
    from mixc.atomic import atomic_directory, write_json
    from mixc.compiler.jobs.mixtures import polytope, train_tokens
    from mixc.compiler.mixture.design import DesignConfig, design, prior_weights

    names = [s.name for s in job.sources]
    tokens = train_tokens(job.store, job.sources)
    poly = polytope(names, job.constraints, tokens, (job.tokens,))
    prior = prior_weights(tuple(names), job.prior, tokens)
    # An online search (runs 0) draws no proxy mixtures: it needs the baselines only.
    d = design(poly, DesignConfig(method=job.method, runs=job.runs, seed=job.seed), prior) if job.runs else None
    mixtures = {f"run{i}": [float(x) for x in row] for i, row in enumerate(d.mixtures)} if d else {}
    baselines, moved = _moved(job, tokens)
    with atomic_directory(job.output) as tmp:
        write_json(Path(tmp) / "mixtures.json", {
            "sources": names, "tokens": tokens, "mixtures": mixtures | baselines, "origin": list(d.origin) if d else [],
            "baselines": moved, "violations": _violations(job, tokens)})
