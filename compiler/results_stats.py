"""Replicate statistics of the report: the measured runs grouped by scale and mixture.

Each row is one mixture (the chosen one, or a baseline) at one scale: the mean and sample
sd of its measured objective over its replicates, the law's prediction (proxy scale only),
and for a baseline the paired difference chosen - baseline (paired by replicate, so by
seed) with a verdict: `beats` / `loses` when the mean difference is more than MARGIN_SD sd
of the paired differences from zero, `indistinguishable` otherwise, `no_error_bar` with
one pair. The objective is minimized, so a negative difference favours the chosen mixture.

Pure functions over the summary's run dicts (see `mixc.compiler.results_summary`); reads
no file and renders no text.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

SCALES = ("proxy", "target")  # the search's proxy recipe, then the final recipe
MARGIN_SD = 2.0  # a difference counts when it is more than this many sd of the paired differences from 0

Verdict = Literal["beats", "loses", "indistinguishable", "no_error_bar"]


@dataclass(frozen=True)
class Spread:
    """Mean and sample sd (n - 1 in the denominator; None below two values) of n values."""

    n: int
    mean: float | None
    sd: float | None


@dataclass(frozen=True)
class Paired:
    """chosen - baseline over the replicates both have measured, at one scale."""

    difference: Spread
    verdict: Verdict | None  # None when no replicate was measured for both


@dataclass(frozen=True)
class Recipe:
    """What a scale's runs were trained with, from their train job file."""

    model: str  # the model kind: dense, moe, mole
    layers: int
    d_model: int
    seq_len: int  # tokens per sequence
    batch_size: int  # sequences per step
    steps: int
    tokens: int  # steps x batch_size x seq_len, per run


@dataclass(frozen=True)
class Row:
    """One mixture at one scale: its replicates' runs and their statistics."""

    mixture: str  # "chosen" or the baseline's name (ReportRun.mixture)
    label: str
    role: str  # chosen | baseline
    runs: tuple[str, ...]  # run names, by replicate
    objective: Spread  # over the replicates measured so far
    predicted: float | None  # the law's predicted objective (proxy scale; the law was not fitted on it)
    paired: Paired | None  # baselines only
    notes: tuple[str, ...]  # e.g. moved into the constraints, over an epoch cap


@dataclass(frozen=True)
class BestProxy:
    """The proxy run with the lowest measured objective, of `of` measured."""

    name: str
    label: str
    objective: float
    predicted: float | None
    prediction: str | None  # out-of-fold | in-sample
    of: int


@dataclass(frozen=True)
class Scale:
    """One block of the result table: every comparison made with one recipe."""

    scale: str  # proxy | target
    recipe: Recipe | None
    rows: tuple[Row, ...]  # the chosen mixture first, then the baselines in the job's order
    best_proxy: BestProxy | None  # proxy scale only


def spread(values: Sequence[float]) -> Spread:
    if not values:
        return Spread(0, None, None)
    return Spread(len(values), statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None)


def verdict(difference: Spread) -> Verdict | None:
    """How chosen - baseline reads: more than MARGIN_SD sd below (beats) or above (loses) zero."""
    if difference.mean is None:
        return None
    if difference.sd is None:
        return "no_error_bar"
    if abs(difference.mean) <= MARGIN_SD * difference.sd:
        return "indistinguishable"
    return "beats" if difference.mean < 0 else "loses"


def _by_replicate(runs: Sequence[Mapping[str, Any]]) -> dict[int, float]:
    return {r["replicate"]: r["objective"] for r in runs if r["objective"] is not None}


def paired(chosen: Sequence[Mapping[str, Any]], baseline: Sequence[Mapping[str, Any]]) -> Paired:
    """chosen - baseline for each replicate measured on both sides (same replicate, same seed)."""
    mine, theirs = _by_replicate(chosen), _by_replicate(baseline)
    difference = spread([mine[i] - theirs[i] for i in sorted(mine.keys() & theirs.keys())])
    return Paired(difference, verdict(difference))


def _row(runs: Sequence[Mapping[str, Any]], chosen: Sequence[Mapping[str, Any]] | None,
         notes: tuple[str, ...]) -> Row:
    runs = sorted(runs, key=lambda r: r["replicate"])
    first = runs[0]
    predicted = next((r["predicted"] for r in runs if r.get("predicted") is not None), None)
    return Row(first["mixture_name"], first["label"], first["role"], tuple(r["name"] for r in runs),
               spread([r["objective"] for r in runs if r["objective"] is not None]), predicted,
               paired(chosen, runs) if chosen is not None else None, notes)


def best_proxy(runs: Sequence[Mapping[str, Any]]) -> BestProxy | None:
    measured = [r for r in runs if r["role"] == "proxy" and not r.get("cheaper") and r["objective"] is not None]
    if not measured:
        return None
    best = min(measured, key=lambda r: r["objective"])
    return BestProxy(best["name"], best["label"], best["objective"], best.get("predicted"), best.get("prediction"),
                     len(measured))


def scale_block(scale: str, runs: Sequence[Mapping[str, Any]], recipe: Recipe | None,
                notes: Mapping[str, tuple[str, ...]]) -> Scale:
    """The rows of one scale from the runs trained at it (any order); `notes` by mixture name."""
    here = [r for r in runs if r["scale"] == scale]
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in sorted((r for r in here if r["role"] in ("chosen", "baseline")), key=lambda r: r["role"] != "chosen"):
        groups.setdefault(r["mixture_name"], []).append(r)
    chosen = groups.get("chosen", [])
    rows = tuple(_row(g, None if name == "chosen" else chosen, notes.get(name, ())) for name, g in groups.items())
    return Scale(scale, recipe, rows, best_proxy(here) if scale == "proxy" else None)


def scale_blocks(runs: Sequence[Mapping[str, Any]], recipes: Mapping[str, Recipe],
                 notes: Mapping[str, tuple[str, ...]]) -> tuple[Scale, ...]:
    """A block for each scale some run was trained at, proxy scale first."""
    return tuple(scale_block(s, runs, recipes.get(s), notes) for s in SCALES if any(r["scale"] == s for r in runs))
