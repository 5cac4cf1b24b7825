"""The report from synthetic job outputs (no training): two scales, replicates with known
mean, sd and paired differences, one replicate, out-of-fold predictions present and absent,
the tokens axis of the loss curves, and the results store's coordinates."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from mixc.compiler.jobs.report import run as run_report
from mixc.compiler.results import markdown, result_table, runs_text
from mixc.compiler.results_html import html
from mixc.compiler.results_plots import loss_curves, mixture_schedules, scatter_points, smoothed, tokens_tick
from mixc.compiler.results_summary import summarize
from mixc.jobs import Objective, ObjectiveTerm, ReportJob, ReportRun
from tests.helpers.jobs import model, train_job

SOURCES = ("alpha", "beta")
PROXY_RECIPE = {"steps": 12, "batch_size": 4, "model": model(seq_len=16)}  # 768 tokens per run
TARGET_RECIPE = {"steps": 20, "batch_size": 8, "model": model(seq_len=16, layers=2)}  # 2,560 tokens per run
# Measured objective by (scale, mixture) and replicate; chosen - uniform: proxy -0.5, -0.4; target -0.3, -0.2.
MEASURED = {("proxy", "chosen"): [5.0, 5.2], ("proxy", "uniform"): [5.5, 5.6], ("proxy", "natural"): [5.1, 5.1],
            ("proxy", "fixed0"): [5.3, 5.4], ("target", "chosen"): [4.0, 4.1], ("target", "uniform"): [4.3, 4.3]}
FIXED = {"fixed0": ("mixture(alpha: 60%, beta: 40%)", [0.6, 0.4])}  # label, weights
PROXIES = {"run0": ([0.2, 0.8], 5.9), "run1": ([0.5, 0.5], 5.7), "run2": ([0.8, 0.2], 5.6)}  # mixture, objective
SOLVED, NATURAL, SHARES = [0.8, 0.2], [0.3, 0.7], [0.25, 0.75]  # the natural baseline: moved, and as counted
BINDING = "tiny.mix:9 weight(alpha) >= 30%"
DESIGN_BASELINES = {"natural": {"unconstrained": SHARES, "moved": True, "kl": 0.0123, "binding": [BINDING]},
                    "uniform": {"unconstrained": [0.5, 0.5], "moved": False, "kl": 0.0, "binding": []}}
MOVED = f"moved into the constraints (KL 0.0123 nats from the token shares; binding: {BINDING})"
VIOLATIONS = {"fixed0": ["tiny.mix:10 epochs(beta) <= 2"]}
# A linear law: loss(alpha) = 3 - w_alpha, loss(beta) = 3 + 0.5 w_alpha, so the objective is 6 - 0.5 w_alpha.
LAW = {"law": "linear", "sources": list(SOURCES), "targets": list(SOURCES),
       "params": {"c": [3.0, 3.0], "t": [[-1.0, 0.0], [0.5, 0.0]]}, "support": [0.8, 0.8],
       "cv": {"folds": 3, "spearman": 0.5, "targets": {"alpha": {"spearman": 0.5, "rmse": 0.125},
                                                      "beta": {"spearman": 0.5, "rmse": 0.25}}}}
OOF = {"run0": 5.95, "run1": 5.5, "run2": 5.75}  # the fit's out-of-fold predicted objective, by design key


def write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def losses(objective: float) -> dict[str, dict[str, float]]:
    return {s: {"loss": objective / 2, "tokens": 512} for s in SOURCES}


def add_run(work: Path, run: ReportRun, objective: float, recipe: dict, **weights) -> ReportRun:
    """A finished train job: its job file and its metrics.json (a three-point loss curve)."""
    job = train_job({"store": "tokenize", "tokenizer": "tokenizer"}, Path(run.output), seed=1 + run.replicate,
                    **recipe, **weights)
    write(work / "jobs" / f"{run.output}.json", job)
    steps, per_step = recipe["steps"], recipe["batch_size"] * recipe["model"]["seq_len"]
    write(work / run.output / "metrics.json", {
        "steps": steps, "tokens": steps * per_step, "wall_time_s": 2.0, "tokens_per_s": steps * per_step / 2.0,
        "loss_curve": [[1, 6.0], [steps // 2, 5.0], [steps, 4.5]], "eval": losses(objective)})
    return run


def mixture_runs(work: Path, scale: str, replicates: int) -> list[ReportRun]:
    """The chosen mixture and the baselines at one scale, named as lowering names them."""
    recipe, prefix = (PROXY_RECIPE, "tiny") if scale == "proxy" else (TARGET_RECIPE, "tiny_final")
    runs = []
    for (at, mixture), values in MEASURED.items():
        for r in range(replicates) if at == scale else ():
            chosen_name = f"{prefix}_chosen" if scale == "proxy" else prefix
            name = (chosen_name if mixture == "chosen" else f"{prefix}_{mixture}") + (f"_r{r}" if r else "")
            role = "chosen" if mixture == "chosen" else "baseline"
            weights = ({"weights": None, "weights_file": {"path": "solve/tiny/mixtures.json", "key": "solved"}}
                       if mixture == "chosen" else
                       {"weights": None, "weights_file": {"path": "design/tiny/mixtures.json", "key": "natural"}}
                       if mixture == "natural" else {"weights": FIXED.get(mixture, ("", [0.5, 0.5]))[1]})
            label = FIXED.get(mixture, (mixture,))[0]
            runs.append(add_run(work, ReportRun(name, role, mixture, label, scale, r, f"train/{name}"), values[r],
                                recipe, **weights))
    return runs


def workdir(work: Path, replicates: int = 2, oof: bool = True, target: bool = True) -> ReportJob:
    """A work directory holding every output the report reads; returns the report job."""
    runs = [add_run(work, ReportRun(f"tiny_proxy{i}", "proxy", key, f"proxy {i}", "proxy", 0, f"train/tiny_proxy{i}"),
                    objective, PROXY_RECIPE, weights=None,
                    weights_file={"path": "design/tiny/mixtures.json", "key": key})
            for i, (key, (_, objective)) in enumerate(PROXIES.items())]
    runs += mixture_runs(work, "proxy", replicates) + (mixture_runs(work, "target", replicates) if target else [])
    write(work / "design/tiny/mixtures.json", {
        "sources": list(SOURCES), "mixtures": {**{k: w for k, (w, _) in PROXIES.items()}, "natural": NATURAL},
        "baselines": DESIGN_BASELINES, "violations": VIOLATIONS})
    write(work / "solve/tiny/mixtures.json", {"sources": list(SOURCES), "mixtures": {"solved": SOLVED}})
    write(work / "solve/tiny/solution.json", {"mixture": dict(zip(SOURCES, SOLVED)),
                                              "binding": ["weight(alpha) <= 80%"]})
    write(work / "fit/tiny/law.json", LAW)
    write(work / "fit/tiny/runs.json", [
        {"run": f"train/tiny_proxy{i}", "mixture": w, "losses": {s: v / 2 for s in SOURCES},
         **({"oof": {s: OOF[k] / 2 for s in SOURCES}, "fold": i} if oof else {})}
        for i, (k, (w, v)) in enumerate(PROXIES.items())])
    objective = Objective("sum", (ObjectiveTerm(1.0, "alpha"), ObjectiveTerm(1.0, "beta")), 0.0, None)
    return ReportJob("tiny", SOURCES, {s: s for s in SOURCES}, "design/tiny", "fit/tiny", "solve/tiny", tuple(runs),
                     objective, "report/tiny")


@pytest.fixture
def in_work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def block(summary: dict, scale: str) -> dict:
    return next(b for b in summary["scales"] if b["scale"] == scale)


def row(summary: dict, scale: str, mixture: str) -> dict:
    return next(r for r in block(summary, scale)["rows"] if r["mixture"] == mixture)


def test_replicates_give_mean_sd_and_paired_differences_per_scale(in_work):
    summary = summarize(workdir(in_work))
    chosen = row(summary, "proxy", "chosen")["objective"]
    assert chosen["n"] == 2 and chosen["mean"] == pytest.approx(5.1) and chosen["sd"] == pytest.approx(math.sqrt(0.02))
    uniform = row(summary, "proxy", "uniform")["paired"]
    assert uniform["difference"]["mean"] == pytest.approx(-0.45)
    assert uniform["difference"]["sd"] == pytest.approx(math.sqrt(0.005)) and uniform["verdict"] == "beats"
    natural = row(summary, "proxy", "natural")["paired"]
    assert natural["difference"]["mean"] == pytest.approx(0.0) and natural["verdict"] == "indistinguishable"
    target = row(summary, "target", "uniform")["paired"]
    assert target["difference"]["mean"] == pytest.approx(-0.25) and target["verdict"] == "beats"
    assert [r["mixture"] for r in block(summary, "target")["rows"]] == ["chosen", "uniform"]
    assert block(summary, "proxy")["recipe"]["tokens"] == 768 and block(summary, "target")["recipe"]["tokens"] == 2560


def test_the_table_has_a_labelled_block_per_scale_and_says_who_won(in_work):
    table = result_table(summarize(workdir(in_work)))
    proxy_at = table.index("proxy scale, the search's proxy recipe")
    target_at = table.index("target scale, the final recipe")
    assert proxy_at < target_at and "768 tokens per run" in table and "2,560 tokens per run" in table
    assert "at proxy scale, chosen beats uniform by 0.4500 ± 0.0707 (n=2), more than 2 sd" in table
    assert "at proxy scale, chosen is not distinguishable from natural: +0.0000 ± 0.1414 (n=2), within 2 sd" in table
    assert "at target scale, chosen beats uniform by 0.2500 ± 0.0707 (n=2), more than 2 sd" in table
    assert "5.1000 ± 0.1414" in table and "-0.4500 ± 0.0707" in table
    target = table[target_at:]
    assert "tiny_final, tiny_final_r1" in target and "tiny_chosen" not in target  # each run in its own scale's block
    assert "natural \u2020" in table and "mixture(alpha: 60%, beta: 40%) \u2020" in table
    assert "uniform \u2020" not in table and f"\u2020 natural: {MOVED}" in table
    assert "\u2020 mixture(alpha: 60%, beta: 40%): breaks an epoch cap: tiny.mix:10 epochs(beta) <= 2" in table
    assert "mixture found: alpha 80.0%  beta 20.0%" in table


def test_many_replicates_are_named_in_short():
    assert runs_text(["a", "a_r1", "a_r2"]) == "a, a_r1, a_r2"
    assert runs_text(["a", "a_r1", "a_r2", "a_r3"]) == "a, a_r1, ..., a_r3 (4 runs)"


def test_one_replicate_says_there_is_no_error_bar(in_work):
    summary = summarize(workdir(in_work, replicates=1))
    assert row(summary, "proxy", "chosen")["objective"] == {"n": 1, "mean": 5.0, "sd": None}
    assert row(summary, "target", "uniform")["paired"]["verdict"] == "no_error_bar"
    table = result_table(summary)
    assert "at target scale, chosen - uniform = -0.3000 from one replicate: no error bar" in table
    rows = [line for line in table.splitlines() if line.startswith(("chosen", "uniform", "natural", "mixture("))]
    assert len(rows) == 6 and not any("±" in line for line in rows)


def test_proxy_predictions_are_out_of_fold_when_the_fit_wrote_them(in_work):
    summary = summarize(workdir(in_work))
    proxies = {r["mixture_name"]: r for r in summary["runs"] if r["role"] == "proxy"}
    assert {k: (r["predicted"], r["prediction"]) for k, r in proxies.items()} == {
        k: (pytest.approx(v), "out-of-fold") for k, v in OOF.items()}
    best = block(summary, "proxy")["best_proxy"]
    assert (best["name"], best["predicted"], best["of"]) == ("tiny_proxy2", pytest.approx(5.75), 3)
    assert summary["law"]["proxy_predictions"] == "out-of-fold" and summary["law"]["objective_fit"]["n"] == 3
    dots = {d.name: d for d in scatter_points(summary)}
    assert dots["tiny_proxy0"].predicted == pytest.approx(OOF["run0"]) and dots["tiny_proxy0"].sd is None
    assert dots["chosen"].measured == pytest.approx(5.1) and dots["chosen"].sd == pytest.approx(math.sqrt(0.02))
    table = result_table(summary)
    assert "5.7500 oof" in table and "proxy runs out-of-fold" in table
    assert ("3-fold cross-validation, Spearman 0.500 (mean over eval sets), RMSE (nats per token) alpha 0.1250, "
            "beta 0.2500") in table


def test_without_out_of_fold_the_proxy_predictions_are_labelled_in_sample(in_work):
    summary = summarize(workdir(in_work, oof=False))
    best = next(r for r in summary["runs"] if r["name"] == "tiny_proxy2")
    assert best["predicted"] == pytest.approx(6 - 0.5 * 0.8) and best["prediction"] == "in-sample"
    table = result_table(summary)
    assert "5.6000 in-sample" in table and "proxy runs in-sample" in table and "oof" not in table


def test_chosen_and_baselines_get_the_laws_prediction_at_proxy_scale_only(in_work):
    summary = summarize(workdir(in_work))
    for r in summary["runs"]:
        if r["role"] != "proxy" and r["scale"] == "proxy":
            w_alpha = {"chosen": SOLVED[0], "uniform": 0.5, "natural": NATURAL[0], "fixed0": 0.6}[r["mixture_name"]]
            assert (r["predicted"], r["prediction"]) == (pytest.approx(6 - 0.5 * w_alpha), "out-of-sample")
        if r["scale"] == "target":
            assert r["predicted"] is None and r["prediction"] is None
    assert [r["scale"] for r in summary["runs"]] == sorted((r["scale"] for r in summary["runs"]),
                                                           key=["proxy", "target"].index)


def test_without_a_final_recipe_there_is_no_target_block(in_work):
    summary = summarize(workdir(in_work, target=False))
    assert [b["scale"] for b in summary["scales"]] == ["proxy"]
    assert "target scale" not in result_table(summary)


def svg_text(svg: str) -> list[str]:
    """The texts of a matplotlib SVG (drawn as paths; each is named in a comment)."""
    return re.findall(r"<!-- (.*?) -->", svg)


def test_loss_curves_are_plotted_against_tokens(in_work):
    summary = summarize(workdir(in_work))
    proxy = next(r for r in summary["runs"] if r["name"] == "tiny_chosen")
    assert proxy["tokens_per_step"] == 64
    texts = svg_text(loss_curves(summary))
    assert "tokens trained (step x batch x sequence length)" in texts and "training loss (nats per token)" in texts
    assert "proxy scale, the search's proxy recipe" in texts and "target scale, the final recipe" in texts
    assert {"500", "2.5k"} <= set(texts)  # the target panel's axis reaches 2,560 tokens
    assert (tokens_tick(900), tokens_tick(1500), tokens_tick(3_200_000), tokens_tick(1.25e9)) == (
        "900", "1.5k", "3.2M", "1.25B")
    assert smoothed([4.0, 4.0, 4.0]) == pytest.approx([4.0, 4.0, 4.0])  # debiased: no pull toward 0
    assert smoothed([6.0, 4.0], weight=0.5) == pytest.approx([6.0, 14 / 3])
    assert html(summary).count('class="plot"') == 5


def test_summary_fields_and_markdown(in_work):
    summary = summarize(workdir(in_work))
    assert set(summary) == {"experiment", "sources", "eval_sets", "objective", "solution", "natural", "baselines",
                            "law", "runs", "scales", "evaluation", "fidelities", "clusters"}
    assert set(summary["runs"][0]) == {
        "name", "role", "mixture_name", "label", "scale", "replicate", "seed", "output", "mixture", "losses",
        "objective", "predicted", "prediction", "fold", "curve", "tokens_per_step", "steps", "tokens",
        "wall_time_s", "tokens_per_s", "schedule", "round", "fidelity", "cheaper"}
    assert summary["baselines"] == {
        "natural": [MOVED],
        "fixed0": ["breaks an epoch cap: tiny.mix:10 epochs(beta) <= 2"]}
    assert summary["natural"] == dict(zip(SOURCES, SHARES))
    assert summary["clusters"] is None and summary["fidelities"] is None  # no source clustered, one fidelity
    md = markdown(summary)
    assert "## proxy scale, the search's proxy recipe" in md and "## target scale, the final recipe" in md
    assert "- at target scale, chosen beats uniform by 0.2500" in md and "| tiny_final_uniform_r1 | target |" in md


def test_report_job_writes_the_store_with_scale_replicate_and_mixture(in_work):
    import zarr

    job = workdir(in_work)
    run_report(job)
    store = zarr.open_group(str(in_work / "report/tiny/results.zarr"), mode="r")
    n = len(job.runs)
    assert store["loss"].shape == (n, 2) and store["objective"].shape == (n,)
    names = list(store["run"][:])
    i = names.index("tiny_final_uniform_r1")
    assert (store["scale"][i], store["replicate"][i], store["mixture"][i], store["role"][i]) == (
        "target", 1, "uniform", "baseline")
    assert store["objective"][i] == pytest.approx(4.3) and math.isnan(store["predicted"][i])
    summary = json.loads((in_work / "report/tiny/summary.json").read_text())
    assert summary["scales"][1]["rows"][1]["paired"]["verdict"] == "beats"


def test_the_store_opens_with_xarray_without_a_warning(in_work):
    import warnings

    import xarray

    run_report(workdir(in_work))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # unconsolidated metadata would warn (and open slower)
        ds = xarray.open_zarr(in_work / "report/tiny/results.zarr")
    assert set(ds.data_vars) == {"loss", "weights", "objective", "predicted"}
    assert {"role", "scale", "replicate", "mixture", "label"} <= set(ds.coords)
    final = ds.sel(run="tiny_final_uniform_r1")
    assert (str(final.scale.values), int(final.replicate)) == ("target", 1)
    assert float(final.objective) == pytest.approx(4.3) and list(ds.eval_set.values) == ["alpha", "beta"]


def test_mixc_report_rebuilds_the_report_of_a_work_directory(in_work, capsys):
    from dataclasses import replace

    from mixc.compiler.cli import main
    from mixc.jobfile import dumps

    job = replace(workdir(in_work), output="report/tiny-0000")
    write(in_work / "jobs/tiny.index.json", {"jobs": {"report/tiny-0000": {"kind": "report"}}})
    (in_work / "jobs/report/tiny-0000.json").parent.mkdir(parents=True, exist_ok=True)
    (in_work / "jobs/report/tiny-0000.json").write_text(dumps("report", job))
    assert main(["report", str(in_work)]) == 0
    out = capsys.readouterr().out
    assert "## target scale, the final recipe" in out and "| tiny_final_uniform_r1 | target |" in out
    assert (in_work / "report/tiny-0000/report.html").read_text().count('class="plot"') == 5


def test_a_small_held_out_set_is_reported_with_its_size():
    from mixc.compiler.results import evaluation_text

    ev = {"window": 128, "asked": 65536, "tokens": {"literature": 2560, "code": 65536}, "short": ["literature"]}
    line = evaluation_text({"evaluation": ev})
    assert "same held-out windows of 128 tokens" in line and "literature 2,560 tokens" in line
    assert "code" not in line.split("smaller")[1]
    assert evaluation_text({"evaluation": None}) is None


def test_a_run_whose_mixture_changed_is_drawn_over_training_with_what_it_learned(in_work):
    job = workdir(in_work)
    chosen = next(r for r in job.runs if r.name == "tiny_chosen")  # 12 steps of 64 tokens
    metrics_path = in_work / chosen.output / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["mixture"] = {"kind": "doremi", "sources": list(SOURCES),
                          "schedule": [[0, [0.5, 0.5]], [4, [0.7, 0.3]], [8, [0.9, 0.1]]], "learned": [0.7, 0.3]}
    write(metrics_path, metrics)
    summary = summarize(job)
    entry = next(r for r in summary["runs"] if r["name"] == "tiny_chosen")
    assert entry["schedule"]["schedule"][1] == [4, [0.7, 0.3]]
    assert all(r["schedule"] is None for r in summary["runs"] if r["name"] != "tiny_chosen")
    texts = svg_text(mixture_schedules(summary))
    assert "chosen (proxy scale), doremi; learned: alpha 70%, beta 30%" in texts
    assert "weight" in texts and {"alpha", "beta", "700"} <= set(texts)
    assert "800" not in texts  # the axis ends at the run's end, 768 tokens
    page = html(summary)
    assert page.count('class="plot"') == 6 and 'data-plot="mixture_schedules"' in page
    # Without a changing mixture there is nothing to draw, and the page has no empty figure.
    metrics.pop("mixture")
    write(metrics_path, metrics)
    assert mixture_schedules(summarize(job)) is None
