"""The typed, resolved experiment that the checker produces and the compiler consumes.

Every default is filled in here and every reference resolved to a name that exists, so
the compiler never re-reads the syntax tree. Spans are kept so that checks which need
the compiler (constraint feasibility, the budget) can still point at source lines.
This module holds data and the catalogue of choices; it does no checking itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from mixc.shape import ModelShape
from mixc.spec.ast import Span

# Catalogues the checker validates against; the compiler's registries must agree
# (tests/spec/test_catalogue.py holds them together).
DEVICES = ("cpu", "a100", "h100", "h200")
LAWS = ("auto", "linear", "loglinear", "powerlaw", "powerlaw_tied", "lightgbm", "gp", "bimix", "quadratic")
SEARCH_METHODS = ("regmix", "doremi", "aioli")
ONLINE_METHODS = ("doremi", "aioli")  # searches that adapt the mixture while a run trains
APPLY = ("weights", "online")  # an online search's result: its average weights, or its controller in the run
SCHEDULES = ("constant", "cosine")
PRIORS = ("natural", "uniform")
DESIGNS = ("dirichlet", "spacefilling")
EMBEDDINGS = ("chars", "words")  # clusters(...): compiler/clusters.py's, its default first
PROPOSE = ("climb", "ei", "ucb")  # how a search in rounds proposes each later round's mixtures (compiler.mixture.rounds)


@dataclass(frozen=True)
class TokenizerSpec:
    kind: str  # "byte", "bpe" or "hf"
    vocab: int | None  # bpe only
    path: str | None  # hf only: a tokenizer.json, relative to the spec's folder
    span: Span


@dataclass(frozen=True)
class ClusterSpec:
    """One of the k sources `source NAME = clusters(...)` makes: cluster `index` of `group`'s documents."""

    group: str  # the name the source was defined under; its clusters are `<group>_0` ... `<group>_<k-1>`
    index: int
    k: int
    seed: int
    embedding: str
    sample: int  # documents the embedding and k-means are fitted on
    span: Span  # the clusters(...) call


@dataclass(frozen=True)
class DataSpec:
    """A source, or an extra evaluation set: files matched by globs, relative to the spec's folder."""

    name: str
    format: str  # "text" or "jsonl"
    patterns: tuple[str, ...]
    field: str | None  # jsonl only
    span: Span
    unit: str | None = None  # text only: "paragraph" (blank-line separated) or "file"
    cluster: ClusterSpec | None = None  # a discovered domain: these files' documents in one cluster


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str  # "dense", "moe" or "mole"
    layers: int
    d_model: int
    heads: int
    kv_heads: int
    d_ff: int  # hidden size of the SwiGLU (of each expert for moe/mole)
    seq_len: int
    tie_embeddings: bool
    rope_theta: float
    experts: int  # 0 for dense
    top_k: int  # 0 for dense
    shared_expert: bool
    rank: int  # mole latent rank; 0 otherwise
    aux_loss: float  # load-balancing loss weight (moe/mole)
    z_loss: float  # router z-loss weight (moe/mole)
    span: Span

    def shape(self, vocab: int) -> ModelShape:
        """The runtime's shape of this model, with the tokenizer's `vocab`."""
        return ModelShape(kind=self.kind, layers=self.layers, d_model=self.d_model, heads=self.heads, vocab=vocab,
                          seq_len=self.seq_len, kv_heads=self.kv_heads, ffn_hidden=self.d_ff, experts=self.experts,
                          top_k=self.top_k, shared_expert=self.shared_expert, rank=self.rank,
                          tie_embeddings=self.tie_embeddings)


@dataclass(frozen=True)
class RecipeSpec:
    name: str
    model: str
    tokens: int
    batch: int
    lr: float
    schedule: str
    warmup: float  # fraction of the steps
    min_lr: float  # fraction of lr reached at the end of a cosine schedule
    weight_decay: float
    clip: float
    accumulate: int  # gradient accumulation steps; `batch` is per optimizer step
    eval_tokens: int  # per evaluation set
    span: Span
    phases: tuple["PhaseSpec", ...] = ()  # a mixture that changes over the run; empty: the run's own


@dataclass(frozen=True)
class PhaseSpec:
    """From `start` (a share of the run's steps) on, train on `mixture`."""

    start: float
    mixture: str  # "chosen" (the search's result), "natural", "uniform", or "fixed" (its `weights`)
    weights: tuple[tuple[str, float], ...] | None  # fixed only
    span: Span


