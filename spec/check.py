"""Static checks of a loaded spec, producing a typed `Experiment` or diagnostics.

Everything here runs without data and without heavy imports: names, duplicates, types,
units, ranges, references, and model shape rules (the runtime's own, from `mixc.shape`;
none are written here). All problems of a file are reported in one pass. Checks that need the compiler (constraint feasibility, the budget) plug in
through `hooks`: callables run on the finished Experiment, returning more diagnostics.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Sequence

from mixc.shape import default_ffn_hidden, problems as shape_problems
from mixc.spec import ast
from mixc.spec.diagnostics import Diagnostic, Note, sort_key
from mixc.spec.experiment import (APPLY, DESIGNS, DEVICES, EMBEDDINGS, LAWS, ONLINE_METHODS, PRIORS, PROPOSE,
                                  SCHEDULES, SEARCH_METHODS, BaselineSpec, BudgetSpec, ClusterSpec, ConstraintSpec,
                                  DataSpec, Experiment,
                                  ModelSpec, ObjectiveSpec, ObjectiveTerm, OnlineSpec, PhaseSpec, RecipeSpec, SearchSpec,
                                  TokenizerSpec)
from mixc.spec.fields import Field, Read, closest, did_you_mean, describe, number_of, read_fields, read_value
from mixc.spec.load import Loaded

Hook = Callable[[Experiment], Iterable[Diagnostic]]

POSITIVE = dict(min=0, open_min=True)

SETTINGS = {
    "seed": Field("int", 0, min=0, max=2**32 - 1, doc="random seed of the whole experiment"),
    "holdout": Field("fraction", 0.01, min=0, max=0.5, open_min=True, open_max=True,
                     doc="share of each source's documents kept for evaluation"),
    "replicates": Field("int", 1, min=1, max=64, doc="seeds of the chosen mixture and of each baseline, at each scale"),
}

_SHAPE = {
    "layers": Field("int", **POSITIVE, max=1024),
    "d_model": Field("int", **POSITIVE, max=2**20),
    "heads": Field("int", **POSITIVE, max=4096),
    "kv_heads": Field("int", None, **POSITIVE, doc="defaults to heads"),
    "d_ff": Field("int", None, **POSITIVE, doc="defaults to 8/3 d_model rounded up to a multiple of 32"),
    "seq_len": Field("int", min=8, max=2**20),
    "tie_embeddings": Field("bool", True),
    "rope_theta": Field("float", 10000.0, **POSITIVE),
}
_EXPERTS = {
    "experts": Field("int", min=1, max=4096),
    "top_k": Field("int", 2, min=1),
    "shared_expert": Field("bool", False),
    "aux_loss": Field("float", 0.01, min=0),
    "z_loss": Field("float", 0.001, min=0),
}
MODELS = {
    "dense": _SHAPE,
    "moe": {**_SHAPE, **_EXPERTS},
    "mole": {**_SHAPE, **_EXPERTS, "rank": Field("int", None, **POSITIVE, doc="latent rank; defaults to d_model / 2")},
}

RECIPE = {
    "model": Field("ref", doc="the model to train"),
    "tokens": Field("int", **POSITIVE, doc="training tokens, e.g. 300k"),
    "batch": Field("int", 16, **POSITIVE),
    "lr": Field("float", 3e-3, **POSITIVE, max=1),
    "schedule": Field("choice", "cosine", choices=SCHEDULES),
    "warmup": Field("fraction", 0.05, min=0, max=1, open_max=True),
    "min_lr": Field("fraction", 0.1, min=0, max=1),
    "weight_decay": Field("float", 0.1, min=0),
    "clip": Field("float", 1.0, min=0),
    "accumulate": Field("int", 1, min=1),
    "eval_tokens": Field("int", 65536, **POSITIVE),
}

SEARCH = {
    "runs": Field("int", min=1, max=100000, doc="number of proxy runs (of each round, at each fidelity)"),
    "train": Field("ref", None, doc="the recipe of the proxy runs"),
    "rounds": Field("int", 1, min=1, max=1000,
                    doc="rounds of `runs` proxy runs, each proposed from the runs before it"),
    "propose": Field("choice", "climb", choices=PROPOSE, doc="how rounds after the first are proposed"),
    "fidelities": Field("refs", (), doc="proxy recipes, cheapest first; the result is for the last"),
    "law": Field("choice", "auto", choices=LAWS),
    "prior": Field("choice", "natural", choices=PRIORS),
    "design": Field("choice", "dirichlet", choices=DESIGNS),
    "extrapolate": Field("bool", False, doc="let the solve leave the weights the proxy runs covered"),
    "pack": Field("int", 0, min=0, max=1024, doc="proxy runs trained together in one job; 0: chosen for the device"),
}

# DoReMi's defaults are its paper's (Xie et al. 2023): step size 1, smoothing 1e-3, a uniform reference.
DOREMI = {
    "reference": Field("ref", doc="the recipe of the reference model, trained on the prior"),
    "proxy": Field("ref", doc="the recipe of the proxy run that learns the weights against the reference"),
    "prior": Field("choice", "uniform", choices=PRIORS,
                   doc="the reference's mixture, which the proxy's batches are drawn from"),
    "step_size": Field("float", 1.0, **POSITIVE, max=1000),
    "smoothing": Field("fraction", 1e-3, min=0, max=1, open_max=True, doc="uniform mixed into the weights each step"),
    "apply": Field("choice", "weights", choices=APPLY),
}
AIOLI = {
    "proxy": Field("ref", doc="the recipe of the proxy run that learns the weights"),
    "prior": Field("choice", "uniform", choices=PRIORS, doc="the starting mixture"),
    "rounds": Field("int", 4, min=1, max=10000),
    "learn_fraction": Field("fraction", 0.2, min=0, max=1, open_min=True, open_max=True,
                            doc="the share of each round spent probing the sources"),
    "sweeps": Field("int", 1, min=1, max=1000),
    "smoothing": Field("fraction", 0.1, min=0, max=1, open_max=True, doc="uniform mixed into each probe"),
    "step_size": Field("float", 1.0, **POSITIVE, max=1000),
    "eval_tokens": Field("int", 4096, **POSITIVE, doc="tokens per source of each loss measurement"),
    "apply": Field("choice", "online", choices=APPLY),
}
SEARCHES = {"regmix": SEARCH, "doremi": DOREMI, "aioli": AIOLI}

BUDGET = {
    "device": Field("choice", "cpu", choices=DEVICES),
    "hours": Field("float", **POSITIVE),
    "gpus": Field("int", 1, min=1),
    "mfu": Field("fraction", None, min=0, max=1, open_min=True),
}

TOKENIZERS = {"byte": {}, "bpe": {"vocab": Field("int", min=260, max=2**31)}, "hf": {}}
DATA = {"text": {"unit": Field("choice", "paragraph", choices=("paragraph", "file"),
                                doc="what one document is: a blank-line paragraph, or a whole file")},
        "jsonl": {"field": Field("string", "text")}}
# clusters(text(...), k: 8): a source's documents split into k discovered domains (compiler/clusters.py)
CLUSTERS = {
    "k": Field("int", min=2, max=1024, doc="the clusters, each a source named <source>_0 ... <source>_<k-1>"),
    "embedding": Field("choice", EMBEDDINGS[0], choices=EMBEDDINGS, doc="chars: character n-grams; words: words"),
    "sample": Field("int", 10000, min=2, max=10**7, doc="documents the embedding and k-means are fitted on"),
    "seed": Field("int", None, min=0, max=2**32 - 1, doc="defaults to the experiment's seed"),
}


# ModelShape's fields under the spec's names, where they differ.
_SPEC_KEYS = {"ffn_hidden": "d_ff"}
# No shape rule relates the vocabulary (the tokenizer's, checked on its own) to a model's
# keys, so the shape rules run with any size in its place.
_ANY_VOCAB = 256

OBJECTIVE_FORMS = ("minimize loss(a) + 2 * loss(b), or minimize max(loss(a), loss(b)); "
                   "add `+ 0.1 * kl(natural)` to stay near a prior")
CONSTRAINT_FORMS = ("e.g. weight(code) <= 40%, epochs(legal) <= 2, weight(code) <= 2 * weight(docs), "
                    "10% <= weight(email) <= 30%")

PHASE_FORMS = ("phases { 0%: chosen, 80%: mixture(code: 50%, literature: 50%) }: each phase from a share "
               "of the steps on, the first at 0%, on chosen (the search's mixture), natural, uniform or a mixture")

# A side of a constraint: ({(quantity, source): coef}, constant, the literal numbers written in it).
_Linear = tuple[dict[tuple[str, str], float], float, list[ast.Number]]


@dataclass
class _Scope:
    """Definitions visible to the experiment, by kind and name, in the order written."""

    sources: dict[str, ast.Definition]
    evals: dict[str, ast.Definition]
    models: dict[str, ast.Definition]
    recipes: dict[str, ast.Recipe]


@dataclass
class _ObjectiveParts:
    """What the objective's terms add up to while they are read; `ok` turns False once one is reported."""

    terms: list[ObjectiveTerm] = field(default_factory=list)
    kl: list[tuple[float, str]] = field(default_factory=list)  # (weight, prior)
    ok: bool = True


