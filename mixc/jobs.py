"""The job kinds: one frozen dataclass per kind, the schema of its job file.

The compiler builds these objects and writes them (`mixc.jobfile.dumps`); workers read them
back through the same classes (`mixc.jobfile.load`). Fields are the schema: types are
checked on load, and `__post_init__` checks what types cannot say (raising `FieldError`
with the field's name). Every field enters the job's content hash unless it is declared
`unhashed()`: output folders (named by the hash), labels that only serve messages, and
file paths, which the compiler replaces in the hash by a fingerprint of the files' content.

Which side runs each kind: `tokenizer`, `tokenize`, `train`, `pack`, `eval` run in `mixc.runtime`;
`cluster`, `design`, `propose`, `fit`, `solve`, `report` in `mixc.compiler.jobs`. The meaning of every field is in
runtime/README.md and compiler/README.md.

Pure Python: this module must not import numpy, torch, or anything from spec/compiler/runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from mixc.jobfile import FieldError, unhashed
from mixc.shape import ModelShape, ShapeError

Device = Literal["auto", "cpu", "cuda"]


# ---- pieces shared by several kinds --------------------------------------------------


@dataclass(frozen=True)
class ClusterRef:
    """A discovered domain: the documents a `cluster` job put in cluster `index`."""

    folder: str  # the cluster job's output (its members file)
    index: int

    def __post_init__(self) -> None:
        if self.index < 0:
            raise FieldError("index", f"must be >= 0, got {self.index}")


@dataclass(frozen=True)
class SourceSpec:
    """One data source as jobs see it: its files and how to cut them into documents."""

    name: str = unhashed()  # the group in a store; derived from the tokenize job's hash
    format: Literal["text", "jsonl"]
    field: str | None  # jsonl: the string field that holds the document; text: null
    files: tuple[str, ...] = unhashed()  # glob patterns, absolute or relative to the working directory
    # text: what one document is, "paragraph" (blank-line separated) or "file" (a whole file,
    # so no file is split between training and held-out text); jsonl: null (one record)
    unit: Literal["paragraph", "file"] | None = None
    cluster: ClusterRef | None = None  # only the documents of one cluster of these files; null: all

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise FieldError("name", f"not a usable source name: {self.name!r}")
        if self.format == "jsonl" and not self.field:
            raise FieldError("field", "a jsonl source needs the name of its text field")
        if self.format == "text" and self.field is not None:
            raise FieldError("field", "must be null for a text source")
        if not self.files:
            raise FieldError("files", "needs at least one file pattern")
        if self.format == "jsonl" and self.unit is not None:
            raise FieldError("unit", "must be null for a jsonl source (a document is one record)")


@dataclass(frozen=True)
class SourceGroup:
    """A source by its spec name and its group in the token store."""

    name: str
    group: str


@dataclass(frozen=True)
class Term:
    """`coef x quantity(source)` inside a constraint."""

    source: str
    coef: float


@dataclass(frozen=True)
class Constraint:
    """One linear constraint on the mixture: sum of terms `op` rhs."""

    quantity: Literal["weight", "epochs"]
    terms: tuple[Term, ...]
    op: Literal["<=", ">=", "=="]
    rhs: float
    label: str = unhashed()  # "<spec file>:<line>", for messages only


@dataclass(frozen=True)
class ObjectiveTerm:
    coef: float
    target: str  # a source (its holdout) or an evaluation set


@dataclass(frozen=True)
class Objective:
    """What the mixture should minimise: a weighted sum or the worst of the losses, plus an
    optional KL pull toward a prior mixture."""

    kind: Literal["sum", "max"]
    terms: tuple[ObjectiveTerm, ...]
    kl: float
    kl_prior: str | None


@dataclass(frozen=True)
class WeightsFile:
    """Weights another job decides at run time: `path` is JSON {"mixtures": {key: [w, ...]}}."""

    path: str
    key: str


@dataclass(frozen=True)
class Phase:
    """One phase of a piecewise mixture: from step `start` (0-based) on, batches are drawn from
    `weights`, or from the mixture `weights_file` names (one of the two, the other null)."""

    start: int
    weights: list[float] | None
    weights_file: WeightsFile | None


@dataclass(frozen=True)
class DoReMiControl:
    """DoReMi's Group DRO over the sources (Xie et al. 2023) against a reference model."""

    reference: str  # the reference run's model folder, native format (a train job's `<output>/model`)
    step_size: float  # eta of the exponentiated-gradient update of the domain weights
    smoothing: float  # c: the share of uniform mixed into the weights at every step


