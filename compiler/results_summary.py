"""The report's summary: what the jobs of a finished (or partial) experiment wrote, gathered
into one JSON-able dict, `summary.json`. The renderings (`results`, `results_html`) and
`results.zarr` are made from it alone. Reads files (paths relative to the work directory);
writes none and renders no text.

summary.json (every key always present; null where it does not apply or has not run yet):

    experiment   the experiment's name
    sources      the sources, in the spec's order
    eval_sets    the evaluation sets: the sources first, then the extra sets
    objective    {"kind": "sum" | "max", "terms": [[coef, eval_set], ...]}  (minimized)
    solution     solution.json of the solve job (mixture, binding constraints, ...)
    natural      {source: weight}: the token shares (the natural mixture before any move
                 into the constraints), from the design
    baselines    {baseline: [note, ...]}: what the design says of it, in words (a prior
                 moved into the constraints, a fixed mixture breaking an epoch cap); a
                 baseline with nothing to say is absent
    law          {"law": name, "cv": law.json's cross-validation figures (folds,
                 spearman, targets: {eval_set: {spearman, pearson, rmse, best_rank}}),
                 "proxy_predictions": "out-of-fold" | "in-sample" | "mixed" (how the
                 proxy runs' predicted objective was made), "objective_fit": {"n",
                 "spearman", "rmse"} of the proxy runs' predicted vs measured objective}
    runs         one dict per measured run, proxy scale first:
                 name, role (proxy | baseline | chosen), mixture_name ("chosen", the
                 baseline's name, or the design key "run3"), label, scale (proxy: the
                 search's proxy recipe | target: the final recipe), replicate (seed =
                 experiment seed + replicate), seed, output (its folder),
                 mixture {source: weight}, losses {eval_set: loss (nats/token)},
                 objective (from losses, as the spec states it),
                 predicted (the law's predicted objective, proxy scale only),
                 prediction (out-of-fold | in-sample | out-of-sample: chosen and baselines,
                 which the law was not fitted on), fold (the proxy run's CV fold),
                 curve [[step, training loss], ...], tokens_per_step (batch_size x seq_len),
                 steps, tokens (trained, total), wall_time_s, tokens_per_s,
                 schedule (a run whose mixture changed over its steps -- phases, DoReMi,
                 Aioli -- else null): {kind, sources, schedule [[first step, [w, ...]], ...],
                 learned [w, ...] (the mixture it arrived at: DoReMi's and Aioli's average
                 over the steps)}
                 round (proxy runs: the search round that proposed it, 0 the first design;
                 null for the others), fidelity (the proxy recipe it trained with, in a
                 search at several fidelities; else null), cheaper (true for a proxy at a
                 fidelity before the last: its losses sit higher, so it is left out of the
                 best proxy and of the predicted-vs-measured figures)
    evaluation   {"window": tokens per window, "asked": predicted tokens asked per set,
                 "tokens": {eval_set: predicted tokens it gave}, "short": [sets smaller than
                 asked]}: the one evaluation every run shares; null before any run finished
    fidelities   a search at several fidelities: {"recipes": [cheapest, ..., the
                 result's], "offsets": {eval_set: {recipe: how far its losses sit above
                 the last's}} (the fit's; null before it ran)}; null otherwise
    clusters     sources split into discovered domains: one clusters.json per split source
                 {source, k, embedding, seed, sample, documents, clusters [{name, documents,
                 bytes, examples [the first lines of the sampled documents nearest the
                 cluster's centre]}]}; null when no source is clustered
    scales       one block per scale trained at, proxy first (`results_stats.Scale`):
                 scale, recipe {model, layers, d_model, seq_len, batch_size, steps, tokens},
                 rows [{mixture, label, role, runs [names], objective {n, mean, sd},
                 predicted, paired {difference {n, mean, sd}, verdict} (chosen - this
                 baseline, by replicate; verdict beats | loses | indistinguishable |
                 no_error_bar), notes}], best_proxy {name, label, objective, predicted,
                 prediction, of}
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from mixc.compiler.results_stats import SCALES, Recipe, scale_blocks
from mixc.jobfile import load
from mixc.jobs import Objective, ReportJob, ReportRun, TrainJob
from mixc.runtime.kinds import KINDS as RUNTIME_KINDS

TRAIN = {"train": RUNTIME_KINDS["train"]}  # a run's job file, read through the worker's own class
PACK = {"pack": RUNTIME_KINDS["pack"]}  # a packed run's: its member of the pack's job file


def objective_value(objective: Mapping[str, Any] | None, losses: Mapping[str, float]) -> float | None:
    """The objective as the spec states it (weighted sum, or max of the weighted terms); None
    when a term's loss is missing."""
    if not objective or any(t not in losses for _, t in objective["terms"]):
        return None
    values = [c * losses[t] for c, t in objective["terms"]]
    return max(values) if objective["kind"] == "max" else sum(values)


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _objective_json(objective: Objective | None) -> dict[str, Any] | None:
    if objective is None:
        return None
    return {"kind": objective.kind, "terms": [[t.coef, t.target] for t in objective.terms]}


