"""Lowering: a checked Experiment -> a graph of typed jobs (`JobGraph`).

    tokenizer -> tokenize/<source> -> design -> pack/<proxies i..j> -> fit -> solve -> train/<chosen, final> -> report
                                         \\-> train/<natural, uniform baselines>         \\-> (each replicate, each scale)

It reads as its stages: data files, the tokenizer job, one tokenize job per source and
evaluation set, the search (design, proxies, fit, solve), the measured runs, the report.
A search in rounds adds, for each round after the first, a propose job after every proxy
before it and that round's proxies on its file; at several fidelities each round trains its
proxies at each (compiler/README.md, "Rounds in a static graph", "Fidelities as fixed slots").
The search's proxy runs are train jobs that go into pack jobs of K (`compiler.packing`): a
pack trains them in one process and each member writes into its own folder, named by its
own hash, so what reads a proxy reads that folder and waits for its pack.
Each job's config is one of the dataclasses of `mixc.jobs`, the same class the worker loads
it with; its id is `<kind>/<name>-<hash8>`, where the hash covers the config's hashed fields
(`mixc.jobfile.unhashed` marks the others), the content of the data files it reads
(`mixc.hashing.FileDigests`) and its inputs' hashes. Names, labels and line numbers that
only serve messages stay out of the hash, so a renamed or moved spec, or a touched data
file, reruns nothing.

The measured runs compare like with like: the chosen (solved) mixture and every baseline
are trained with the proxy recipe, at the scale the law predicts; the chosen mixture and
the validated baselines are trained again with the final recipe (the target scale); each
`replicates` times, replicate r with seed `seed + r`. A train job whose mixture is decided
at run time (proxies and the natural and uniform baselines by the design job, which moves
those two into the constraints; the chosen mixture by the solve job) names the file and key
its weights come from (`weights_file`). Paths in configs are relative to the work directory,
except data files.

This module globs the data files (a glob matching nothing is a diagnostic at the source's
line) and reads them only to fingerprint them; it runs nothing and writes nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import heapq
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

from mixc.compiler.budget import control_flops, tokenizer_vocab, train_flops
from mixc.compiler.packing import packs, search_pack
from mixc.compiler.search_rules import aioli_control
from mixc.compiler.jobs.kinds import KINDS as COMPILER_KINDS
from mixc.hashing import FileDigests, job_digest
from mixc.jobfile import to_json
from mixc.jobs import (ClusterJob, ClusterRef, Constraint, DesignBaseline, DesignJob, DoReMiControl, FitJob,
                       MeasuredRun, MixtureControl, Objective, ObjectiveTerm, PackJob, Phase, ProposeJob, ReportJob,
                       ReportRun, SolveJob, SourceGroup, SourceSpec, Term, TokenizeJob, TokenizerJob, TrainJob,
                       WeightsFile)
from mixc.spec.diagnostics import Diagnostic, Note
from mixc.spec.experiment import BaselineSpec, DataSpec, Experiment, ObjectiveSpec, RecipeSpec

BPE_SAMPLE_BYTES = 4 * 1024 * 1024  # text the BPE trainer sees, shared equally among sources
STORE = "tokenize"  # the token store root: each tokenize job's folder is its source's group


@dataclass(frozen=True)
class Job:
    kind: str  # tokenizer | tokenize | design | train | pack | fit | solve | report
    name: str
    digest: str
    config: Any = field(compare=False)  # the kind's dataclass from mixc.jobs
    after: tuple[str, ...]  # ids of the jobs this one reads from
    job_class: str  # resources class in the profiles: small | proxy | final
    flops: float = 0.0  # training FLOPs (train jobs)

    @functools.cached_property
    def id(self) -> str:
        return f"{self.kind}/{self.name}-{self.digest[:8]}"

    @property
    def entry(self) -> str:
        """The side that runs the job file: "compiler.jobs" or "runtime"."""
        return "compiler.jobs" if self.kind in COMPILER_KINDS else "runtime"

    @property
    def folder(self) -> str:
        """The job's output folder, relative to the work directory."""
        return self.id

    @property
    def job_file(self) -> str:
        return f"jobs/{self.id}.json"