@dataclass(frozen=True)
class AioliControl:
    """Aioli's online mixing-law estimate (Chen et al. 2024), in `rounds` rounds of the run."""

    rounds: int  # T
    learn_fraction: float  # delta: the share of each round spent estimating the law's matrix A
    sweeps: int  # k: passes over the sources in each estimate
    smoothing: float  # epsilon: the share of uniform in each probe mixture, 1 - epsilon on the probed source
    step_size: float  # eta of the exponentiated-gradient update p <- p * exp(eta * sum_i A_ij)
    eval_tokens: int  # predicted tokens per source of each loss measurement (fixed training windows)

    def layout(self, steps: int, sources: int) -> tuple[int, int]:
        """(steps of a round, steps of a probe) in a run of `steps` over `sources`: the first
        learn_fraction of a round goes to its sweeps x sources probes, each at least one step;
        the last round also takes the steps left over."""
        round_steps = steps // self.rounds
        return round_steps, max(1, int(self.learn_fraction * round_steps) // (self.sweeps * sources))

    def fits(self, steps: int, sources: int) -> bool:
        """Whether every round holds its probes and still trains on what they found."""
        round_steps, probe = self.layout(steps, sources)
        return probe * self.sweeps * sources < round_steps


@dataclass(frozen=True)
class MixtureControl:
    """A mixture that changes while training: piecewise `phases`, or an online method. With
    `doremi` and `aioli` the job's `weights` (or `weights_file`) are the starting mixture."""

    kind: Literal["phases", "doremi", "aioli"]
    phases: tuple[Phase, ...]  # phases only: at least one, the first at step 0; otherwise empty
    doremi: DoReMiControl | None  # doremi only
    aioli: AioliControl | None  # aioli only

    @property
    def online(self) -> bool:
        """Whether the mixture depends on the training itself (not a function of the step alone)."""
        return self.kind in ("doremi", "aioli")


def _check_control(control: MixtureControl, steps: int, sources: int) -> None:
    """What types cannot say about a mixture control of a run of `steps` over `sources`."""
    if bool(control.phases) != (control.kind == "phases"):
        raise FieldError("control.phases", "phases are given with kind phases, and only then")
    for name in ("doremi", "aioli"):
        if (getattr(control, name) is not None) != (control.kind == name):
            raise FieldError(f"control.{name}", f"given with kind {name}, and only then (null otherwise)")
    starts = [p.start for p in control.phases]
    if starts and (starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:])) or starts[-1] >= steps):
        raise FieldError("control.phases", f"phase starts must rise from 0 and stay below steps ({steps}), got {starts}")
    for i, p in enumerate(control.phases):
        if (p.weights is None) == (p.weights_file is None):
            raise FieldError(f"control.phases[{i}].weights", "give either weights or weights_file (the other null)")
        if p.weights is not None and len(p.weights) != sources:
            raise FieldError(f"control.phases[{i}].weights", f"{len(p.weights)} weights for {sources} sources")
    d, a = control.doremi, control.aioli
    if d is not None and (d.step_size <= 0 or not 0 <= d.smoothing <= 1):
        raise FieldError("control.doremi", f"need step_size > 0 and smoothing in [0, 1], got {d.step_size}, {d.smoothing}")
    if a is not None:
        if a.rounds < 1 or a.sweeps < 1 or a.eval_tokens < 1:
            raise FieldError("control.aioli", "rounds, sweeps and eval_tokens must be >= 1")
        if not 0 < a.learn_fraction < 1 or not 0 <= a.smoothing < 1 or a.step_size <= 0:
            raise FieldError("control.aioli", "need learn_fraction in (0, 1), smoothing in [0, 1), step_size > 0")
        if not a.fits(steps, sources):
            raise FieldError("control.aioli", f"{steps} steps in {a.rounds} rounds cannot hold {a.sweeps} sweep(s) "
                             f"of {sources} probes a round and still train on what they found")


