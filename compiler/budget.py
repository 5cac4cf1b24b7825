"""The compute budget: how long each job takes on the chosen devices, and the experiment's wall time.

FLOPs come from `mixc.shape` (pure Python, shared with the runtime so both count the
same way: 6 N active parameters + attention + logits per token). A train job takes its
device's fixed cost (`devices.Device.start_s`: start-up, data, compilation on CUDA) plus its
FLOPs over (peak / lanes) x MFU x the devices it holds: a proxy-scale run one GPU (or one
lane of a CPU), a final-scale run all the budget's GPUs (one lane on CPU), with data
parallelism assumed to scale linearly. A bookkeeping job takes a measured figure
(`BOOKKEEPING_S`) and holds a lane on CPU, no GPU. The experiment's wall time is the
schedule of these jobs (`compiler.schedule`) on the budget's devices: proxies side by side,
the final runs after the solve. Over `budget { hours: ... }` is an error at the budget line.

`mixc check` has no job graph (it reads no data), so `experiment_tasks` lays out the jobs
`compiler.lower` builds, by stage; `job_tasks` takes them from a graph, and the tests check
that both schedules agree. Pure Python (no numpy, no torch): `mixc check` runs this as a hook,
and `mixc plan` in a bare install.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Protocol

from mixc.compiler.devices import DEVICES
from mixc.compiler.packing import packs, search_pack
from mixc.compiler.schedule import Task, schedule
from mixc.shape import size
from mixc.spec.diagnostics import Diagnostic
from mixc.spec.experiment import Experiment, RecipeSpec

BYTE_VOCAB = 257  # 256 bytes and the end-of-text token (runtime.tokenizer)
# Seconds of a bookkeeping job, measured (2 busy cores): the tiny spec of tests/compiler and
# the quickstart's tokenizer, tokenize and design jobs took tokenizer 0.1-1.7 s, tokenize
# 0.5-0.9 s a source (the quickstart's ~1.5 MB ones: a large source takes longer, and that is
# not estimated), design 1.0-1.4 s, fit 8.3 s, solve 0.9 s, report 0.9 s; cluster 5 s for 900
# short documents, 19 s for examples/clusters' 21,432 (it grows with the source, not estimated).
TRAINING = ("train", "pack")  # the kinds that train models; the others are bookkeeping
BOOKKEEPING_S = {"tokenizer": 2.0, "tokenize": 1.0, "cluster": 10.0, "design": 2.0, "propose": 4.0, "fit": 10.0,
                 "solve": 2.0, "report": 2.0}


class JobLike(Protocol):
    """What the schedule needs of a `compiler.lower.Job`."""

    id: str
    kind: str
    after: tuple[str, ...]
    job_class: str
    flops: float


@dataclass(frozen=True)
class Row:
    what: str  # "proxy runs", "chosen-mixture and baseline runs", "final and validation runs"
    recipe: str
    count: int
    flops_each: float
    hours_each: float  # fixed cost and compute, on the devices one such run holds


@dataclass(frozen=True)
class Estimate:
    device: str
    gpus: int
    mfu: float
    peak_flops: float
    rows: tuple[Row, ...]
    lanes: int = 1  # jobs side by side on one device
    start_s: float = 0.0  # a train job's fixed cost
    wall_s: float = 0.0  # the experiment's wall time, from its schedule

    @property
    def gpu(self) -> bool:
        return self.device != "cpu"

    @property
    def slots(self) -> int:
        """What the schedule shares out: GPUs, or a CPU's lanes."""
        return self.gpus * self.lanes

    @property
    def wall_hours(self) -> float:
        return self.wall_s / 3600.0

    def devices_for(self, kind: str, job_class: str) -> int:
        """GPUs (or CPU lanes) a job holds: a final-scale train job all the budget's GPUs, any
        other train job or pack one; a bookkeeping job no GPU, one lane on CPU."""
        if kind not in TRAINING:
            return 0 if self.gpu else 1
        return self.gpus if job_class == "final" and self.gpu else 1

    def seconds(self, kind: str, job_class: str, flops: float) -> float:
        """A job's estimated duration: fixed cost, plus its FLOPs on the devices it holds (a
        pack's FLOPs are all its members'; it pays the fixed cost once)."""
        if kind not in TRAINING:
            return BOOKKEEPING_S[kind]
        rate = self.peak_flops / self.lanes * self.mfu * self.devices_for(kind, job_class)
        return self.start_s + flops / rate


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


