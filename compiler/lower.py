"""Lowering: a checked Experiment -> a graph of jobs (networkx DiGraph, nodes are job ids).

    tokenizer -> tokenize/<source> -> design -> train/<proxy i> -> fit -> solve -> train/final  -> report
                                         \\-> train/<baselines>                 \\-> train/chosen -/

Baselines and `chosen` (the solved mixture) are trained with the proxy recipe, so that the
law's prediction for the chosen mixture, its measured loss and the baselines' losses are
all at one scale; the final run is the target model on the chosen mixture. Changing only
the final recipe therefore reruns only the final run and the report.

Each job's config is fully resolved JSON; its id is `<kind>/<name>-<hash8>` where the hash
covers its name, config and inputs' hashes (mixc.hashing), and its outputs live in that
folder of the work directory. Paths inside configs are relative to the work directory,
except data files, which are absolute. A train job whose mixture is decided at run time
(proxies and the natural baseline by the design job, the final run by the solve job)
names the file and key its weights come from (`weights_file`) instead of `weights`.

This module globs the data files (a glob matching nothing is a diagnostic at the source's
line) but reads no data and runs nothing.
"""

from __future__ import annotations

import functools
import glob
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from mixc.compiler.budget import model_shape, tokenizer_vocab, train_flops
from mixc.hashing import job_digest
from mixc.spec.diagnostics import Diagnostic
from mixc.spec.experiment import DataSpec, Experiment, RecipeSpec

BPE_SAMPLE_BYTES = 4 * 1024 * 1024  # text the BPE trainer sees, shared equally among sources


@dataclass(frozen=True)
class Job:
    kind: str  # tokenizer | tokenize | design | train | fit | solve | report
    name: str
    digest: str
    config: dict[str, Any] = field(compare=False)
    after: tuple[str, ...]  # ids of the jobs this one reads from
    entry: str  # "runtime" or "compiler.jobs": the module that runs the job file
    job_class: str  # resources class in the profiles: small | proxy | final
    flops: float = 0.0  # training FLOPs (train jobs)

    @functools.cached_property
    def id(self) -> str:
        return f"{self.kind}/{self.name}-{self.digest[:8]}"

    @property
    def folder(self) -> str:
        """The job's output folder, relative to the work directory."""
        return self.id

    @property
    def job_file(self) -> str:
        return f"jobs/{self.id}.json"



