"""The compute budget: training FLOPs of every run, turned into hours on the chosen device.

FLOPs come from `mixc.shape` (pure Python, shared with the runtime so both count the
same way: 6 N active parameters + attention + logits per token). Hours are FLOPs over
peak x MFU x devices. Exceeding `budget { hours: ... }` is an error at the budget line.
Pure Python (no numpy, no torch): `mixc check` runs this as a hook, and `mixc plan` in a bare install.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mixc.compiler.devices import DEVICES
from mixc.shape import size
from mixc.spec.diagnostics import Diagnostic
from mixc.spec.experiment import Experiment, RecipeSpec

BYTE_VOCAB = 257  # 256 bytes and the end-of-text token (runtime.tokenizer)


@dataclass(frozen=True)
class Row:
    what: str  # "proxy runs", "chosen-mixture and baseline runs", "final and validation runs"
    recipe: str
    count: int
    flops_each: float
    hours_each: float


@dataclass(frozen=True)
class Estimate:
    device: str
    gpus: int
    mfu: float
    peak_flops: float
    rows: tuple[Row, ...]

    @property
    def total_flops(self) -> float:
        return sum(r.count * r.flops_each for r in self.rows)

    @property
    def total_hours(self) -> float:
        return sum(r.count * r.hours_each for r in self.rows)

    def hours_for(self, flops: float) -> float:
        return flops / (self.peak_flops * self.mfu * self.gpus) / 3600.0


def tokenizer_vocab(experiment: Experiment) -> int:
    """Vocabulary size: bpe says it, byte is fixed, hf is read from the tokenizer.json."""
    import json

    t = experiment.tokenizer
    if t.kind == "bpe":
        return int(t.vocab)
    if t.kind == "byte":
        return BYTE_VOCAB
    path = Path(experiment.path).resolve().parent / t.path
    path = path / "tokenizer.json" if path.is_dir() else path
    data = json.loads(path.read_text(encoding="utf-8"))
    ids = set(data.get("model", {}).get("vocab", {}).values()) | {a["id"] for a in data.get("added_tokens", [])}
    return max(ids) + 1


def train_flops(experiment: Experiment, recipe: RecipeSpec, vocab: int) -> float:
    """Training FLOPs of one run of `recipe`, plus the forward passes of its final evaluation."""
    s = size(experiment.model(recipe.model).shape(vocab))
    sets = len(experiment.sources) + len(experiment.eval_sets)
    return float(s.flops_per_token) * recipe.tokens + s.flops_per_token / 3 * recipe.eval_tokens * sets


def estimate(experiment: Experiment, vocab: int | None = None) -> Estimate:
    x = experiment
    b = x.budget
    device = DEVICES[b.device if b else "cpu"]
    mfu = (b.mfu if b and b.mfu else None) or device.default_mfu
    gpus = b.gpus if b else 1
    vocab = vocab or tokenizer_vocab(x)
    est = Estimate(device.name, gpus, mfu, device.peak_flops, ())
    rows = []

    def row(what: str, recipe: RecipeSpec, count: int) -> None:
        if count:
            flops = train_flops(x, recipe, vocab)
            rows.append(Row(what, recipe.name, count, flops, est.hours_for(flops)))

    if x.search:
        proxy = x.recipe(x.search.recipe)
        row("proxy runs", proxy, x.search.runs)
        row("chosen-mixture and baseline runs", proxy, x.replicates * (1 + len(x.baselines)))
    if x.final:
        row("final and validation runs", x.recipe(x.final), x.replicates * (1 + len(x.validate)))
    return Estimate(device.name, gpus, mfu, device.peak_flops, tuple(rows))


def budget_diagnostics(experiment: Experiment) -> list[Diagnostic]:
    """The `mixc check` hook: an error at the budget line when the estimate exceeds it."""
    b = experiment.budget
    if b is None:
        return []
    try:
        est = estimate(experiment)
    except (OSError, ValueError, KeyError) as exc:
        return [Diagnostic("E103", f"cannot estimate the budget: {exc}", b.span)]
    if est.total_hours <= b.hours:
        return []
    parts = ", ".join(f"{r.count} x {r.what} ({r.recipe}) {r.flops_each:.3g} FLOPs each" for r in est.rows)
    return [Diagnostic(
        "E103",
        f"the runs need about {est.total_hours:.3g} h on {est.gpus} x {est.device}, over the budget of {b.hours:g} h",
        b.span,
        help=f"{parts}; at {est.peak_flops:.3g} FLOP/s peak x {est.mfu:.0%} MFU. "
             f"Raise `hours`, train fewer runs or tokens, or state a measured `mfu`.",
    )]