class _TrainJobs:
    """Each run's train job (its own job file, or its member of a pack's) and the weights it
    trained on: given in the file, or decided by another job (each decided-mixtures file is
    read once: a sweep's proxies share one)."""

    def __init__(self) -> None:
        self.files: dict[str, Any] = {}
        self.members: dict[str, TrainJob] | None = None  # a packed run's output folder -> its config

    def job(self, run: ReportRun) -> TrainJob | None:
        path = Path("jobs") / f"{run.output}.json"
        if path.exists():
            return load(path, TRAIN).config
        if self.members is None:
            self.members = {m.output: m for pack in sorted(Path("jobs").glob("pack/*.json"))
                            for m in load(pack, PACK).config.members}
        return self.members.get(run.output)

    def weights(self, train: TrainJob | None) -> list[float] | None:
        if train is None or train.weights is not None or train.weights_file is None:
            return train.weights if train else None
        if train.weights_file.path not in self.files:
            self.files[train.weights_file.path] = _read(Path(train.weights_file.path))
        decided = self.files[train.weights_file.path]
        return decided["mixtures"].get(train.weights_file.key) if decided else None


def recipe_of(train: TrainJob) -> Recipe:
    m = train.model
    return Recipe(m.kind, m.layers, m.d_model, m.seq_len, train.batch_size, train.steps,
                  train.steps * train.batch_size * m.seq_len)


def _tokens_per_step(train: TrainJob | None, metrics: Mapping[str, Any]) -> int | None:
    if train is not None:
        return train.batch_size * train.model.seq_len
    steps, tokens = metrics.get("steps"), metrics.get("tokens")
    return tokens // steps if steps and tokens else None


def run_summary(job: ReportJob, run: ReportRun, train: TrainJob | None, weights: list[float] | None) -> dict[str, Any]:
    """One run's entry of `runs` (its prediction still unset)."""
    metrics = _read(Path(run.output) / "metrics.json") or {}
    ev = metrics.get("eval", {})
    losses = {name: ev[group]["loss"] for name, group in job.eval_groups.items() if group in ev}
    return {"name": run.name, "role": run.role, "mixture_name": run.mixture, "label": run.label,
            "scale": run.scale, "replicate": run.replicate, "seed": train.seed if train else None,
            "output": run.output, "mixture": dict(zip(job.sources, weights)) if weights else None,
            "losses": losses, "objective": objective_value(_objective_json(job.objective), losses),
            "predicted": None, "prediction": None, "fold": None,
            "curve": metrics.get("loss_curve", []), "tokens_per_step": _tokens_per_step(train, metrics),
            "steps": metrics.get("steps"), "tokens": metrics.get("tokens"),
            "wall_time_s": metrics.get("wall_time_s"), "tokens_per_s": metrics.get("tokens_per_s"),
            "schedule": metrics.get("mixture"), "round": run.round if run.role == "proxy" else None,
            "fidelity": run.fidelity or None, "cheaper": bool(run.fidelity) and run.fidelity != job.fidelities[-1]}