class _Builder:
    def __init__(self, experiment: Experiment) -> None:
        self.x = experiment
        self.base = Path(experiment.path).resolve().parent
        self.graph = nx.DiGraph()
        self.diags: list[Diagnostic] = []

    def add(self, kind: str, name: str, config: dict, after: list[Job], entry: str, job_class: str = "small",
            flops: float = 0.0, hashed: dict | None = None) -> Job:
        """A job whose digest covers `hashed` (default: its config) and its inputs' digests."""
        digest = job_digest(kind, {"name": name, "config": hashed if hashed is not None else config},
                            [j.digest for j in after])
        job = Job(kind, name, digest, config, tuple(j.id for j in after), entry, job_class, flops)
        if "output" in config:
            config["output"] = job.folder
        self.graph.add_node(job.id, job=job)
        for a in after:
            self.graph.add_edge(a.id, job.id)
        return job

    # ---- data ------------------------------------------------------------------------

    def files(self, d: DataSpec) -> list[str] | None:
        found: list[str] = []
        for pattern in d.patterns:
            full = pattern if os.path.isabs(pattern) else str(self.base / pattern)
            found.extend(sorted(p for p in glob.glob(full, recursive=True) if os.path.isfile(p)))
        if not found:
            self.diags.append(Diagnostic("E101", f"{d.name}: no file matches {', '.join(repr(p) for p in d.patterns)}",
                                         d.span, help=f"globs are relative to the spec's folder ({os.path.relpath(self.base)})"))
            return None
        return list(dict.fromkeys(os.path.abspath(p) for p in found))

    @staticmethod
    def fingerprint(files: list[str]) -> list[list]:
        """What of the data a hash covers: each file's path, size and modification time."""
        out = []
        for f in files:
            st = os.stat(f)
            out.append([f, st.st_size, st.st_mtime_ns])
        return out

    # ---- the graph -------------------------------------------------------------------

    def build(self) -> nx.DiGraph | None:
        x = self.x
        files = {d.name: self.files(d) for d in (*x.sources, *x.eval_sets)}
        if any(f is None for f in files.values()):
            return None
        prints = {name: self.fingerprint(f) for name, f in files.items()}

        def source_spec(d: DataSpec, name: str) -> dict:
            return {"name": name, "format": d.format, "field": d.field if d.format == "jsonl" else None,
                    "files": files[d.name]}

        t = x.tokenizer
        tok_config = {
            "type": t.kind, "vocab": t.vocab,
            "path": str((self.base / t.path).resolve()) if t.kind == "hf" else None,
            "sources": [source_spec(d, d.name) for d in x.sources] if t.kind == "bpe" else [],
            "sample_bytes": BPE_SAMPLE_BYTES, "seed": x.seed, "output": None,
        }
        tok_hashed = {**tok_config, "data": [prints[d.name] for d in x.sources] if t.kind == "bpe" else []}
        tok_name = {"bpe": f"bpe{t.vocab}", "byte": "byte", "hf": "hf"}[t.kind]
        tokenizer = self.add("tokenizer", tok_name, tok_config, [], "runtime", hashed=tok_hashed)

        groups: dict[str, str] = {}  # source or eval set -> its group in the token store
        tokenize_jobs: list[Job] = []
        for d in (*x.sources, *x.eval_sets):
            is_source = d in x.sources
            config = {"source": source_spec(d, d.name), "tokenizer": tokenizer.folder, "store": "tokenize",
                      "holdout": x.holdout if is_source else 1.0, "seed": x.seed}
            job = self.add("tokenize", d.name, config, [tokenizer], "runtime",
                           hashed={**config, "data": prints[d.name]})
            groups[d.name] = f"{d.name}-{job.digest[:8]}"
            job.config["source"]["name"] = groups[d.name]
            tokenize_jobs.append(job)
        # Evaluation sets of every train job: each source's holdout, and each extra set whole
        # (tokenized with holdout 1: all of it in the valid split). Name -> store group.
        eval_groups = {d.name: groups[d.name] for d in (*x.sources, *x.eval_sets)}
        vocab = tokenizer_vocab(x)
        flops = {r.name: train_flops(x, r, vocab) for r in x.recipes}

        roles: dict[str, str] = {}  # train job id -> proxy | baseline | chosen | final
        templates: dict[tuple[str, str], str] = {}  # (recipe, role) -> config JSON: sweeps reuse one

        def train_template(recipe: RecipeSpec, role: str) -> dict:
            key = (recipe.name, role)
            if key not in templates:
                templates[key] = json.dumps(new_template(recipe, role))
            return json.loads(templates[key])

        def new_template(recipe: RecipeSpec, role: str) -> dict:
            """The runtime's train job (runtime/README.md), every field resolved from the recipe."""
            model = x.model(recipe.model)
            shape = model_shape(model, vocab).resolved()
            steps = max(1, -(-recipe.tokens // (recipe.batch * shape.seq_len)))
            return {
                "model": shape.to_dict(), "rope_theta": model.rope_theta,
                "load_balance_coef": model.aux_loss, "z_loss_coef": model.z_loss,
                "store": "tokenize", "tokenizer": tokenizer.folder,
                "sources": [groups[s.name] for s in x.sources], "weights": None, "weights_file": None,
                "seed": x.seed, "steps": steps, "batch_size": recipe.batch,
                "micro_batch": recipe.batch // recipe.accumulate,
                "lr": recipe.lr, "min_lr": recipe.lr * recipe.min_lr, "schedule": recipe.schedule,
                "warmup_steps": round(recipe.warmup * steps), "weight_decay": recipe.weight_decay,
                "beta1": 0.9, "beta2": 0.95, "grad_clip": recipe.clip or None,
                "checkpoint_every": max(1, steps // 4), "log_every": max(1, steps // 20),
                "eval_sources": list(eval_groups.values()), "eval_tokens": recipe.eval_tokens,
                "device": "auto", "compile": None, "export": role == "final", "output": None,
            }

        def train(recipe: RecipeSpec, name: str, role: str, weights: list[float] | None,
                  decided_by: Job | None = None, key: str | None = None) -> Job:
            """A train job on fixed `weights`, or on the mixture `key` of the file `decided_by` writes."""
            config = train_template(recipe, role)
            config["weights"] = weights
            if decided_by is not None:
                config["weights_file"] = {"path": f"{decided_by.folder}/mixtures.json", "key": key}
            after = tokenize_jobs + ([decided_by] if decided_by else [])
            job = self.add("train", name, config, after, "runtime", "final" if role == "final" else "proxy",
                           flops=flops[recipe.name])
            roles[job.id] = role
            return job

        constraints = [{"quantity": c.quantity, "coefs": [list(p) for p in c.coefs], "op": c.op, "rhs": c.rhs,
                        "label": f"{Path(c.span.file).name}:{c.span.line}"} for c in x.constraints]
        sources = [{"name": s.name, "group": groups[s.name]} for s in x.sources]
        measured: list[Job] = []  # every train job, in the report's order
        design = fit = solve = None
        if x.search is not None:
            proxy = x.recipe(x.search.recipe)
            design = self.add("design", x.name, {
                "method": x.search.design, "runs": x.search.runs, "prior": x.search.prior, "seed": x.seed,
                "store": "tokenize", "sources": sources, "constraints": constraints, "tokens": proxy.tokens,
                "output": None,
            }, tokenize_jobs, "compiler.jobs")
            width = len(str(x.search.runs - 1))
            runs = [train(proxy, f"{x.name}_proxy{i:0{width}d}", "proxy", None, design, f"run{i}")
                    for i in range(x.search.runs)]
            fit = self.add("fit", x.name, {
                "law": x.search.law, "seed": x.seed, "design": design.folder, "eval_groups": eval_groups,
                "targets": sorted({t.target for t in x.objective.terms}),
                "runs": [j.folder for j in runs], "sources": [s.name for s in x.sources], "output": None,
            }, [design, *runs], "compiler.jobs")
            o = x.objective
            solve = self.add("solve", x.name, {
                "fit": fit.folder, "design": design.folder, "sources": [s.name for s in x.sources],
                "objective": {"kind": o.kind, "terms": [[t.coef, t.target] for t in o.terms], "kl": o.kl,
                              "kl_prior": o.kl_prior},
                "constraints": constraints, "extrapolate": x.search.extrapolate,
                # Epoch caps bound the final run's draws; without caps the token count does not
                # matter, and leaving it out keeps a change to the final recipe from re-solving.
                "tokens": (x.recipe(x.final).tokens if x.final else proxy.tokens)
                if any(c.quantity == "epochs" for c in x.constraints) else None,
                "output": None,
            }, [fit, design], "compiler.jobs")
            measured += runs
            n = len(x.sources)
            for b in x.baselines:
                if b.name == "uniform":
                    measured.append(train(proxy, f"{x.name}_uniform", "baseline", [1.0 / n] * n))
                elif b.name == "natural":
                    measured.append(train(proxy, f"{x.name}_natural", "baseline", None, design, "natural"))
                else:
                    w = dict(b.weights)
                    measured.append(train(proxy, f"{x.name}_{b.name}", "baseline", [w.get(s.name, 0.0) for s in x.sources]))
            measured.append(train(proxy, f"{x.name}_chosen", "chosen", None, solve, "solved"))
            if x.final:
                measured.append(train(x.recipe(x.final), f"{x.name}_final", "final", None, solve, "solved"))
        self.add("report", x.name, {
            "experiment": x.name, "sources": [s.name for s in x.sources], "eval_groups": eval_groups,
            "design": design.folder if design else None, "fit": fit.folder if fit else None,
            "solve": solve.folder if solve else None,
            "runs": [{"name": j.name, "role": roles[j.id], "output": j.folder} for j in measured],
            "objective": ({"kind": x.objective.kind, "terms": [[t.coef, t.target] for t in x.objective.terms]}
                          if x.objective else None),
            "output": None,
        }, [j for j in (design, fit, solve) if j is not None] + measured or tokenize_jobs, "compiler.jobs")
        return self.graph


def lower(experiment: Experiment) -> tuple[nx.DiGraph | None, list[Diagnostic]]:
    """The job graph of a checked experiment, or diagnostics (data globs that match nothing)."""
    b = _Builder(experiment)
    graph = b.build()
    return (graph if not b.diags else None), b.diags


def jobs(graph: nx.DiGraph) -> list[Job]:
    """The jobs in a dependency order (stable: by kind stage, then name)."""
    return [graph.nodes[n]["job"] for n in nx.lexicographical_topological_sort(graph)]