def control_flops(experiment: Experiment, recipe: RecipeSpec, vocab: int) -> float:
    """FLOPs the online search's controller adds to a run of `recipe`: DoReMi's forward passes
    over every batch, of the proxy (its losses before the step) and of the reference; Aioli's
    loss measurements, (sweeps x sources + 1) a round, `eval_tokens` of every source each."""
    o, per_token = experiment.search.online, size(experiment.model(recipe.model).shape(vocab)).flops_per_token
    if experiment.search.method == "doremi":
        reference = experiment.recipe(o.reference)
        return (per_token + size(experiment.model(reference.model).shape(vocab)).flops_per_token) / 3 * recipe.tokens
    n = len(experiment.sources)
    return per_token / 3 * o.eval_tokens * n * o.rounds * (o.sweeps * n + 1)


def job_tasks(jobs: Iterable[JobLike], est: Estimate) -> list[Task]:
    """The schedule's tasks of a job graph's jobs (in the graph's order)."""
    return [Task(j.id, j.after, est.seconds(j.kind, j.job_class, j.flops), est.devices_for(j.kind, j.job_class))
            for j in jobs]


class _Stages:
    """The jobs `compiler.lower` builds for an experiment, as schedule tasks, stage by stage."""

    def __init__(self, x: Experiment, est: Estimate, flops: dict[str, float], vocab: int) -> None:
        self.x, self.est, self.flops, self.vocab = x, est, flops, vocab
        self.tasks: list[Task] = []

    def add(self, name: str, kind: str, after: list[str], recipe: RecipeSpec | None = None,
            job_class: str = "small", runs: int = 1, controlled: bool = False) -> str:
        """A task; `controlled`: the run carries the online search's controller (its FLOPs too)."""
        flops = self.flops[recipe.name] * runs if recipe else 0.0
        if controlled:
            flops += control_flops(self.x, recipe, self.vocab)
        self.tasks.append(Task(name, tuple(after), self.est.seconds(kind, job_class, flops),
                               self.est.devices_for(kind, job_class)))
        return name

    def measured(self, data: list[str], design: str, chosen: list[str], adapt: bool) -> list[str]:
        """The chosen mixture (after `chosen`; `adapt`: its runs carry the online controller) and
        the baselines (validated ones at both scales), each replicate."""
        x, runs = self.x, []
        scales = [(x.recipe(x.search.recipe), "proxy", x.baselines)]
        scales += [(x.recipe(x.final), "final", x.validate)] if x.final else []
        for recipe, job_class, baselines in scales:
            for r in range(x.replicates):
                runs.append(self.add(f"chosen/{job_class}/{r}", "train", [*data, *chosen], recipe, job_class,
                                     controlled=adapt))
                for b in baselines:
                    decided = [design] if b.name in ("uniform", "natural") else []
                    runs.append(self.add(f"{b.name}/{job_class}/{r}", "train", data + decided, recipe, job_class))
        return runs

    def build(self) -> list[Task]:
        x = self.x
        tokenizer = self.add("tokenizer", "tokenizer", [])
        groups = dict.fromkeys(d.cluster.group for d in x.sources if d.cluster is not None)
        split = {g: self.add(f"cluster/{g}", "cluster", []) for g in groups}
        data = [self.add(f"tokenize/{d.name}", "tokenize",
                         [tokenizer, *([split[d.cluster.group]] if d.cluster else [])])
                for d in (*x.sources, *x.eval_sets)]
        after = data
        if x.search and x.search.online:
            design = self.add("design", "design", data)
            own = self.online(data, design)
            adapt = x.search.online.apply == "online"
            after = [design, *own, *self.measured(data, design, [design, *own] if adapt else own[-1:], adapt)]
        elif x.search:
            design = self.add("design", "design", data)
            decided, proxies = self.rounds(data, design)
            fit = self.add("fit", "fit", [*decided, *proxies])
            solve = self.add("solve", "solve", [fit, design])
            after = [design, fit, solve, *proxies, *self.measured(data, design, [solve], False)]
        self.add("report", "report", after)
        return self.tasks

    def rounds(self, data: list[str], design: str) -> tuple[list[str], list[str]]:
        """A regmix search's rounds: the design, then a propose job for each later round after every
        proxy before it; each round's proxies at each fidelity, in packs. Returns the jobs that
        decide mixtures and the proxies' jobs."""
        s, decided, proxies = self.x.search, [design], []
        for r in range(s.rounds):
            if r:
                decided.append(self.add(f"propose/{r}", "propose", [design, *proxies]))
            for name in s.proxy_recipes:
                recipe = self.x.recipe(name)
                runs = packs(range(s.runs), search_pack(self.x, self.vocab, recipe))
                kind = "pack" if len(runs) < s.runs else "train"
                proxies += [self.add(f"proxy/{r}/{name}/{p[0]}", kind, [*data, decided[-1]], recipe, "proxy", len(p))
                            for p in runs]
        return decided, proxies

    def online(self, data: list[str], design: str) -> list[str]:
        """An online search's own runs: DoReMi's reference, then (apply: weights) the proxy that learns."""
        x, own = self.x, []
        s = x.search
        if s.method == "doremi":
            own.append(self.add("reference", "train", [*data, design], x.recipe(s.online.reference), "proxy"))
        if s.online.apply == "weights":
            own.append(self.add("online proxy", "train", [*data, design, *own], x.recipe(s.recipe), "proxy",
                                controlled=True))
        return own