@dataclass(frozen=True)
class OnlineSpec:
    """An online search's parameters (`search doremi { ... }`, `search aioli { ... }`)."""

    reference: str | None  # doremi: the reference model's recipe; aioli: None
    apply: str  # "weights": runs train on the learned average; "online": the chosen runs adapt themselves
    step_size: float  # eta of the exponentiated-gradient update
    smoothing: float  # doremi: c, uniform mixed into the weights; aioli: epsilon, uniform in each probe
    rounds: int  # aioli: T
    learn_fraction: float  # aioli: delta, the share of each round spent probing
    sweeps: int  # aioli: k, probes of every source in a round
    eval_tokens: int  # aioli: predicted tokens per source of each loss measurement


@dataclass(frozen=True)
class SearchSpec:
    method: str
    runs: int  # regmix: proxy runs of each round, at each fidelity
    recipe: str  # the proxy recipe the result is for (with fidelities, the last of them)
    law: str
    prior: str
    design: str
    extrapolate: bool  # let the solve leave the range of weights the proxy runs covered
    pack: int  # proxy runs trained together in one job (runtime kind `pack`); 0: chosen for the device
    span: Span
    runs_span: Span  # the `runs:` entry (aioli: `rounds:`), where errors about the number of runs point
    online: OnlineSpec | None = None  # doremi and aioli; None for regmix (runs is then 0)
    rounds: int = 1  # regmix: rounds of `runs` proxies at every fidelity, each after the runs before it
    propose: str = "climb"  # regmix in rounds: how rounds after the first are proposed (PROPOSE)
    fidelities: tuple[str, ...] = ()  # regmix: the proxy recipes, cheapest first; the last is `recipe`
    fidelities_span: Span | None = None  # the `fidelities:` entry, where errors about them point

    @property
    def proxy_recipes(self) -> tuple[str, ...]:
        """The recipes the search's proxies train with, fidelity 0 (cheapest) first: its
        `fidelities`, or its one recipe."""
        return self.fidelities or (self.recipe,)

    @property
    def proxy_runs(self) -> int:
        """Every proxy run of the search: `runs` a round at each fidelity, in every round."""
        return self.runs * self.rounds * len(self.proxy_recipes)


@dataclass(frozen=True)
class ObjectiveTerm:
    coef: float
    target: str  # a source (its holdout) or an evaluation set


@dataclass(frozen=True)
class ObjectiveSpec:
    kind: str  # "sum" (weighted sum of losses) or "max" (worst case)
    terms: tuple[ObjectiveTerm, ...]
    kl: float  # weight of a KL pull toward `kl_prior`; 0 when absent
    kl_prior: str | None
    span: Span


@dataclass(frozen=True)
class ConstraintSpec:
    """sum(coef * quantity(source)) op rhs, with quantity "weight" or "epochs" for all terms."""

    quantity: str
    coefs: tuple[tuple[str, float], ...]
    op: str  # "<=", ">=" or "=="
    rhs: float
    span: Span


@dataclass(frozen=True)
class BaselineSpec:
    name: str  # "uniform", "natural", or "fixed<N>" for an explicit mixture
    weights: tuple[tuple[str, float], ...] | None  # explicit mixtures only
    span: Span


@dataclass(frozen=True)
class BudgetSpec:
    device: str
    hours: float
    gpus: int
    mfu: float | None  # assumed model FLOPs utilisation; None: the device table's default
    span: Span


@dataclass(frozen=True)
class Experiment:
    name: str
    path: str  # the spec file
    seed: int
    tokenizer: TokenizerSpec
    holdout: float
    sources: tuple[DataSpec, ...]
    eval_sets: tuple[DataSpec, ...]
    models: tuple[ModelSpec, ...]
    recipes: tuple[RecipeSpec, ...]
    search: SearchSpec | None
    objective: ObjectiveSpec | None
    constraints: tuple[ConstraintSpec, ...]
    final: str | None
    baselines: tuple[BaselineSpec, ...]  # trained with the proxy recipe
    validate: tuple[BaselineSpec, ...]  # those also trained with the final recipe (each is in `baselines`)
    replicates: int  # seeds of the chosen mixture and of each baseline, at each scale
    budget: BudgetSpec | None
    span: Span

    def model(self, name: str) -> ModelSpec:
        return next(m for m in self.models if m.name == name)

    def recipe(self, name: str) -> RecipeSpec:
        return next(r for r in self.recipes if r.name == name)

    @property
    def source_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sources)