def _law_predictions(law: Mapping[str, Any], runs: Sequence[Mapping[str, Any]], sources: Sequence[str],
                     objective: Mapping[str, Any] | None) -> dict[str, float | None]:
    """The fitted law's predicted objective, by run name, for every proxy-scale run with a mixture."""
    import numpy as np

    from mixc.compiler.mixture.laws import load_law

    fitted = load_law(law)
    here = [r for r in runs if r["scale"] == "proxy" and r["mixture"]]
    if not here:
        return {}
    predicted = fitted.predict(np.array([[r["mixture"][s] for s in sources] for r in here]))
    return {r["name"]: objective_value(objective, dict(zip(fitted.targets, map(float, p))))
            for r, p in zip(here, predicted)}


def _out_of_fold(fit_rows: Sequence[Mapping[str, Any]] | None,
                 objective: Mapping[str, Any] | None) -> dict[str, tuple[float, int | None]]:
    """The fit job's out-of-fold predicted objective and fold, by the proxy run's folder."""
    found = {}
    for row in fit_rows or ():
        value = objective_value(objective, row["oof"]) if isinstance(row.get("oof"), dict) else None
        if value is not None:
            found[row["run"]] = (value, row.get("fold"))
    return found


def with_predictions(runs: Sequence[dict[str, Any]], law_predicted: Mapping[str, float | None],
                     oof: Mapping[str, tuple[float, int | None]]) -> list[dict[str, Any]]:
    """Each run with its predicted objective and how it was made: a proxy run out-of-fold
    where the fit wrote it, else in-sample; the chosen mixture and baselines out-of-sample."""
    out = []
    for r in runs:
        if r["role"] == "proxy" and r["output"] in oof:
            value, fold = oof[r["output"]]
            out.append({**r, "predicted": value, "prediction": "out-of-fold", "fold": fold})
        elif law_predicted.get(r["name"]) is not None:
            kind = "in-sample" if r["role"] == "proxy" else "out-of-sample"
            out.append({**r, "predicted": law_predicted[r["name"]], "prediction": kind})
        else:
            out.append(r)
    return out