class _Checker:
    """One pass over an experiment: each statement kind has its own method; all diagnostics
    go to `diags`, and a method returns None (or nothing) for a statement it reported."""

    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded
        self.diags: list[Diagnostic] = []
        self.clustered: dict[str, tuple[str, ...]] = {}  # a source split by clusters(...) -> its clusters' names
        self.clustered_at: dict[str, ast.Definition] = {}  # and its definition (checked even when k is not)

    def error(self, code: str, message: str, span: ast.Span, help: str | None = None,
              notes: Sequence[Note] = ()) -> None:
        self.diags.append(Diagnostic(code, message, span, help, tuple(notes)))

    # ---- scope -----------------------------------------------------------------------

    def scope(self, experiment: ast.Experiment) -> _Scope:
        """Every definition the experiment sees: imported files first, then its own file."""
        scope = _Scope({}, {}, {}, {})
        for module in (*self.loaded.imported, self.loaded.root):
            for item in module.items:
                self.define(item, scope)
        for stmt in experiment.body:
            self.define(stmt, scope)
        self.split_clusters(scope)
        return scope

    def split_clusters(self, scope: _Scope) -> None:
        """`source web = clusters(..., k: 8)` defines the sources web_0 ... web_7 in its place
        (all naming its definition); `web` itself is no source. A k that is not a whole number
        in range defines none (the source's own check reports it)."""
        sources: dict[str, ast.Definition] = {}
        for name, d in scope.sources.items():
            if not _is_clusters(d.value):
                sources[name] = d
                continue
            k = _cluster_count(d.value)
            self.clustered[name], self.clustered_at[name] = tuple(cluster_names(name, k or 0)), d
            for generated in self.clustered[name]:
                clash = scope.sources.get(generated) or scope.evals.get(generated) or sources.get(generated)
                if clash is not None:
                    self.error("E020", f"source `{name}` is split into clusters named {name}_0 ... {name}_{k - 1}, "
                               f"and `{generated}` is defined too", clash.name.span,
                               notes=[Note(f"the clusters of `{name}` are defined here", d.name.span)],
                               help=f"rename `{generated}`, or the clustered source")
                    continue
                sources[generated] = d
        scope.sources.clear()
        scope.sources.update(sources)

    def define(self, item: ast.Item | ast.Statement, scope: _Scope) -> None:
        """Add a definition or recipe to `scope`; anything else is not a definition."""
        if isinstance(item, ast.Recipe):
            kind, table = "train recipe", scope.recipes
        elif isinstance(item, ast.Definition):
            kind, table = item.kind, {"source": scope.sources, "eval": scope.evals, "model": scope.models}[item.kind]
        else:
            return
        name = item.name.id
        # Sources and evaluation sets share one namespace: `loss(x)` may name either.
        tables = (scope.sources, scope.evals) if kind in ("source", "eval") else (table,)
        clash = next((t[name] for t in tables if name in t), None)
        if clash is not None:
            self.error("E020", f"{kind} `{name}` is defined twice", item.name.span,
                       notes=[Note("first defined here", clash.name.span)], help="rename one of them")
            return
        table[name] = item

    def ref(self, name: str, span: ast.Span, table: dict, kind: str) -> bool:
        if name in table:
            return True
        if name in self.clustered and kind.startswith("source"):
            names = self.clustered[name]
            self.error("E021", f"source `{name}` is split into {len(names)} clusters, each a source of its own: "
                       f"name one of them", span, help=f"{names[0]} ... {names[-1]}" if names else None)
            return False
        self.error("E021", f"unknown {kind} `{name}`", span,
                   help=did_you_mean(name, table) or (f"defined {kind}s: {', '.join(table)}" if table else f"no {kind} is defined"))
        return False

    def source_ref(self, name: str, span: ast.Span, scope: _Scope) -> bool:
        """A name that must be a source: weights, epochs and mixtures range over sources only."""
        if name in scope.evals:
            self.error("E021", f"`{name}` is an evaluation set, not a source", span,
                       help="weights, epochs and mixtures range over sources; an evaluation set only has a loss")
            return False
        return self.ref(name, span, scope.sources, "source")

    def single(self, stmts: list, what: str):
        """The one statement of a kind that may appear once (None if absent); repeats are E020."""
        for extra in stmts[1:]:
            self.error("E020", f"{what} is given twice", extra.span, notes=[Note("first given here", stmts[0].span)],
                       help="keep one of them")
        return stmts[0] if stmts else None

    # ---- calls -----------------------------------------------------------------------

    def call_fields(self, call: ast.Call, table: dict, what: str) -> dict | None:
        for arg in call.args:
            self.error("E022", f"{what} takes keyword arguments only", arg.span,
                       help=f"name it: `{next(iter(table), 'key')}: ...`" if table else f"write `{call.func.id}()`")
        read = read_fields([(k.name, k.value) for k in call.kwargs], table, what, call.span, self.diags)
        return read.values if read.ok and not call.args else None

    def constructor(self, expr: ast.Expr, options: dict, what: str) -> ast.Call | None:
        """`expr` as a call of one of `options` (a bare name counts as a call without arguments)."""
        if isinstance(expr, ast.Name):
            expr = ast.Call(expr, (), (), expr.span)
        if not isinstance(expr, ast.Call):
            self.error("E024", f"{what} must be one of {', '.join(f'{o}(...)' for o in options)}, got {describe(expr)}", expr.span)
            return None
        if expr.func.id not in options:
            hint = did_you_mean(expr.func.id, options) or f"one of: {', '.join(options)}"
            self.error("E028", f"unknown {what} `{expr.func.id}`", expr.func.span, help=hint)
            return None
        return expr

    # ---- settings, sources and evaluation sets ---------------------------------------

    def settings(self, e: ast.Experiment) -> tuple[Read, TokenizerSpec | None]:
        """`seed`, `holdout` (read with their defaults) and `tokenizer`; unknown or repeated keys are reported."""
        settings: dict[str, ast.Setting] = {}
        for s in _statements(e, ast.Setting):
            if s.key.id in settings:
                self.error("E020", f"`{s.key.id}` is set twice", s.key.span, notes=[Note("first set here", settings[s.key.id].span)])
                continue
            settings[s.key.id] = s
            if s.key.id not in SETTINGS and s.key.id != "tokenizer":
                self.error("E022", f"unknown setting `{s.key.id}`", s.key.span,
                           help=did_you_mean(s.key.id, [*SETTINGS, "tokenizer"]) or "settings are seed, tokenizer and holdout")
        values = read_fields([(s.key, s.value) for k, s in settings.items() if k in SETTINGS], SETTINGS,
                             f"experiment {e.name.id}", e.span, self.diags)
        return values, self.tokenizer(settings.get("tokenizer"))

    def tokenizer(self, setting: ast.Setting | None) -> TokenizerSpec | None:
        if setting is None:
            return TokenizerSpec("byte", None, None, ast.Span("", 0, 0, 0, 0))
        call = self.constructor(setting.value, TOKENIZERS, "tokenizer")
        if call is None:
            return None
        kind = call.func.id
        if kind == "hf":
            if len(call.args) != 1 or not isinstance(call.args[0], ast.String) or call.kwargs:
                self.error("E024", "hf(...) takes one string: the path of a tokenizer.json", call.span,
                           help='hf("tokenizers/my/tokenizer.json")')
                return None
            return TokenizerSpec("hf", None, call.args[0].value, setting.span)
        values = self.call_fields(call, TOKENIZERS[kind], f"tokenizer {kind}")
        if values is None:
            return None
        return TokenizerSpec(kind, values.get("vocab"), None, setting.span)

    def data(self, d: ast.Definition, value: ast.Expr | None = None) -> DataSpec | None:
        """A source or an evaluation set: a format and its file globs (never read here);
        `value`: the format call, where it is not the definition's whole value (clusters)."""
        if _is_clusters(d.value) and value is None:
            self.error("E028", "an evaluation set is scored whole: clusters(...) splits sources only",
                       d.value.func.span, help=f"write `source {d.name.id} = clusters(...)`, or evaluate on the "
                       "unsplit data")
            return None
        call = self.constructor(d.value if value is None else value, DATA, f"{d.kind} format")
        if call is None:
            return None
        example = f'{call.func.id}("data/{d.name.id}/*.{"txt" if call.func.id == "text" else "jsonl"}.gz")'
        patterns: list[str] = []
        for arg in call.args:
            items = arg.items if isinstance(arg, ast.List) else (arg,)
            for item in items:
                if not isinstance(item, ast.String) or not item.value.strip():
                    self.error("E024", f"{call.func.id}(...) takes file globs as strings", item.span,
                               help=example)
                    return None
                patterns.append(item.value)
        if not patterns:
            self.error("E023", f"{call.func.id}(...) needs at least one file glob", call.span, help=example)
            return None
        read = read_fields([(k.name, k.value) for k in call.kwargs], DATA[call.func.id], f"{call.func.id}(...)", call.span, self.diags)
        if not read.ok:
            return None
        return DataSpec(d.name.id, call.func.id, tuple(patterns), read.values.get("field"), d.span,
                        read.values.get("unit"))

    def sources(self, scope: _Scope, seed: int) -> list[DataSpec | None]:
        """Every source, a clustered one as its k clusters, in the order defined."""
        out: list[DataSpec | None] = []
        for d in dict.fromkeys([*scope.sources.values(), *self.clustered_at.values()]):
            out += self.clusters(d, seed) if _is_clusters(d.value) else [self.data(d)]
        return out

    def clusters(self, d: ast.Definition, seed: int) -> list[DataSpec | None]:
        """`clusters(text(...), k: 8)`: the wrapped source's documents in k clusters, each a
        source named `<name>_<i>`; [None] when something was reported."""
        call = d.value
        example = f'clusters(text("data/{d.name.id}/*.txt.gz"), k: 8)'
        if len(call.args) != 1:
            self.error("E024" if call.args else "E023", "clusters(...) takes one source format to split, then its keys",
                       call.span, help=example)
            return [None]
        if _is_clusters(call.args[0]):
            self.error("E024", "clusters(...) splits a source format, not other clusters", call.args[0].span,
                       help=f"{example}; to split finer, raise k")
            return [None]
        wrapped = self.data(d, call.args[0])
        read = read_fields([(k.name, k.value) for k in call.kwargs], CLUSTERS, "clusters(...)", call.span, self.diags)
        if wrapped is None or not read.ok:
            return [None]
        v = read.values
        if v["sample"] < v["k"]:
            self.error("E026", f"`sample` ({v['sample']}) must be at least k ({v['k']}): k-means needs a document "
                       "for each cluster", read.spans.get("sample", call.span), help=f"sample: {max(v['k'], 10000)}")
            return [None]
        seed = seed if v["seed"] is None else v["seed"]
        return [replace(wrapped, name=name, cluster=ClusterSpec(d.name.id, i, v["k"], seed, v["embedding"],
                                                                v["sample"], call.span))
                for i, name in enumerate(self.clustered[d.name.id])]

    # ---- models and train recipes ----------------------------------------------------

    def model(self, d: ast.Definition) -> ModelSpec | None:
        """A model's keys, then the runtime's shape rules (`mixc.shape`), each at the key it names (E027)."""
        call = self.constructor(d.value, MODELS, "model kind")
        if call is None:
            return None
        kind = call.func.id
        read = read_fields([(k.name, k.value) for k in call.kwargs], MODELS[kind], f"{kind}(...)", call.span, self.diags)
        for arg in call.args:
            self.error("E022", f"{kind}(...) takes keyword arguments only", arg.span, help="name it, e.g. `layers: 2`")
        if not read.ok:
            return None
        model = _model_spec(d, kind, read.values)
        broken = shape_problems(model.shape(_ANY_VOCAB))
        for problem in broken:
            key = _SPEC_KEYS.get(problem.field, problem.field)
            self.error("E027", problem.message, read.spans.get(key, call.span), help=problem.hint or None)
        return None if broken or call.args else model

    def recipe(self, r: ast.Recipe, scope: _Scope) -> RecipeSpec | None:
        read = read_fields([(e.key, e.value) for e in r.body.entries], RECIPE, f"train {r.name.id}", r.span, self.diags)
        v = read.values
        phases = self.phases(r, scope)
        if "model" in read.spans and not self.ref(v["model"], read.spans["model"], scope.models, "model") or not read.ok:
            return None
        if v["batch"] % v["accumulate"]:
            self.error("E026", f"batch {v['batch']} is not divisible by accumulate {v['accumulate']}",
                       read.spans.get("accumulate", r.span), help="each accumulation step takes batch / accumulate sequences")
            return None
        return RecipeSpec(name=r.name.id, span=r.span, phases=phases or (), **v) if phases is not None else None

    def phases(self, r: ast.Recipe, scope: _Scope) -> tuple[PhaseSpec, ...] | None:
        """`phases { 0%: natural, 80%: mixture(...) }`: starts rising from 0% and below 100%, each
        mixture `chosen`, `natural`, `uniform` or a fixed one. None when one was reported."""
        for extra in r.body.phases[1:]:
            self.error("E020", f"train {r.name.id} has two `phases` blocks", extra.span,
                       notes=[Note("first given here", r.body.phases[0].span)], help="keep one of them")
            return None
        if not r.body.phases:
            return ()
        block, out = r.body.phases[0], []
        if not block.items:
            self.error("E023", "`phases` needs at least one phase", block.span, help=PHASE_FORMS)
            return None
        for i, p in enumerate(block.items):
            start = read_value("phase start", Field("fraction", min=0, max=1, open_max=True), p.start, self.diags)
            if start is None:
                return None
            if i == 0 and start != 0:
                self.error("E026", f"the first phase starts at 0%, not {p.start.text}", p.start.span, help=PHASE_FORMS)
                return None
            if out and start <= out[-1].start:
                self.error("E026", f"phase starts must rise: {p.start.text} comes after "
                           f"{block.items[i - 1].start.text}", p.start.span, help=PHASE_FORMS)
                return None
            mixture = self.phase_mixture(p.mixture, scope)
            if mixture is None:
                return None
            out.append(PhaseSpec(float(start), mixture[0], mixture[1], p.span))
        return tuple(out)

    def phase_mixture(self, e: ast.Expr, scope: _Scope) -> tuple[str, tuple | None] | None:
        if isinstance(e, ast.Name) and e.id in (*PRIORS, "chosen"):
            return e.id, None
        if isinstance(e, ast.Call) and e.func.id == "mixture" and not e.args and e.kwargs:
            fixed = self.fixed_mixture(e, "fixed", scope)
            return ("fixed", fixed.weights) if fixed is not None else None
        if isinstance(e, ast.Name):
            self.error("E021", f"unknown mixture `{e.id}` in a phase", e.span,
                       help=did_you_mean(e.id, (*PRIORS, "chosen")) or PHASE_FORMS)
        else:
            self.error("E024", f"a phase trains on a mixture, got {describe(e)}", e.span, help=PHASE_FORMS)
        return None

    # ---- search, final, budget -------------------------------------------------------

    def search(self, s: ast.Search, scope: _Scope) -> SearchSpec | None:
        if s.method.id not in SEARCH_METHODS:
            self.error("E028", f"unknown search method `{s.method.id}`", s.method.span,
                       help=did_you_mean(s.method.id, SEARCH_METHODS) or f"one of: {', '.join(SEARCH_METHODS)}")
            return None
        for p in s.body.phases:
            self.error("E022", "`phases` belong in a train recipe, not in a search", p.span,
                       help="put them in the final recipe: train NAME { ..., phases { 0%: chosen, 80%: ... } }")
        method = s.method.id
        read = read_fields([(x.key, x.value) for x in s.body.entries], SEARCHES[method], f"search {method}", s.span,
                           self.diags)
        v = read.values
        if method == "regmix":
            return self.regmix(s, read, scope)
        recipes = [k for k in ("train", "proxy", "reference") if k in SEARCHES[method]]
        found = [k in read.spans and self.ref(v[k], read.spans[k], scope.recipes, "train recipe") for k in recipes]
        if not all(found) or not read.ok or s.body.phases:
            return None
        aioli = method == "aioli"
        online = OnlineSpec(reference=v.get("reference"), apply=v["apply"], step_size=v["step_size"],
                            smoothing=v["smoothing"], rounds=v.get("rounds", 1), learn_fraction=v.get("learn_fraction", 0.0),
                            sweeps=v.get("sweeps", 1), eval_tokens=v.get("eval_tokens", 0))
        rounds_span = next((x.span for x in s.body.entries if x.key.id == "rounds"), s.span) if aioli else s.span
        return SearchSpec(method, 0, v["proxy"], "auto", v["prior"], "dirichlet", False, 1, s.span, rounds_span, online)

    def regmix(self, s: ast.Search, read: Read, scope: _Scope) -> SearchSpec | None:
        """`search regmix`: its recipe (`train`, or the last of `fidelities`), its rounds."""
        v, spans = read.values, read.spans
        ok = read.ok and not s.body.phases
        if "train" in spans:
            ok = self.ref(v["train"], spans["train"], scope.recipes, "train recipe") and ok
        fidelities = v.get("fidelities", ())
        if "fidelities" in spans:
            ok = self.fidelities(s, scope) and ok
            if ok and "train" in spans and v["train"] != fidelities[-1]:
                self.error("E035", f"`train: {v['train']}` is not the last of `fidelities`, the fidelity the result "
                           "is for", spans["train"], help=f"leave out `train`, or put `{v['train']}` last in "
                           "`fidelities`")
                ok = False
        elif not any(x.key.id in ("train", "fidelities") or x.key.id not in SEARCH
                     and closest(x.key.id, SEARCH) == "train" for x in s.body.entries):  # reported as written
            self.error("E023", "search regmix needs `train`", s.span,
                       help="add `train: ...` (the recipe of the proxy runs), or `fidelities: [cheap, ..., proxy]`")
            ok = False
        if "propose" in spans and v.get("rounds") == 1:
            self.error("W003", "`propose` has no effect in a search of one round", spans["propose"],
                       help="add `rounds: N` (N > 1), or remove `propose`")
        if ok and v["rounds"] > 1 and v["runs"] * (len(fidelities) or 1) < 2:
            self.error("E026", "a search in rounds needs at least 2 runs in its first round, to propose the next from",
                       spans["runs"], help="give `runs: 2` or more")
            ok = False
        if not ok:
            return None
        runs_span = next(x.span for x in s.body.entries if x.key.id == "runs")
        recipe = fidelities[-1] if fidelities else v["train"]
        return SearchSpec("regmix", v["runs"], recipe, v["law"], v["prior"], v["design"], v["extrapolate"], v["pack"],
                          s.span, runs_span, rounds=v["rounds"], propose=v["propose"], fidelities=fidelities,
                          fidelities_span=spans.get("fidelities"))

    def fidelities(self, s: ast.Search, scope: _Scope) -> bool:
        """`fidelities: [a, b]`: at least two recipes, each defined, none twice."""
        entry = next(x for x in s.body.entries if x.key.id == "fidelities")
        ok, seen = True, {}
        for item in entry.value.items:
            if item.id in seen:
                self.error("E020", f"`{item.id}` is named twice in `fidelities`", item.span,
                           notes=[Note("first named here", seen[item.id].span)], help="name each recipe once")
                ok = False
            else:
                seen[item.id] = item
                ok = self.ref(item.id, item.span, scope.recipes, "train recipe") and ok
        if len(entry.value.items) < 2:
            self.error("E026", f"`fidelities` names at least two recipes, cheapest first, got "
                       f"{len(entry.value.items)}", entry.value.span,
                       help="with one proxy recipe write `train: NAME` instead")
            ok = False
        return ok

    def final(self, f: ast.Final, scope: _Scope) -> str | None:
        return f.recipe.id if self.ref(f.recipe.id, f.recipe.span, scope.recipes, "train recipe") else None

    def budget(self, b: ast.Budget) -> BudgetSpec | None:
        read = read_fields([(x.key, x.value) for x in b.body.entries], BUDGET, "budget", b.span, self.diags)
        return BudgetSpec(span=b.span, **read.values) if read.ok else None

    # ---- objective -------------------------------------------------------------------

    def objective(self, obj: ast.Objective, scope: _Scope) -> ObjectiveSpec | None:
        """`minimize` a weighted sum of losses, or the worst of several, optionally `+ c * kl(prior)`."""
        parts = _ObjectiveParts()
        e, kl_part = obj.expr, None
        if isinstance(e, ast.BinOp) and e.op == "+" and isinstance(e.left, ast.Call) and e.left.func.id == "max":
            e, kl_part = e.left, e.right
        kind = "max" if isinstance(e, ast.Call) and e.func.id == "max" else "sum"
        if kind == "max":
            self.worst_case(e, kl_part, scope, parts)
        else:
            self.objective_term(e, 1.0, True, scope, parts)
        if parts.ok and not parts.terms:
            self.error("E031", "the objective names no loss", obj.expr.span, help=OBJECTIVE_FORMS)
            parts.ok = False
        if parts.ok and len(parts.kl) > 1:
            self.error("E031", "kl(...) may appear once", obj.expr.span, help=OBJECTIVE_FORMS)
            parts.ok = False
        if not parts.ok:
            return None
        kl, prior = parts.kl[0] if parts.kl else (0.0, None)
        return ObjectiveSpec(kind, tuple(parts.terms), kl, prior, obj.span)

    def worst_case(self, e: ast.Call, kl_part: ast.Expr | None, scope: _Scope, parts: _ObjectiveParts) -> None:
        """`max(loss(a), ...)`, to which only a kl(...) term may be added."""
        if len(e.args) < 1 or e.kwargs:
            self.error("E031", "max(...) takes one or more losses", e.span, help=OBJECTIVE_FORMS)
            parts.ok = False
        for arg in e.args:
            self.objective_term(arg, 1.0, False, scope, parts)
        if kl_part is not None:
            before = len(parts.terms)
            self.objective_term(kl_part, 1.0, True, scope, parts)
            if len(parts.terms) != before:
                self.error("E031", "only kl(...) may be added to max(...)", kl_part.span, help=OBJECTIVE_FORMS)
                parts.ok = False

    def objective_term(self, expr: ast.Expr, coef: float, allow_kl: bool, scope: _Scope, parts: _ObjectiveParts) -> None:
        """Add `coef * expr` to `parts`: sums and differences, scaling by numbers, loss(...) and kl(...)."""
        if isinstance(expr, ast.BinOp) and expr.op in "+-":
            self.objective_term(expr.left, coef, allow_kl, scope, parts)
            self.objective_term(expr.right, -coef if expr.op == "-" else coef, allow_kl, scope, parts)
            return
        if isinstance(expr, ast.BinOp) and expr.op == "*":
            n, other = number_of(expr.left), expr.right
            if n is None:
                n, other = number_of(expr.right), expr.left
            if n is not None:
                self.objective_term(other, coef * n.value, allow_kl, scope, parts)
                return
        if isinstance(expr, ast.BinOp) and expr.op == "/" and (n := number_of(expr.right)) and n.value:
            self.objective_term(expr.left, coef / n.value, allow_kl, scope, parts)
            return
        if isinstance(expr, ast.BinOp) and expr.op in "*/":
            self.error("E031", "a loss may only be scaled by a nonzero number", expr.span, help=OBJECTIVE_FORMS)
            parts.ok = False
        elif isinstance(expr, ast.Call) and expr.func.id == "loss":
            self.loss_term(expr, coef, scope, parts)
        elif allow_kl and isinstance(expr, ast.Call) and expr.func.id == "kl":
            self.kl_term(expr, coef, parts)
        else:
            self.error("E031", f"the objective cannot contain {describe(expr)} here", expr.span, help=OBJECTIVE_FORMS)
            parts.ok = False

    def loss_term(self, expr: ast.Call, coef: float, scope: _Scope, parts: _ObjectiveParts) -> None:
        name = expr.args[0] if len(expr.args) == 1 and not expr.kwargs else None
        if not isinstance(name, ast.Name):
            self.error("E031", "loss(...) takes one source or evaluation set name", expr.span, help=OBJECTIVE_FORMS)
            parts.ok = False
        elif not self.ref(name.id, name.span, {**scope.sources, **scope.evals}, "source or evaluation set"):
            parts.ok = False
        elif coef <= 0:
            self.error("E031", "a loss in the objective needs a positive weight", expr.span,
                       help="minimizing a negative loss would reward a worse model")
            parts.ok = False
        else:
            parts.terms.append(ObjectiveTerm(coef, name.id))

    def kl_term(self, expr: ast.Call, coef: float, parts: _ObjectiveParts) -> None:
        prior = expr.args[0] if len(expr.args) == 1 else None
        if not isinstance(prior, ast.Name) or prior.id not in PRIORS or coef <= 0:
            self.error("E031", "kl(...) takes `natural` or `uniform`, with a positive weight", expr.span, help=OBJECTIVE_FORMS)
            parts.ok = False
        else:
            parts.kl.append((coef, prior.id))

    # ---- constraints -----------------------------------------------------------------

    def linear(self, expr: ast.Expr, scope: _Scope) -> _Linear | None:
        """expr -> ({(quantity, source): coef}, constant, the literal numbers in it) or None (reported)."""
        if (n := number_of(expr)) is not None:
            return {}, n.value, [n]
        if isinstance(expr, ast.Call) and expr.func.id in ("weight", "epochs"):
            if len(expr.args) != 1 or expr.kwargs or not isinstance(expr.args[0], ast.Name):
                self.error("E032", f"{expr.func.id}(...) takes one source name", expr.span, help="weight(code) <= 40%")
                return None
            name = expr.args[0]
            if not self.source_ref(name.id, name.span, scope):
                return None
            return {(expr.func.id, name.id): 1.0}, 0.0, []
        if isinstance(expr, ast.Neg):
            inner = self.linear(expr.operand, scope)
            return None if inner is None else ({k: -c for k, c in inner[0].items()}, -inner[1], inner[2])
        if isinstance(expr, ast.BinOp):
            left, right = self.linear(expr.left, scope), self.linear(expr.right, scope)
            if left is None or right is None:
                return None
            (lt, lc, ln), (rt, rc, rn) = left, right
            if expr.op in "+-":
                sign = 1.0 if expr.op == "+" else -1.0
                terms = dict(lt)
                for k, c in rt.items():
                    terms[k] = terms.get(k, 0.0) + sign * c
                return terms, lc + sign * rc, ln + rn
            if expr.op == "*" and (not lt or not rt):
                scale, terms, const = (lc, rt, rc) if not lt else (rc, lt, lc)
                return {k: c * scale for k, c in terms.items()}, const * scale, ln + rn
            if expr.op == "/" and not rt and rc != 0:
                return {k: c / rc for k, c in lt.items()}, lc / rc, ln + rn
            self.error("E032", "constraints must be linear in the weights", expr.span,
                       help="multiply or divide weights only by numbers, e.g. weight(code) <= 2 * weight(docs)")
            return None
        self.error("E032", f"a constraint cannot contain {describe(expr)} here", expr.span,
                   help="use weight(source), epochs(source) and numbers")
        return None

    def constraint(self, c: ast.Constraint, scope: _Scope) -> list[ConstraintSpec]:
        """One line of `subject to`: a comparison, or a chain of two giving two bounds; [] if reported."""
        for op in c.ops:
            if op in ("<", ">"):
                self.error("E032", f"strict inequality `{op}` is not supported", c.span, help=f"use `{op}=`")
                return []
        if len(c.ops) > 2 or len(c.ops) == 2 and c.ops[0] != c.ops[1]:
            self.error("E032", "a chain of comparisons must be `a <= b <= c` or `a >= b >= c`", c.span, help=CONSTRAINT_FORMS)
            return []
        sides = [self.linear(e, scope) for e in c.operands]
        if any(s is None for s in sides):
            return []
        out = []
        for left, right, op in zip(sides, sides[1:], c.ops):
            spec = self.comparison(left, right, op, c)
            if spec is None:
                return []
            out.append(spec)
        return out

    def comparison(self, left: _Linear, right: _Linear, op: str, c: ast.Constraint) -> ConstraintSpec | None:
        """`left op right` moved to `sum(coef * quantity(source)) op rhs`, with its units and bound checked."""
        (lt, lc, ln), (rt, rc, rn) = left, right
        terms = dict(lt)
        for k, v in rt.items():
            terms[k] = terms.get(k, 0.0) - v
        terms = {k: v for k, v in terms.items() if abs(v) > 1e-15}
        quantities = {q for q, _ in terms}
        if not terms:
            self.error("E032", "this comparison names no weight or epochs", c.span, help=CONSTRAINT_FORMS)
            return None
        if len(quantities) > 1:
            self.error("E032", "a constraint may not mix weight(...) and epochs(...)", c.span,
                       help=f"write the epoch cap as its own line: epochs({next(s for q, s in terms if q == 'epochs')}) <= 2")
            return None
        quantity = quantities.pop()
        if not self.units(quantity, terms, ln + rn):
            return None
        rhs = rc - lc
        if len(terms) == 1 and next(iter(terms.values())) < 0:  # -w <= c  ->  w >= -c
            terms = {k: -v for k, v in terms.items()}
            rhs, op = -rhs, {"<=": ">=", ">=": "<=", "==": "=="}[op]
        if len(terms) == 1 and not self.bound(quantity, *next(iter(terms.items())), rhs, c.span):
            return None
        return ConstraintSpec(quantity, tuple((s, v) for (_, s), v in terms.items()), op, rhs, c.span)

    def units(self, quantity: str, terms: dict[tuple[str, str], float], numbers: list[ast.Number]) -> bool:
        """Weights are fractions (40%, 0.4), epochs are counts (2): a number in the other unit is E025."""
        for n in numbers:
            if quantity == "weight" and (n.unit == "si" or n.unit == "" and abs(n.value) > 1 and len(terms) == 1):
                self.error("E025", f"weights are fractions: `{n.text}` is not", n.span,
                           help=f"did you mean {n.text}%?" if n.unit == "" else "write a percentage such as 40%")
                return False
            if quantity == "epochs" and n.unit == "%":
                self.error("E025", f"epochs are counts, not fractions: `{n.text}`", n.span,
                           help=f"an epoch cap is a number of passes, e.g. epochs({next(iter(terms))[1]}) <= 2")
                return False
        return True

    def bound(self, quantity: str, key: tuple[str, str], coef: float, rhs: float, span: ast.Span) -> bool:
        """A bound on one source: a weight within [0, 100%], an epoch cap above 0."""
        bound = rhs / coef
        if quantity == "weight" and not -1e-12 <= bound <= 1 + 1e-12:
            self.error("E026", f"a weight bound must lie within [0, 100%], got {bound * 100:.4g}%", span)
            return False
        if quantity == "epochs" and bound <= 0:
            self.error("E026", f"an epoch cap must be > 0, got {bound:.4g}", span,
                       help=f"to leave {key[1]} out, write weight({key[1]}) == 0")
            return False
        return True

    # ---- baselines -------------------------------------------------------------------

    def baselines(self, b: ast.Baselines, scope: _Scope) -> list[BaselineSpec]:
        """Named priors and fixed mixtures; a repeated prior is E020, a repeated mixture is dropped."""
        out: list[BaselineSpec] = []
        seen: dict[str, ast.Expr] = {}
        for i, item in enumerate(b.items):
            fixed = isinstance(item, ast.Call) and item.func.id == "mixture" and not item.args and bool(item.kwargs)
            spec = self.fixed_mixture(item, f"fixed{i}", scope) if fixed else self.named_baseline(item)
            if spec is None:
                continue
            key = repr(sorted(spec.weights)) if fixed else spec.name
            if key in seen:
                # A prior named twice is a slip; the same mixture written twice (in any order) counts once.
                if not fixed:
                    self.error("E020", f"baseline `{key}` is listed twice", item.span,
                               notes=[Note("first listed here", seen[key].span)])
                continue
            seen[key] = item
            out.append(spec)
        return out

    def named_baseline(self, item: ast.Expr) -> BaselineSpec | None:
        if not isinstance(item, ast.Name):
            self.error("E024", f"a baseline is uniform, natural or mixture(source: weight, ...), got {describe(item)}", item.span)
            return None
        if item.id not in PRIORS:
            self.error("E021", f"unknown baseline `{item.id}`", item.span,
                       help=did_you_mean(item.id, PRIORS) or "use uniform, natural, or mixture(source: weight, ...)")
            return None
        return BaselineSpec(item.id, None, item.span)

    def fixed_mixture(self, item: ast.Call, name: str, scope: _Scope) -> BaselineSpec | None:
        """`mixture(source: weight, ...)`: each source once, weights that sum to 100%."""
        weights: list[tuple[str, float]] = []
        for j, kw in enumerate(item.kwargs):
            if any(k.name.id == kw.name.id for k in item.kwargs[:j]):
                self.error("E020", f"source `{kw.name.id}` is given twice in this mixture", kw.name.span)
                return None
            w = read_value(kw.name.id, Field("fraction", min=0, max=1), kw.value, self.diags)
            if w is None or not self.source_ref(kw.name.id, kw.name.span, scope):
                return None
            weights.append((kw.name.id, float(w)))
        total = sum(w for _, w in weights)
        if abs(total - 1) > 1e-6:
            self.error("E026", f"the weights of a mixture must sum to 100%, got {total * 100:.4g}%", item.span)
            return None
        return BaselineSpec(name, tuple(weights), item.span)

    # ---- the experiment --------------------------------------------------------------

    def experiment(self, e: ast.Experiment) -> Experiment | None:
        start = len(self.diags)
        scope = self.scope(e)
        settings, tokenizer = self.settings(e)
        sources = self.sources(scope, settings.values.get("seed", 0))
        evals = [self.data(d) for d in scope.evals.values()]
        models = [self.model(d) for d in scope.models.values()]
        recipes = [self.recipe(r, scope) for r in scope.recipes.values()]
        if not scope.sources:
            self.error("E030", f"experiment {e.name.id} has no source", e.name.span,
                       help='add one: source web = text("data/web/*.txt.gz")')
        search_stmt = self.single(_statements(e, ast.Search), "a search")
        search = self.search(search_stmt, scope) if search_stmt else None
        objective_stmt = self.single(_statements(e, ast.Objective), "an objective")
        objective = self.objective(objective_stmt, scope) if objective_stmt else None
        blocks = _statements(e, ast.Constraints)
        constraints = [c for block in blocks for item in block.items for c in self.constraint(item, scope)]
        final_stmt = self.single(_statements(e, ast.Final), "`final`")
        final = self.final(final_stmt, scope) if final_stmt else None
        baselines, validate = _all_baselines(
            [b for stmt in _statements(e, ast.Baselines) for b in self.baselines(stmt, scope)],
            [b for stmt in _statements(e, ast.Validate) for b in self.baselines(stmt, scope)])
        budget_stmt = self.single(_statements(e, ast.Budget), "a budget")
        budget = self.budget(budget_stmt) if budget_stmt else None
        self.needs_search(search_stmt, objective_stmt, final_stmt, blocks)
        self.online_rules(search, objective_stmt, blocks, recipes, models, budget)
        self.phase_rules(search, search_stmt is not None, recipes, final)
        self.needs_final(_statements(e, ast.Validate), final_stmt)
        if search is not None and final is not None:
            self.final_size(final_stmt, search.recipe, final, recipes, models)
        self.unused(e, scope, search_stmt, final_stmt)

        errors = any(d.severity == "error" for d in self.diags[start:])
        if errors or not settings.ok or tokenizer is None:
            return None
        return Experiment(
            name=e.name.id, path=e.span.file, seed=settings.values["seed"], tokenizer=tokenizer,
            holdout=settings.values["holdout"], sources=tuple(sources), eval_sets=tuple(evals),
            models=tuple(models), recipes=tuple(recipes), search=search, objective=objective,
            constraints=tuple(constraints), final=final, baselines=baselines, validate=validate,
            replicates=settings.values["replicates"], budget=budget, span=e.span)

    def needs_search(self, search: ast.Search | None, objective: ast.Objective | None, final: ast.Final | None,
                     constraints: list[ast.Constraints]) -> None:
        """A search and an objective come together; `final` and constraints apply to a search."""
        if search is not None and objective is None and search.method.id not in ONLINE_METHODS:
            self.error("E030", "a search needs an objective", search.method.span,
                       help="add one, e.g. `minimize loss(literature) + loss(code)`")
        if search is not None:
            return
        for stmt, what in ((objective, "an objective"), (final, "`final`")):
            if stmt is not None:
                self.error("E030", f"{what} needs a search to find the mixture", stmt.span,
                           help="add `search regmix { runs: 16, train: <recipe> }`")
        for c in constraints:
            self.error("E030", "constraints need a search to apply to", c.span,
                       help="add `search regmix { runs: 16, train: <recipe> }`")

    def online_rules(self, search: SearchSpec | None, objective: ast.Objective | None, constraints: list[ast.Constraints],
                     recipes: list[RecipeSpec | None], models: list[ModelSpec | None], budget: BudgetSpec | None) -> None:
        """DoReMi and Aioli set their own objective and take no constraints; DoReMi's reference
        scores the proxy's windows, so its context is at least the proxy's; a DoReMi run trains
        in one process, so its final runs cannot adapt across several GPUs."""
        if search is None or search.online is None:
            return
        why = {"doremi": "search doremi minimises the worst excess loss over the sources",
               "aioli": "search aioli minimises the average loss over the sources"}[search.method]
        if objective is not None:
            self.error("E034", f"{why}: an objective does not apply", objective.span,
                       help="remove `minimize ...`, or use search regmix")
        for c in constraints:
            self.error("E034", f"{why}: constraints do not apply", c.span,
                       help="remove `subject to { ... }`, or use search regmix")
        by_name = {r.name: r for r in recipes if r is not None}
        seq = {m.name: m.seq_len for m in models if m is not None}
        ref, proxy = by_name.get(search.online.reference or ""), by_name.get(search.recipe)
        if ref is not None and proxy is not None and seq.get(ref.model, 0) < seq.get(proxy.model, 0):
            self.error("E026", f"the reference model `{ref.model}` has seq_len {seq[ref.model]}, shorter than the "
                       f"proxy's ({seq[proxy.model]}): it cannot score the proxy's windows", search.span,
                       help="give the reference recipe a model with at least the proxy's seq_len")
        if search.method == "doremi" and search.online.apply == "online" and budget is not None and budget.gpus > 1:
            self.error("E034", f"search doremi with `apply: online` trains the final run in one process (its "
                       f"per-domain losses are over the whole batch), not on {budget.gpus} GPUs", budget.span,
                       help="use `apply: weights` (the final run trains on the learned mixture), or `gpus: 1`")

    def phase_rules(self, search: SearchSpec | None, searched: bool, recipes: list[RecipeSpec | None],
                    final: str | None) -> None:
        """Phases shape a measured run's mixture: not a search's own runs', not an online run's,
        and `chosen` needs a search to choose it."""
        own = {*search.proxy_recipes, search.online.reference if search.online else None} if search else set()
        online_final = search is not None and search.online is not None and search.online.apply == "online"
        for r in recipes:
            if r is None or not r.phases:
                continue
            span = r.phases[0].span
            if r.name in own:
                self.error("E034", f"train {r.name} is the search's own recipe: its runs train on the mixtures the "
                           "search gives them, not on phases", span, help="put the phases in the final recipe")
            elif online_final and r.name == final:
                self.error("E034", f"search {search.method} with `apply: online` moves the final run's mixture "
                           "itself: phases do not apply", span, help="use `apply: weights`, or remove the phases")
            chosen = next((p for p in r.phases if p.mixture == "chosen"), None)
            if chosen is not None and not searched:
                self.error("E030", "a phase on `chosen` needs a search to choose the mixture", chosen.span,
                           help="add a search, or name a fixed mixture")

    def needs_final(self, validate: list[ast.Validate], final: ast.Final | None) -> None:
        """`validate` trains baselines with the final recipe: there must be one."""
        for stmt in validate if final is None else ():
            self.error("E030", "`validate` trains baselines with the final recipe, and there is no `final`", stmt.span,
                       help="add `final <recipe>`, or remove `validate`")

    def final_size(self, stmt: ast.Final, proxy: str, final: str, recipes: list, models: list) -> None:
        """W002: a final recipe that trains on fewer tokens than a proxy measures a less-trained
        model, not the mixture's effect at scale. (Fewer steps alone is fine: larger models
        take larger batches.)"""
        by_name = {r.name: r for r in recipes if r is not None}
        seq = {m.name: m.seq_len for m in models if m is not None}
        p, f = by_name.get(proxy), by_name.get(final)
        if p is None or f is None or p.model not in seq or f.model not in seq or f.tokens >= p.tokens:
            return
        steps = {r.name: -(-r.tokens // (r.batch * seq[r.model])) for r in (p, f)}
        self.error("W002", f"the final recipe `{final}` trains on {f.tokens:,} tokens in {steps[final]} steps, "
                   f"fewer than the proxy recipe `{proxy}` ({p.tokens:,} tokens, {steps[proxy]} steps)",
                   stmt.recipe.span, help="give the final recipe at least the proxy's tokens, so its results show "
                   "the mixture at scale rather than a shorter training run")

    def unused(self, e: ast.Experiment, scope: _Scope, search: ast.Search | None, final: ast.Final | None) -> None:
        """W001 for models and recipes of the experiment's own file that nothing uses (imports may be shared)."""
        used_models = {x.value.id for r in scope.recipes.values() for x in r.body.entries
                       if x.key.id == "model" and isinstance(x.value, ast.Name)}
        for name, d in scope.models.items():
            if name not in used_models and d.span.file == e.span.file:
                self.error("W001", f"model `{name}` is not used by any train recipe", d.name.span,
                           help="use it in a recipe (`model: ...`) or remove it")
        used_recipes = {final.recipe.id} if final is not None else set()
        if search is not None:
            used_recipes |= {x.value.id for x in search.body.entries
                             if x.key.id in ("train", "proxy", "reference") and isinstance(x.value, ast.Name)}
            listed = [x.value.items if isinstance(x.value, ast.List) else (x.value,) for x in search.body.entries
                      if x.key.id == "fidelities"]
            used_recipes |= {item.id for items in listed for item in items if isinstance(item, ast.Name)}
        for name, r in scope.recipes.items():
            if name not in used_recipes and r.span.file == e.span.file:
                self.error("W001", f"train recipe `{name}` is not used by the search or `final`", r.name.span,
                           help="name it in `search ... { train: ... }` or `final ...`, or remove it")


def _is_clusters(e: ast.Expr) -> bool:
    return isinstance(e, ast.Call) and e.func.id == "clusters"


def _cluster_count(e: ast.Call) -> int | None:
    """The k of a clusters(...) call when it is a whole number in range (read again, and
    reported, with the call's other keys)."""
    given = next((kw.value for kw in e.kwargs if kw.name.id == "k"), None)
    n = number_of(given) if given is not None else None
    f = CLUSTERS["k"]
    if n is None or n.unit == "%" or n.value != int(n.value) or not f.min <= n.value <= f.max:
        return None
    return int(n.value)


def cluster_names(group: str, k: int) -> list[str]:
    """The sources a clustered source becomes: `<group>_0` ... `<group>_<k-1>`."""
    return [f"{group}_{i}" for i in range(k)]


def _model_spec(d: ast.Definition, kind: str, v: dict) -> ModelSpec:
    """The model of keys that all read fine, with the defaults that depend on other keys filled in."""
    return ModelSpec(
        name=d.name.id, kind=kind, layers=v["layers"], d_model=v["d_model"], heads=v["heads"],
        kv_heads=v["kv_heads"] or v["heads"], d_ff=v["d_ff"] or default_ffn_hidden(v["d_model"]),
        seq_len=v["seq_len"], tie_embeddings=v["tie_embeddings"], rope_theta=v["rope_theta"],
        experts=v.get("experts", 0), top_k=v.get("top_k", 0), shared_expert=v.get("shared_expert", False),
        rank=v.get("rank") or (max(1, v["d_model"] // 2) if kind == "mole" else 0),
        aux_loss=v.get("aux_loss", 0.0), z_loss=v.get("z_loss", 0.0), span=d.span)


def _baseline_key(b: BaselineSpec) -> object:
    """What makes two baselines the same: a prior's name, or a mixture's weights in any order."""
    return b.name if b.weights is None else tuple(sorted(b.weights))


def _all_baselines(listed: list[BaselineSpec], validated: list[BaselineSpec]
                   ) -> tuple[tuple[BaselineSpec, ...], tuple[BaselineSpec, ...]]:
    """Every baseline once (a validated one is also a proxy-scale baseline), fixed mixtures
    numbered fixed0, fixed1, ... across all statements, in the order first written."""
    names: dict[object, BaselineSpec] = {}
    for b in (*listed, *validated):
        key = _baseline_key(b)
        if key not in names:
            fixed = sum(1 for k in names if isinstance(k, tuple))
            names[key] = b if b.weights is None else replace(b, name=f"fixed{fixed}")
    validate = tuple(dict.fromkeys(names[_baseline_key(b)] for b in validated))
    return tuple(names.values()), validate


def _statements(e: ast.Experiment, kind: type) -> list:
    """The experiment's statements of one kind, in the order written."""
    return [s for s in e.body if isinstance(s, kind)]


def check(loaded: Loaded, hooks: Sequence[Hook] = ()) -> tuple[Experiment | None, list[Diagnostic]]:
    """Check a loaded spec. Returns the Experiment (None if any error) and all diagnostics, sorted.

    `hooks` run only when the static checks found no error; each returns further diagnostics
    (the compiler adds constraint feasibility and the budget this way).
    """
    diags = list(loaded.diagnostics)
    root = loaded.root
    if root is None or diags and any(d.severity == "error" for d in diags):
        return None, _sorted(diags)
    checker = _Checker(loaded)
    experiments = [i for i in root.items if isinstance(i, ast.Experiment)]
    if len(experiments) != 1:
        span = experiments[1].name.span if experiments else ast.Span(root.path, 1, 1, 1, 2)
        message = "a spec defines one experiment" if experiments else "no `experiment NAME { ... }` in this file"
        checker.error("E029", message, span, help="put each experiment in its own file; share definitions with `import`")
        return None, _sorted(diags + checker.diags)
    experiment = checker.experiment(experiments[0])
    diags += checker.diags
    if experiment is not None:
        for hook in hooks:
            diags.extend(hook(experiment))
        if any(d.severity == "error" for d in diags):
            experiment = None
    return experiment, _sorted(diags)


def _sorted(diags: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(diags, key=sort_key)


def check_file(path: str, hooks: Sequence[Hook] = ()) -> tuple[Experiment | None, list[Diagnostic], dict[str, str]]:
    """Load and check one file. Raises OSError only when the file itself cannot be read."""
    from mixc.spec.load import load

    loaded = load(path)
    experiment, diags = check(loaded, hooks)
    return experiment, diags, loaded.texts


__all__ = ["check", "check_file", "Hook", "MODELS", "RECIPE", "SEARCH", "BUDGET", "SETTINGS"]