@dataclass(frozen=True)
class JobGraph:
    """The jobs of an experiment in a dependency order (stable: among the jobs ready at each
    point, the smallest id first), each naming the jobs it reads from in `after`."""

    jobs: tuple[Job, ...]

    def __len__(self) -> int:
        return len(self.jobs)

    def __iter__(self) -> Iterator[Job]:
        return iter(self.jobs)

    @property
    def ids(self) -> set[str]:
        return {j.id for j in self.jobs}

    @property
    def edges(self) -> list[tuple[str, str]]:
        return [(a, j.id) for j in self.jobs for a in j.after]

    @property
    def targets(self) -> list[str]:
        """Jobs nothing reads from: what a run must finish."""
        read = {a for j in self.jobs for a in j.after}
        return [j.id for j in self.jobs if j.id not in read]

    @staticmethod
    def of(added: list[Job]) -> "JobGraph":
        consumers: dict[str, list[Job]] = {j.id: [] for j in added}
        waiting = {j.id: len(j.after) for j in added}
        for j in added:
            for a in j.after:
                consumers[a].append(j)
        ready = [(j.id, j) for j in added if not j.after]
        heapq.heapify(ready)
        ordered = []
        while ready:
            _, job = heapq.heappop(ready)
            ordered.append(job)
            for c in consumers[job.id]:
                waiting[c.id] -= 1
                if not waiting[c.id]:
                    heapq.heappush(ready, (c.id, c))
        return JobGraph(tuple(ordered))


@dataclass(frozen=True)
class _Search:
    design: Job
    proxies: tuple[Job, ...]  # the search's own train jobs (in packs: not in the graph themselves)
    fit: Job | None  # regmix only
    solve: Job | None  # regmix only
    chosen: Job | None  # whose mixtures.json holds the chosen mixture; None: the chosen runs adapt themselves
    key: str  # the chosen mixture's key in that file
    control: MixtureControl | None = None  # what the chosen runs carry when they adapt themselves
    reads: tuple[Job, ...] = ()  # what else they read then (DoReMi's reference run)
    proposals: tuple[Job, ...] = ()  # a search in rounds: the propose job of each round after the first


def _constraints(x: Experiment) -> tuple[Constraint, ...]:
    return tuple(Constraint(c.quantity, tuple(Term(s, k) for s, k in c.coefs), c.op, c.rhs,
                            f"{Path(c.span.file).name}:{c.span.line}") for c in x.constraints)


def _objective(o: ObjectiveSpec) -> Objective:
    return Objective(o.kind, tuple(ObjectiveTerm(t.coef, t.target) for t in o.terms), o.kl, o.kl_prior)