def objective_fit(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How the proxy runs' predicted objective matches the measured one: n, Spearman, RMSE."""
    import numpy as np

    from mixc.compiler.mixture.laws import spearman

    pairs = [(r["predicted"], r["objective"]) for r in runs
             if r["role"] == "proxy" and not r["cheaper"] and r["predicted"] is not None and r["objective"] is not None]
    if len(pairs) < 2:
        return {"n": len(pairs), "spearman": None, "rmse": None}
    pred, true = np.array(pairs).T
    rho = spearman(pred, true)
    return {"n": len(pairs), "spearman": None if math.isnan(rho) else rho,
            "rmse": float(np.sqrt(np.mean((pred - true) ** 2)))}


def law_summary(law: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    kinds = {r["prediction"] for r in runs if r["role"] == "proxy" and r["prediction"]}
    return {"law": law.get("law"), "cv": law.get("cv", {}),
            "proxy_predictions": kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else None),
            "objective_fit": objective_fit(runs)}


def _moved_note(name: str, info: Mapping[str, Any]) -> str:
    prior = "the token shares" if name == "natural" else name
    binding = f"; binding: {', '.join(info['binding'])}" if info.get("binding") else ""
    kl = f" (KL {info['kl']:.4f} nats from {prior}{binding})" if info.get("kl") is not None else ""
    return f"moved into the constraints{kl}"


def baseline_notes(design: Mapping[str, Any] | None) -> dict[str, tuple[str, ...]]:
    """What the design says about each baseline, in words: a prior (natural, uniform) moved
    into the constraints, a fixed mixture trained as given that breaks an epoch cap. Designs
    written before these keys existed give no notes."""
    design = design or {}
    notes: dict[str, list[str]] = {}
    for name, info in (design.get("baselines") or {}).items():
        if info.get("moved"):
            notes.setdefault(name, []).append(_moved_note(name, info))
    for name, broken in (design.get("violations") or {}).items():
        notes.setdefault(name, []).extend(f"breaks an epoch cap: {v}" for v in broken)
    return {name: tuple(said) for name, said in notes.items() if said}


def _natural(design: Mapping[str, Any] | None, sources: Sequence[str]) -> dict[str, float] | None:
    """The token shares: the natural mixture before any move into the constraints."""
    if not design:
        return None
    counted = (design.get("baselines") or {}).get("natural", {}).get("unconstrained")
    weights = counted or design["mixtures"].get("natural")
    return dict(zip(sources, weights)) if weights else None


def _recipes(job: ReportJob, trains: Sequence[TrainJob | None]) -> dict[str, Recipe]:
    """Each scale's recipe, from the first of its runs with a job file."""
    recipes: dict[str, Recipe] = {}
    for run, train in zip(job.runs, trains):
        cheaper = bool(run.fidelity) and run.fidelity != job.fidelities[-1]  # a proxy at another recipe
        if train is not None and run.scale not in recipes and not cheaper:
            recipes[run.scale] = recipe_of(train)
    return recipes


def evaluation(job: ReportJob, trains: Sequence[TrainJob | None]) -> dict[str, Any] | None:
    """The experiment's one evaluation: window length, tokens asked per set, and tokens each set
    gave (the same for every run: one set of windows); a held-out split smaller than asked is
    listed under `short`."""
    measured = [(r, t) for r, t in zip(job.runs, trains) if t is not None]
    for run, train in measured:
        ev = (_read(Path(run.output) / "metrics.json") or {}).get("eval")
        if not ev:
            continue
        tokens = {name: ev[group]["tokens"] for name, group in job.eval_groups.items() if group in ev}
        return {"window": train.eval_seq_len, "asked": train.eval_tokens, "tokens": tokens,
                "short": sorted(n for n, k in tokens.items() if k < train.eval_tokens)}
    return None


def _fidelities(job: ReportJob) -> dict[str, Any] | None:
    """A search at several fidelities: its recipes, cheapest first, and how far each one's losses
    sit above the last's (the fit's offsets, by evaluation set)."""
    if not job.fidelities:
        return None
    fitted = _read(Path(job.fit) / "fidelities.json") if job.fit else None
    offsets = ({t: {f: row[i] for f, row in zip(job.fidelities, fitted["offsets"])}
                for i, t in enumerate(fitted["targets"])} if fitted else None)
    return {"recipes": list(job.fidelities), "offsets": offsets}


def summarize(job: ReportJob) -> dict[str, Any]:
    """summary.json (see the module docstring); paths in `job` are relative to the work dir."""
    sources, objective = list(job.sources), _objective_json(job.objective)
    design = _read(Path(job.design) / "mixtures.json") if job.design else None
    law = _read(Path(job.fit) / "law.json") if job.fit else None
    jobs = _TrainJobs()
    trains = [jobs.job(r) for r in job.runs]
    runs = sorted((run_summary(job, r, t, jobs.weights(t)) for r, t in zip(job.runs, trains)),
                  key=lambda r: SCALES.index(r["scale"]))
    if law is not None:
        oof = _out_of_fold(_read(Path(job.fit) / "runs.json"), objective)
        runs = with_predictions(runs, _law_predictions(law, runs, sources, objective), oof)
    notes = baseline_notes(design)
    # Job files sort their keys: restore the spec's order (sources first, then extra sets).
    eval_sets = [s for s in sources if s in job.eval_groups] + sorted(set(job.eval_groups) - set(sources))
    return {"experiment": job.experiment, "sources": sources, "eval_sets": eval_sets, "objective": objective,
            "solution": _read(Path(job.solve) / "solution.json") if job.solve else None,
            "natural": _natural(design, sources), "baselines": {k: list(v) for k, v in notes.items()},
            "law": law_summary(law, runs) if law is not None else None, "runs": runs,
            "evaluation": evaluation(job, trains), "fidelities": _fidelities(job),
            "clusters": [_read(Path(c) / "clusters.json") for c in job.clusters] or None,
            "scales": [dataclasses.asdict(s) for s in scale_blocks(runs, _recipes(job, trains), notes)]}