# ---- runtime kinds -------------------------------------------------------------------


@dataclass(frozen=True)
class TokenizerJob:
    """Kind `tokenizer`: build a tokenizer folder at `output`."""

    type: Literal["byte", "bpe", "hf"]
    vocab: int | None  # bpe: target vocabulary size (>= 257); otherwise null
    path: str | None = unhashed()  # hf: a tokenizer.json, or a folder holding one; otherwise null
    sources: tuple[SourceSpec, ...]  # bpe: sources to sample the training text from
    sample_bytes: int  # bpe: at most this many bytes of training text, shared equally
    seed: int  # bpe: seeds the sample, and keys the held-out split (as the tokenize jobs do)
    holdout: float  # bpe: the sources' held-out share; held-out documents stay out of the sample
    output: str = unhashed()  # the tokenizer folder to write

    def __post_init__(self) -> None:
        if self.type == "bpe":
            if self.vocab is None or not 257 <= self.vocab <= 1 << 20:
                raise FieldError("vocab", "bpe needs a vocab between 257 and 1048576")
            if not self.sources:
                raise FieldError("sources", "bpe needs at least one source to train on")
            if self.sample_bytes < 1024:
                raise FieldError("sample_bytes", "must be at least 1024")
        elif self.vocab is not None:
            raise FieldError("vocab", f"must be null for a {self.type} tokenizer")
        if (self.type == "hf") != (self.path is not None):
            raise FieldError("path", "hf needs a path; byte and bpe need null")
        if not 0.0 <= self.holdout < 1.0:
            raise FieldError("holdout", f"must be in [0, 1), got {self.holdout}")


@dataclass(frozen=True)
class TokenizeJob:
    """Kind `tokenize`: write `<store>/<source.name>`."""

    source: SourceSpec
    tokenizer: str  # a folder written by a `tokenizer` job
    store: str  # the store root
    holdout: float  # fraction of documents (by hash) that go to `valid`, in [0, 1]; 1: an evaluation-only set
    seed: int  # keys the split hash

    def __post_init__(self) -> None:
        if not 0.0 <= self.holdout <= 1.0:
            raise FieldError("holdout", f"must be in [0, 1], got {self.holdout}")