def experiment_tasks(x: Experiment, est: Estimate, flops: dict[str, float], vocab: int) -> list[Task]:
    """The schedule's tasks of the jobs an experiment compiles to, without lowering it
    (`flops`: each recipe's training FLOPs; `vocab`: the tokenizer's)."""
    return _Stages(x, est, flops, vocab).build()


def estimate(experiment: Experiment, vocab: int | None = None) -> Estimate:
    x = experiment
    b = x.budget
    device = DEVICES[b.device if b else "cpu"]
    mfu = (b.mfu if b and b.mfu else None) or device.default_mfu
    vocab = vocab or tokenizer_vocab(x)
    est = Estimate(device.name, b.gpus if b else 1, mfu, device.peak_flops, (), device.lanes, device.start_s)
    recipes = [x.recipe(name) for name in x.search.proxy_recipes] if x.search else []
    recipes += [x.recipe(x.search.online.reference)] if x.search and x.search.online and x.search.online.reference else []
    recipes += [x.recipe(x.final)] if x.final else []
    flops = {r.name: train_flops(x, r, vocab) for r in recipes}
    rows = []

    def row(what: str, recipe: RecipeSpec, count: int, job_class: str) -> None:
        if count:
            f = flops[recipe.name]
            rows.append(Row(what, recipe.name, count, f, est.seconds("train", job_class, f) / 3600))

    if x.search and x.search.online:
        o = x.search.online
        if o.reference:
            row("reference run", x.recipe(o.reference), 1, "proxy")
        row(f"{x.search.method} proxy run", x.recipe(x.search.recipe), 1 if o.apply == "weights" else 0, "proxy")
    elif x.search:
        for name in x.search.proxy_recipes:  # every round's, at each fidelity
            row("proxy runs", x.recipe(name), x.search.runs * x.search.rounds, "proxy")
    if x.search:
        proxy = x.recipe(x.search.recipe)
        row("chosen-mixture and baseline runs", proxy, x.replicates * (1 + len(x.baselines)), "proxy")
    if x.final:
        row("final and validation runs", x.recipe(x.final), x.replicates * (1 + len(x.validate)), "final")
    wall = schedule(experiment_tasks(x, est, flops, vocab), est.slots).seconds
    return Estimate(est.device, est.gpus, mfu, est.peak_flops, tuple(rows), est.lanes, est.start_s, wall)


def budget_diagnostics(experiment: Experiment) -> list[Diagnostic]:
    """The `mixc check` hook: an error at the budget line when the wall time exceeds it."""
    b = experiment.budget
    if b is None:
        return []
    try:
        est = estimate(experiment)
    except (OSError, ValueError, KeyError) as exc:
        return [Diagnostic("E103", f"cannot estimate the budget: {exc}", b.span)]
    if est.wall_hours <= b.hours:
        return []
    parts = ", ".join(f"{r.count} x {r.what} ({r.recipe}) {r.flops_each:.3g} FLOPs, {r.hours_each:.3g} h each"
                      for r in est.rows)
    if not est.gpu:
        held = f"{est.lanes} jobs side by side on a {est.device}"
    elif est.gpus > 1:
        held = f"final-scale runs on all {est.gpus} GPUs, the others on one each"
    else:
        held = "one GPU each"
    start = "measured" if not est.gpu else "CUDA start-up and compilation assumed"
    return [Diagnostic(
        "E103",
        f"the experiment needs about {est.wall_hours:.3g} h of wall time on {est.gpus} x {est.device}, "
        f"over the budget of {b.hours:g} h",
        b.span,
        help=f"{parts}: a train job takes {est.start_s:g} s to start ({start}), then its FLOPs at "
             f"{est.peak_flops:.3g} FLOP/s peak x {est.mfu:.0%} MFU ({held}), side by side where they can be. "
             f"Raise `hours` or `gpus`, train fewer runs or tokens, or state a measured `mfu`.",
    )]