class _Builder:
    def __init__(self, experiment: Experiment, digests: FileDigests) -> None:
        self.x = experiment
        self.base = Path(experiment.path).resolve().parent
        self.digests = digests
        self.added: list[Job] = []
        self.diags: list[Diagnostic] = []
        self.files: dict[str, list[str]] = {}  # source or eval set -> its data files
        self.groups: dict[str, str] = {}  # source or eval set -> its group in the token store
        self.tokenizer: Job | None = None
        self.tokenize: list[Job] = []
        self.clusters: dict[str, Job] = {}  # a clustered source's name -> its cluster job
        self.train_fields: dict[tuple[str, bool], dict[str, Any]] = {}  # (recipe, export) -> TrainJob fields
        self.flops: dict[tuple[str, str], float] = {}  # (recipe, online controller or "") -> FLOPs of one run
        self.runs: dict[str, ReportRun] = {}  # train job id -> how the report shows it
        self.pack_of: dict[str, Job] = {}  # a packed train job's id -> its pack
        self.vocab = 0  # the tokenizer's, known once the data is found

    def add(self, kind: str, name: str, config: Any, after: list[Job], job_class: str = "small",
            flops: float = 0.0, data: list | None = None, reads: list[Job] | None = None) -> Job:
        """A job whose digest covers its config's hashed fields, `data` (file digests) and the
        digests of the jobs whose outputs it reads (`reads`, default `after`: a packed proxy is
        read, its pack waited for, so packing a search changes no reader's hash); its config's
        `output`, if it has one, is the job's own folder."""
        hashed = to_json(config, hashed_only=True)
        if data is not None:
            hashed = {**hashed, "data": data}
        digest = job_digest(kind, hashed, [j.digest for j in (after if reads is None else reads)])
        job = Job(kind, name, digest, config, tuple(j.id for j in after), job_class, flops)
        if any(f.name == "output" for f in dataclasses.fields(config)):
            job = replace(job, config=replace(config, output=job.folder))
        self.added.append(job)
        return job

    # ---- data ------------------------------------------------------------------------

    def glob_data(self, d: DataSpec) -> bool:
        found: list[str] = []
        for pattern in d.patterns:
            full = pattern if os.path.isabs(pattern) else str(self.base / pattern)
            found.extend(sorted(p for p in glob.glob(full, recursive=True) if os.path.isfile(p)))
        if not found:
            self.diags.append(Diagnostic("E101", f"{d.name}: no file matches {', '.join(repr(p) for p in d.patterns)}",
                                         d.span, help=f"globs are relative to the spec's folder ({os.path.relpath(self.base)})"))
            return False
        self.files[d.name] = list(dict.fromkeys(os.path.abspath(p) for p in found))
        return True

    def shared_files(self) -> bool:
        """E105 for an evaluation set that reads files a source trains on: its loss would be
        measured on training data. True when there is none."""
        x = self.x
        owner = {f: d for d in x.sources for f in self.files[d.name]}
        for e in x.eval_sets:
            shared = [f for f in self.files[e.name] if f in owner]
            if shared:
                d = owner[shared[0]]
                files = ", ".join(os.path.relpath(f, self.base) for f in shared[:3]) + (" ..." if len(shared) > 3 else "")
                self.diags.append(Diagnostic(
                    "E105", f"evaluation set `{e.name}` reads {len(shared)} file(s) that source `{d.name}` trains on: "
                    f"{files}", e.span, notes=(Note(f"source `{d.name}` is defined here", d.span),),
                    help="evaluate on files no source reads; a source's own held-out documents are `loss(source)`"))
        return not any(d.code == "E105" for d in self.diags)

    def fingerprint(self, name: str) -> list[str]:
        """What of a source's data a hash covers: its files' contents, in reading order."""
        return [self.digests.digest(f) for f in self.files[name]]

    def source_spec(self, d: DataSpec, name: str) -> SourceSpec:
        """A source as jobs read it; a discovered domain's carries its cluster job's folder."""
        cluster = d.cluster and ClusterRef(self.clusters[d.cluster.group].folder, d.cluster.index)
        return SourceSpec(name, d.format, d.field if d.format == "jsonl" else None, tuple(self.files[d.name]),
                          d.unit if d.format == "text" else None, cluster)

    def whole_sources(self) -> list[DataSpec]:
        """The sources as their files are: a clustered source once, by its own name, unsplit."""
        whole = {(d.cluster.group if d.cluster else d.name): d for d in self.x.sources}
        return [replace(d, name=name, cluster=None) if d.cluster else d for name, d in whole.items()]

    # ---- stages ----------------------------------------------------------------------

    def tokenizer_job(self) -> None:
        x, t = self.x, self.x.tokenizer
        path = str((self.base / t.path).resolve()) if t.kind == "hf" else None
        whole = self.whole_sources()
        config = TokenizerJob(
            type=t.kind, vocab=t.vocab, path=path,
            sources=tuple(self.source_spec(d, d.name) for d in whole) if t.kind == "bpe" else (),
            sample_bytes=BPE_SAMPLE_BYTES, seed=x.seed, holdout=x.holdout if t.kind == "bpe" else 0.0, output="")
        data = [self.fingerprint(d.name) for d in whole] if t.kind == "bpe" else []
        if path is not None:
            data = [self.digests.digest(p) for p in _tokenizer_files(path)]
        name = {"bpe": f"bpe{t.vocab}", "byte": "byte", "hf": "hf"}[t.kind]
        self.tokenizer = self.add("tokenizer", name, config, [], data=data)

    def cluster_jobs(self) -> None:
        """One job per clustered source: its documents split into its clusters, which its
        clusters' tokenize jobs read."""
        for d in self.x.sources:
            c = d.cluster
            if c is None or c.group in self.clusters:
                continue
            names = tuple(s.name for s in self.x.sources if s.cluster and s.cluster.group == c.group)
            self.files[c.group] = self.files[d.name]
            config = ClusterJob(source=self.source_spec(replace(d, name=c.group, cluster=None), c.group), names=names,
                                embedding=c.embedding, sample=c.sample, seed=c.seed, output="")
            self.clusters[c.group] = self.add("cluster", c.group, config, [], data=self.fingerprint(c.group))

    def tokenize_jobs(self) -> None:
        """One job per source (its holdout is its evaluation set) and per extra evaluation set
        (tokenized with holdout 1: all of it in the valid split); a discovered domain's after
        its cluster job."""
        x = self.x
        for d in (*x.sources, *x.eval_sets):
            config = TokenizeJob(source=self.source_spec(d, d.name), tokenizer=self.tokenizer.folder, store=STORE,
                                 holdout=x.holdout if d in x.sources else 1.0, seed=x.seed)
            split = [self.clusters[d.cluster.group]] if d.cluster else []
            job = self.add("tokenize", d.name, config, [self.tokenizer, *split], data=self.fingerprint(d.name))
            self.groups[d.name] = f"{d.name}-{job.digest[:8]}"  # = the job's folder under the store root
            named = replace(config, source=replace(config.source, name=self.groups[d.name]))
            self.added[-1] = job = replace(job, config=named)
            self.tokenize.append(job)

    def search_jobs(self) -> _Search:
        x, s = self.x, self.x.search
        proxy = x.recipe(s.recipe)
        recipes = [x.recipe(name) for name in s.proxy_recipes]
        constraints = _constraints(x)
        # Epoch caps hold for every run on a mixture, at its own training tokens; without caps the
        # token counts do not matter, and leaving them out keeps a change to the final recipe (or
        # to a fixed baseline) from re-designing or re-solving.
        capped = any(c.quantity == "epochs" for c in x.constraints)
        scales = (proxy.tokens, x.recipe(x.final).tokens) if x.final else (proxy.tokens,)
        design = self.add("design", x.name, DesignJob(
            method=s.design, runs=s.runs, prior=s.prior, seed=x.seed, store=STORE,
            sources=tuple(SourceGroup(d.name, self.groups[d.name]) for d in x.sources),
            constraints=constraints, tokens=max(r.tokens for r in recipes),  # a cap binds at the most tokens
            baselines=tuple(_design_baseline(x, b, scales) for b in x.baselines) if capped else (),
            output=""), self.tokenize)
        proxies, readers, decided = self.round_jobs(design, recipes, constraints, capped)
        names = tuple(d.name for d in x.sources)
        several = s.rounds > 1 or len(recipes) > 1
        fit = self.add("fit", x.name, FitJob(
            law=s.law, seed=x.seed, design=design.folder, eval_groups=self.eval_groups(),
            targets=tuple(sorted({t.target for t in x.objective.terms})), runs=tuple(j.folder for j, _ in proxies),
            sources=names, objective=_objective(x.objective), output="",
            mixtures=tuple(j.config.weights_file for j, _ in proxies) if several else (),
            fidelity=tuple(f for _, f in proxies) if len(recipes) > 1 else ()),
            [*decided, *readers], reads=[*decided, *(j for j, _ in proxies)])
        solve = self.add("solve", x.name, SolveJob(
            fit=fit.folder, design=design.folder, sources=names, objective=_objective(x.objective),
            constraints=constraints, extrapolate=s.extrapolate,
            tokens=scales if capped else (),  # `chosen` trains on the solution at the proxy recipe, final at its own
            output=""), [fit, design])
        return _Search(design, tuple(j for j, _ in proxies), fit, solve, solve, "solved", proposals=tuple(decided[1:]))

    def round_jobs(self, design: Job, recipes: list[RecipeSpec], constraints: tuple[Constraint, ...], capped: bool
                   ) -> tuple[list[tuple[Job, int]], list[Job], list[Job]]:
        """The search's proxies, `runs` at each fidelity in each round, with their fidelities; the
        jobs that run them (packs within a round and fidelity); and the jobs that decide their
        mixtures: the design (round 0: the same mixtures at every fidelity, so that the runs pair
        up) and a propose job for each later round, which reads every run before it."""
        x, s = self.x, self.x.search
        several = len(recipes) > 1
        width = len(str(s.runs - 1))
        proxies: list[tuple[Job, int]] = []
        readers: list[Job] = []
        decided = [design]
        for r in range(s.rounds):
            if r:
                flops = [self.train_cost(recipe) for recipe in recipes]
                measured = tuple(MeasuredRun(j.folder, j.config.weights_file, f) for j, f in proxies)
                decided.append(self.add("propose", f"{x.name}_round{r}", ProposeJob(
                    method=s.propose, round=r, rounds=s.rounds, runs=s.runs,
                    costs=tuple(f / flops[-1] for f in flops), seed=x.seed, design=design.folder,
                    sources=tuple(d.name for d in x.sources), constraints=constraints,
                    tokens=tuple(recipe.tokens for recipe in recipes) if capped else (),
                    eval_groups=self.eval_groups(), objective=_objective(x.objective), measured=measured, output=""),
                    [design, *readers], reads=[design, *decided[1:], *(j for j, _ in proxies)]))
            for f, recipe in enumerate(recipes):
                here = []
                for i in range(s.runs):
                    tag = (f"_round{r}" if r else "") + f"_proxy{i:0{width}d}" + (f"_{recipe.name}" if several else "")
                    key = f"run{f * s.runs + i}" if r else f"run{i}"
                    label = (f"round {r} " if s.rounds > 1 else "") + f"proxy {i}" + (f" ({recipe.name})" if several else "")
                    run = ReportRun("", "proxy", f"round{r}_{key}" if r else key, label, "proxy", 0, "", round=r,
                                    fidelity=recipe.name if several else "")
                    here.append(self.train(recipe, f"{x.name}{tag}", run, decided_by=decided[-1], key=key))
                proxies += [(j, f) for j in here]
                tag = (f"_round{r}" if r else "") + (f"_{recipe.name}" if several else "")
                readers += self.pack_jobs(tuple(here), search_pack(x, self.vocab, recipe), [*self.tokenize, decided[-1]],
                                          tag)
        return proxies, readers, decided

    def train_cost(self, recipe: RecipeSpec) -> float:
        """Training FLOPs of one plain run of `recipe` (what a fidelity costs)."""
        if (recipe.name, "") not in self.flops:
            self.flops[(recipe.name, "")] = train_flops(self.x, recipe, self.vocab)
        return self.flops[(recipe.name, "")]

    def online_search_jobs(self) -> _Search:
        """DoReMi or Aioli: the design job for the natural and uniform mixtures (no proxy
        mixtures); DoReMi's reference run on the prior; with `apply: weights`, the proxy run
        with the controller, whose learned mixture the chosen runs train on."""
        x, s = self.x, self.x.search
        design = self.add("design", x.name, DesignJob(
            method=s.design, runs=0, prior=s.prior, seed=x.seed, store=STORE,
            sources=tuple(SourceGroup(d.name, self.groups[d.name]) for d in x.sources), constraints=(),
            tokens=x.recipe(s.recipe).tokens, baselines=(), output=""), self.tokenize)
        own: list[Job] = []
        if s.method == "doremi":
            run = ReportRun("", "proxy", s.prior, "doremi reference", "proxy", 0, "")
            own.append(self.train(x.recipe(s.online.reference), f"{x.name}_reference", run, decided_by=design,
                                  key=s.prior))
        if s.online.apply == "weights":
            run = ReportRun("", "proxy", "learned", f"{s.method} proxy", "proxy", 0, "")
            own.append(self.train(x.recipe(s.recipe), f"{x.name}_{s.method}", run, decided_by=design, key=s.prior,
                                  control=self.online_control(own), reads=own))
        # An online run adapts its own mixture: the packing rule keeps each alone.
        proxies = self.pack_jobs(tuple(own), search_pack(x, self.vocab), [*self.tokenize, design])
        if s.online.apply == "weights":
            return _Search(design, proxies, None, None, own[-1], "learned")
        return _Search(design, proxies, None, None, None, s.prior, self.online_control(own), tuple(own))

    def online_control(self, reference: list[Job]) -> MixtureControl:
        """The search's controller as a train job carries it (DoReMi's names its reference run's model)."""
        x = self.x
        if x.search.method == "doremi":
            o = x.search.online
            doremi = DoReMiControl(f"{reference[0].folder}/model", o.step_size, o.smoothing)
            return MixtureControl("doremi", (), doremi, None)
        return MixtureControl("aioli", (), None, aioli_control(x))

    def pack_jobs(self, runs: tuple[Job, ...], k: int, after: list[Job], tag: str = "") -> tuple[Job, ...]:
        """`runs` (train jobs reading `after`) in packs of about `k`, in their place in the graph;
        `runs` themselves when k is 1. `tag` tells packs of a round or fidelity apart by name."""
        if k <= 1 or len(runs) <= 1:
            return runs
        members = {j.id for j in runs}
        self.added = [j for j in self.added if j.id not in members]
        groups = packs(runs, k)
        width = len(str(len(groups) - 1))
        found = []
        for i, group in enumerate(groups):
            pack = self.add("pack", f"{self.x.name}{tag}_pack{i:0{width}d}", PackJob(tuple(j.config for j in group)),
                            after, "proxy", flops=sum(j.flops for j in group))
            self.pack_of.update({j.id: pack for j in group})
            found.append(pack)
        return tuple(found)

    def measured_jobs(self, search: _Search) -> list[Job]:
        """The chosen mixture and the baselines, each `replicates` times: with the proxy recipe
        (beside the law's predictions), and with the final recipe for the chosen mixture and
        the validated baselines. Replicate r trains with seed `seed + r`."""
        x = self.x
        runs: list[Job] = []
        for r in range(x.replicates):
            runs += self.mixture_runs(x.recipe(x.search.recipe), "proxy", x.baselines, search, r)
        for r in range(x.replicates if x.final else 0):
            runs += self.mixture_runs(x.recipe(x.final), "target", x.validate, search, r)
        return runs

    def mixture_runs(self, recipe: RecipeSpec, scale: str, baselines: tuple[BaselineSpec, ...], search: _Search,
                     replicate: int) -> list[Job]:
        """The chosen mixture and `baselines` trained with `recipe` at seed `seed + replicate`.
        Names: <experiment>_chosen, <experiment>_<baseline> at proxy scale; <experiment>_final,
        <experiment>_final_<baseline> at target scale; replicates after the first end in _r<r>."""
        x = self.x
        prefix = f"{x.name}_final" if scale == "target" else x.name
        suffix = f"_r{replicate}" if replicate else ""
        chosen = ReportRun("", "chosen", "chosen", "chosen", scale, replicate, "")
        name = prefix if scale == "target" else f"{prefix}_chosen"
        if search.chosen is not None:
            runs = [self.train(recipe, f"{name}{suffix}", chosen, decided_by=search.chosen, key=search.key)]
        else:  # an online search's chosen runs adapt their own mixture, from the prior
            runs = [self.train(recipe, f"{name}{suffix}", chosen, decided_by=search.design, key=search.key,
                               control=search.control, reads=list(search.reads))]
        for b in baselines:
            run = ReportRun("", "baseline", b.name, _baseline_label(b), scale, replicate, "")
            name = f"{prefix}_{b.name}{suffix}"
            if b.name in ("uniform", "natural"):  # moved into the constraints by the design
                runs.append(self.train(recipe, name, run, decided_by=search.design, key=b.name))
            else:
                w = dict(b.weights)
                runs.append(self.train(recipe, name, run, weights=[w.get(s.name, 0.0) for s in x.sources]))
        return runs

    def report_job(self, search: _Search | None, measured: list[Job]) -> None:
        x = self.x
        decided = [j for j in (search.design, search.fit, search.solve) if j is not None] if search else []
        self.add("report", x.name, ReportJob(
            experiment=x.name, sources=tuple(s.name for s in x.sources), eval_groups=self.eval_groups(),
            design=search.design.folder if search else None,
            fit=search.fit.folder if search and search.fit else None,
            solve=search.solve.folder if search and search.solve else None,
            runs=tuple(replace(self.runs[j.id], name=j.name, output=j.folder) for j in measured),
            objective=_report_objective(x), output="", fidelities=x.search.fidelities if x.search else (),
            clusters=tuple(j.folder for j in self.clusters.values())),
            decided + list(dict.fromkeys(self.pack_of.get(j.id, j) for j in measured)) or self.tokenize,
            reads=decided + measured or self.tokenize)

    # ---- train jobs ------------------------------------------------------------------

    def eval_groups(self) -> dict[str, str]:
        """Evaluation sets of every train job: each source's holdout and each extra set."""
        return {d.name: self.groups[d.name] for d in (*self.x.sources, *self.x.eval_sets)}

    def evaluation(self) -> dict[str, int]:
        """One evaluation for every run of the experiment, whatever its recipe: windows as long
        as the shortest context among the trained models, as many as the largest `eval_tokens`
        any recipe asks for (so every run is scored on the same held-out text)."""
        x = self.x
        recipes = [x.recipe(name) for name in x.search.proxy_recipes] if x.search else []
        recipes += [x.recipe(x.final)] if x.final else []
        recipes = recipes or list(x.recipes)
        return {"eval_tokens": max(r.eval_tokens for r in recipes),
                "eval_seq_len": min(x.model(r.model).seq_len for r in recipes)}

    def recipe_fields(self, recipe: RecipeSpec, export: bool) -> dict[str, Any]:
        """Every TrainJob field but the mixture and the seed, resolved from the recipe (computed
        once per recipe: a sweep of a thousand proxies shares them)."""
        key = (recipe.name, export)
        if key not in self.train_fields:
            x = self.x
            model = x.model(recipe.model)
            shape = model.shape(self.vocab).resolved()
            steps = max(1, -(-recipe.tokens // (recipe.batch * shape.seq_len)))
            self.train_fields[key] = dict(
                model=shape, rope_theta=model.rope_theta, load_balance_coef=model.aux_loss, z_loss_coef=model.z_loss,
                store=STORE, tokenizer=self.tokenizer.folder, sources=[self.groups[s.name] for s in x.sources],
                steps=steps, batch_size=recipe.batch, micro_batch=recipe.batch // recipe.accumulate,
                lr=recipe.lr, min_lr=recipe.lr * recipe.min_lr, schedule=recipe.schedule,
                warmup_steps=round(recipe.warmup * steps), weight_decay=recipe.weight_decay,
                beta1=0.9, beta2=0.95, grad_clip=recipe.clip or None,
                checkpoint_every=max(1, steps // 4), log_every=max(1, steps // 20),
                eval_sources=list(self.eval_groups().values()), **self.evaluation(),
                device="auto", compile=None, export=export, output="")
        return self.train_fields[key]

    def train(self, recipe: RecipeSpec, name: str, run: ReportRun, weights: list[float] | None = None,
              decided_by: Job | None = None, key: str | None = None, control: MixtureControl | None = None,
              reads: list[Job] = ()) -> Job:
        """A train job on fixed `weights`, or on the mixture `key` of the file `decided_by` writes,
        with `control` (an online search's controller) or the recipe's phases; `reads`: other
        jobs it reads; `run` says how the report shows it (the target-scale chosen run, seed 0, is exported)."""
        weights_file = WeightsFile(f"{decided_by.folder}/mixtures.json", key) if decided_by else None
        fields = self.recipe_fields(recipe, run.role == "chosen" and run.scale == "target" and run.replicate == 0)
        phased = self.phases(recipe, fields["steps"], weights, weights_file)
        if phased is not None:
            control, weights, weights_file = MixtureControl("phases", phased[0], None, None), None, None
            decided_by, reads = None, [*reads, *phased[1]]
        config = TrainJob(**fields, seed=self.x.seed + run.replicate, weights=weights, weights_file=weights_file,
                          control=control)
        after = list(dict.fromkeys(self.tokenize + ([decided_by] if decided_by else []) + list(reads)))
        flops_key = (recipe.name, control.kind if control is not None and control.online else "")
        if flops_key not in self.flops:
            extra = control_flops(self.x, recipe, self.vocab) if flops_key[1] else 0.0
            self.flops[flops_key] = self.train_cost(recipe) + extra
        job = self.add("train", name, config, after, "final" if run.scale == "target" else "proxy",
                       flops=self.flops[flops_key])
        self.runs[job.id] = run
        return job

    def phases(self, recipe: RecipeSpec, steps: int, weights: list[float] | None, weights_file: WeightsFile | None
               ) -> tuple[tuple[Phase, ...], list[Job]] | None:
        """The recipe's phases at a run of `steps` (None without any), and the jobs they read: a
        phase starts at the first step at or past its share of the steps (a later phase that
        starts on the same step replaces it); `chosen` is the run's own mixture (`weights` or
        `weights_file`: a baseline keeps the schedule with its mixture in it); natural and
        uniform are the design's."""
        if not recipe.phases:
            return None
        design = next(j for j in self.added if j.kind == "design")
        starts: dict[int, Phase] = {}
        for p in recipe.phases:
            start = int(p.start * steps)  # p.start < 1: the last phase starts before the last step
            if p.mixture == "chosen":
                phase = Phase(start, weights, weights_file)
            elif p.mixture in ("natural", "uniform"):
                phase = Phase(start, None, WeightsFile(f"{design.folder}/mixtures.json", p.mixture))
            else:
                w = dict(p.weights)
                phase = Phase(start, [w.get(s.name, 0.0) for s in self.x.sources], None)
            starts[start] = phase
        read = [j for j in self.added if any(ph.weights_file and ph.weights_file.path == f"{j.folder}/mixtures.json"
                                             for ph in starts.values())]
        return tuple(starts.values()), read

    # ---- all of it -------------------------------------------------------------------

    def build(self) -> JobGraph | None:
        x = self.x
        if not all([self.glob_data(d) for d in (*x.sources, *x.eval_sets)]) or not self.shared_files():
            return None
        self.vocab = tokenizer_vocab(x)
        self.cluster_jobs()
        self.tokenizer_job()
        self.tokenize_jobs()
        search, measured = None, []
        if x.search is not None:
            search = self.online_search_jobs() if x.search.online else self.search_jobs()
            measured = [*search.proxies, *self.measured_jobs(search)]
        self.report_job(search, measured)
        return JobGraph.of(self.added)


def _report_objective(x: Experiment) -> Objective | None:
    """What the report measures runs by: the spec's objective; for an online search, which sets
    its own, the average loss over the sources (Aioli's measure, and the one DoReMi reports)."""
    if x.objective is not None:
        return _objective(x.objective)
    if x.search is not None and x.search.online is not None:
        return Objective("sum", tuple(ObjectiveTerm(1.0 / len(x.sources), s.name) for s in x.sources), 0.0, None)
    return None


def _design_baseline(x: Experiment, b: BaselineSpec, scales: tuple[int, ...]) -> DesignBaseline:
    """A baseline as the design sees it: a fixed mixture's weights, and the training tokens of
    every run on it (the proxy recipe's; the final recipe's too when it is validated)."""
    weights = tuple(dict(b.weights).get(s.name, 0.0) for s in x.sources) if b.weights else None
    return DesignBaseline(b.name, weights, scales if b.name in {v.name for v in x.validate} else scales[:1])


def _baseline_label(b: BaselineSpec) -> str:
    """How tables name a baseline: a prior by its name, a fixed mixture by its weights."""
    if b.weights is None:
        return b.name
    return "mixture(" + ", ".join(f"{s}: {w * 100:g}%" for s, w in b.weights) + ")"


def _tokenizer_files(path: str) -> list[str]:
    """The files an `hf` tokenizer is read from (a tokenizer.json, or a folder holding one)."""
    if not os.path.isdir(path):
        return [path]
    return [os.path.join(path, f) for f in ("tokenizer.json", "tokenizer_config.json")
            if os.path.isfile(os.path.join(path, f))]


def lower(experiment: Experiment, digests: FileDigests | None = None) -> tuple[JobGraph | None, list[Diagnostic]]:
    """The job graph of a checked experiment, or diagnostics (data globs that match nothing).
    `digests` caches data fingerprints between builds (default: computed afresh)."""
    b = _Builder(experiment, digests if digests is not None else FileDigests())
    graph = b.build()
    return (graph if not b.diags else None), b.diags