@dataclass(frozen=True)
class TrainJob:
    """Kind `train`: train one model on one mixture (runtime/README.md has every field)."""

    model: ModelShape
    rope_theta: float
    load_balance_coef: float
    z_loss_coef: float
    store: str
    tokenizer: str | None
    sources: list[str]
    weights: list[float] | None
    weights_file: WeightsFile | None
    control: MixtureControl | None  # a mixture that changes while training; null: `weights` throughout
    seed: int
    steps: int
    batch_size: int
    micro_batch: int
    lr: float
    min_lr: float
    schedule: Literal["constant", "cosine"]
    warmup_steps: int
    weight_decay: float
    beta1: float
    beta2: float
    grad_clip: float | None
    checkpoint_every: int
    log_every: int
    eval_sources: list[str]
    eval_tokens: int  # predicted tokens per evaluation set, at most
    eval_seq_len: int  # evaluation window length: one for every run of an experiment, <= model.seq_len
    device: Device
    compile: bool | None
    export: bool
    output: str = unhashed()

    def __post_init__(self) -> None:
        try:
            self.model.resolved()
        except ShapeError as err:
            raise FieldError(f"model.{err.field}", err.message) from None
        for name in ("steps", "batch_size", "micro_batch", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise FieldError(name, f"must be >= 1, got {getattr(self, name)}")
        if self.batch_size % self.micro_batch:
            raise FieldError("micro_batch", f"{self.micro_batch} does not divide batch_size {self.batch_size}")
        if not 0 < self.lr or not 0 <= self.min_lr <= self.lr:
            raise FieldError("min_lr", f"need 0 < lr and 0 <= min_lr <= lr, got lr {self.lr}, min_lr {self.min_lr}")
        if self.warmup_steps < 0 or self.eval_tokens < 0 or self.seed < 0:
            raise FieldError("warmup_steps", "warmup_steps, eval_tokens and seed must be >= 0")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise FieldError(name, f"must be in [0, 1), got {getattr(self, name)}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise FieldError("grad_clip", f"must be > 0 or null, got {self.grad_clip}")
        if not 1 <= self.eval_seq_len <= self.model.seq_len:
            raise FieldError("eval_seq_len", f"must be in [1, model.seq_len = {self.model.seq_len}], "
                             f"got {self.eval_seq_len}")
        self._check_mixture()

    def _check_mixture(self) -> None:
        phased = self.control is not None and self.control.kind == "phases"
        if phased and (self.weights is not None or self.weights_file is not None):
            raise FieldError("weights", "a phased run takes its mixtures from its phases: weights and weights_file null")
        if not phased and (self.weights is None) == (self.weights_file is None):
            raise FieldError("weights", "give either weights or weights_file (the other null)")
        if self.control is not None:
            _check_control(self.control, self.steps, len(self.sources))
        if self.weights is not None and len(self.sources) != len(self.weights):
            raise FieldError("weights", f"{len(self.weights)} weights for {len(self.sources)} sources")
        if self.rope_theta <= 0 or self.load_balance_coef < 0 or self.z_loss_coef < 0:
            raise FieldError("rope_theta", "rope_theta must be > 0; load_balance_coef and z_loss_coef >= 0")


# What the members of one pack may differ in: everything else (the model and the recipe) is
# shared, so that they can step together.
PACK_MAY_DIFFER = ("store", "tokenizer", "sources", "weights", "weights_file", "seed", "eval_sources", "eval_tokens",
                   "export", "output")


@dataclass(frozen=True)
class PackJob:
    """Kind `pack`: the models of several train jobs trained together in one process, each
    writing exactly what its train job would (runtime/README.md, "Kind `pack`")."""

    members: tuple[TrainJob, ...]

    def __post_init__(self) -> None:
        if not self.members:
            raise FieldError("members", "a pack needs at least one member")
        outputs = [m.output for m in self.members]
        for i, output in enumerate(outputs):
            if output in outputs[:i]:
                raise FieldError(f"members[{i}].output", f"{output!r} is also member {outputs.index(output)}'s output")
        first = self.members[0]
        for i, member in enumerate(self.members):
            if member.control is not None and member.control.online:
                raise FieldError(f"members[{i}].control", f"a {member.control.kind} run adapts its own mixture "
                                 "from its own losses and trains alone, not in a pack")
        for i, member in enumerate(self.members[1:], 1):
            differ = [name for name in _pack_fields() if _pack_value(member, name) != _pack_value(first, name)]
            if differ:
                found = ", ".join(f"{n} {_pack_value(member, n)!r} vs {_pack_value(first, n)!r}" for n in differ)
                raise FieldError(f"members[{i}].{differ[0]}",
                                 f"member {i} cannot be packed with member 0, it differs in {found}; the members "
                                 f"of a pack share the model and the recipe and may differ only in "
                                 f"{', '.join(PACK_MAY_DIFFER)}")


def _pack_fields() -> list[str]:
    return [f.name for f in fields(TrainJob) if f.name not in PACK_MAY_DIFFER]


def _pack_value(job: TrainJob, name: str) -> object:
    # Shapes compare resolved: kv_heads 0 and kv_heads = heads are the same model.
    return job.model.resolved() if name == "model" else getattr(job, name)


@dataclass(frozen=True)
class EvalJob:
    """Kind `eval`: per-source loss of a trained model on the valid splits."""

    model: str  # a model directory in the native format (a train job's `<output>/model`)
    store: str
    sources: list[str]
    tokens: int  # predicted tokens per source (at most)
    seq_len: int | None  # evaluation window length (<= the model's); null: the model's seq_len
    batch_size: int
    device: Device
    output: str = unhashed()

    def __post_init__(self) -> None:
        if not self.sources:
            raise FieldError("sources", "needs at least one source")
        if self.seq_len is not None and self.seq_len < 1:
            raise FieldError("seq_len", f"must be >= 1 or null, got {self.seq_len}")
        for name in ("tokens", "batch_size"):
            if getattr(self, name) < 1:
                raise FieldError(name, f"must be >= 1, got {getattr(self, name)}")


# ---- compiler kinds ------------------------------------------------------------------


@dataclass(frozen=True)
class DesignBaseline:
    """A baseline whose epoch caps the design holds (natural, uniform) or checks (a fixed mixture)."""

    name: str  # "natural", "uniform" or "fixed<N>"
    weights: tuple[float, ...] | None  # a fixed mixture's, one per source; null for natural and uniform
    tokens: tuple[int, ...]  # training tokens of every run on it


@dataclass(frozen=True)
class ClusterJob:
    """Kind `cluster`: split a source's documents into k clusters (compiler/clusters.py); writes
    `members.npz` (each document's cluster, keyed by its text: runtime.cluster_members) and
    `clusters.json` (each cluster's name, size and example lines)."""

    source: SourceSpec
    names: tuple[str, ...]  # each cluster's source name, in index order
    embedding: Literal["chars", "words"]
    sample: int  # documents the embedding and k-means are fitted on
    seed: int
    output: str = unhashed()

    def __post_init__(self) -> None:
        if len(self.names) < 2:
            raise FieldError("names", "needs a name for each of at least 2 clusters")
        if self.sample < len(self.names):
            raise FieldError("sample", f"must be at least k = {len(self.names)}, got {self.sample}")
        if self.source.cluster is not None:
            raise FieldError("source", "clusters the whole source: its cluster must be null")


@dataclass(frozen=True)
class DesignJob:
    """Kind `design`: the proxy runs' mixtures (none for an online search) and the natural and
    uniform baselines, inside the constraints; writes `mixtures.json`."""

    method: str
    runs: int
    prior: str
    seed: int
    store: str
    sources: tuple[SourceGroup, ...]
    constraints: tuple[Constraint, ...]
    tokens: int  # training tokens of one proxy run (for epoch caps)
    baselines: tuple[DesignBaseline, ...]  # for epoch caps; empty without epoch constraints
    output: str = unhashed()

    def __post_init__(self) -> None:
        if self.runs < 0:
            raise FieldError("runs", f"must be >= 0 (0: the baselines only, for an online search), got {self.runs}")
        if any(b.weights is not None and len(b.weights) != len(self.sources) for b in self.baselines):
            raise FieldError("baselines", f"a fixed baseline needs one weight per source ({len(self.sources)})")


@dataclass(frozen=True)
class FitJob:
    """Kind `fit`: a mixing law from the proxy runs; writes `law.json` and `runs.json`."""

    law: str
    seed: int
    design: str  # the design job's folder
    eval_groups: dict[str, str]  # evaluation set name -> its group in the token store
    targets: tuple[str, ...]
    runs: tuple[str, ...]  # the proxy runs' folders, in the design's order
    sources: tuple[str, ...]
    objective: Objective  # what the targets feed: auto judges laws by their prediction of it
    output: str = unhashed()
    # A search in rounds or at several fidelities: each run's mixture (the file and key it
    # trained on; empty: the design's run<i>) and its fidelity (0 the cheapest; empty: one).
    mixtures: tuple[WeightsFile, ...] = ()
    fidelity: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("mixtures", "fidelity"):
            if getattr(self, name) and len(getattr(self, name)) != len(self.runs):
                raise FieldError(name, f"one per run: {len(getattr(self, name))} for {len(self.runs)} runs")
        if self.fidelity and min(self.fidelity) < 0:
            raise FieldError("fidelity", f"fidelities count from 0, got {min(self.fidelity)}")


@dataclass(frozen=True)
class MeasuredRun:
    """A proxy run as a later round's proposal reads it: its folder, its mixture, its fidelity."""

    output: str  # the train job's folder (its metrics.json)
    mixture: WeightsFile  # the file and key of the mixture it trained on
    fidelity: int  # 0 the cheapest; the last is the one the result is for


@dataclass(frozen=True)
class ProposeJob:
    """Kind `propose`: round `round`'s proxy mixtures, `runs` at each fidelity, proposed from every
    run of the rounds before it (`compiler.mixture.rounds`); writes `mixtures.json`."""

    method: Literal["climb", "ei", "ucb"]
    round: int  # 1 .. rounds - 1 (round 0 is the design job's)
    rounds: int
    runs: int  # proposals trained at each fidelity
    costs: tuple[float, ...]  # a run's FLOPs at each fidelity, relative to the last
    seed: int
    design: str  # the first round's design folder (token counts)
    sources: tuple[str, ...]
    constraints: tuple[Constraint, ...]
    tokens: tuple[int, ...]  # training tokens of a proxy at each fidelity, for epoch caps; empty without them
    eval_groups: dict[str, str]
    objective: Objective
    measured: tuple[MeasuredRun, ...]
    output: str = unhashed()

    def __post_init__(self) -> None:
        if not 1 <= self.round < self.rounds:
            raise FieldError("round", f"must be in 1 .. rounds - 1 = {self.rounds - 1}, got {self.round}")
        if self.runs < 1 or not self.costs or any(c <= 0 for c in self.costs):
            raise FieldError("costs", "needs runs >= 1 and a positive cost per fidelity")
        if any(not 0 <= m.fidelity < len(self.costs) for m in self.measured):
            raise FieldError("measured", f"a run's fidelity must be in 0 .. {len(self.costs) - 1}")


@dataclass(frozen=True)
class SolveJob:
    """Kind `solve`: the best mixture under the law and the constraints; writes `mixtures.json`."""

    fit: str
    design: str
    sources: tuple[str, ...]
    objective: Objective
    constraints: tuple[Constraint, ...]
    extrapolate: bool
    tokens: tuple[int, ...]  # training tokens of every run on the solution, for epoch caps; empty without them
    output: str = unhashed()


@dataclass(frozen=True)
class ReportRun:
    """One measured run, as the report groups it: which mixture, at which scale, which seed."""

    name: str
    role: Literal["proxy", "baseline", "chosen"]
    mixture: str  # "chosen", a baseline's name ("uniform", "natural", "fixed0", ...), or a design key ("run3")
    label: str  # how tables name the mixture: "chosen", "uniform", "mixture(code: 50%, ...)", "proxy 3"
    scale: Literal["proxy", "target"]  # trained with the search's proxy recipe, or with the final recipe
    replicate: int  # 0 .. replicates - 1; the run's seed is the experiment's seed + replicate
    output: str
    round: int = 0  # a proxy of a search in rounds: the round it was proposed in (0: the first design)
    fidelity: str = ""  # a proxy of a search at several fidelities: the recipe it trained with


@dataclass(frozen=True)
class ReportJob:
    """Kind `report`: summary.json, report.md, report.html and results.zarr."""

    experiment: str
    sources: tuple[str, ...]
    eval_groups: dict[str, str]
    design: str | None
    fit: str | None
    solve: str | None
    runs: tuple[ReportRun, ...]
    objective: Objective | None
    output: str = unhashed()
    fidelities: tuple[str, ...] = ()  # a search at several fidelities: its proxy recipes, the last the result's
    clusters: tuple[str, ...] = ()  # the cluster jobs' folders, for each discovered domain's examples
