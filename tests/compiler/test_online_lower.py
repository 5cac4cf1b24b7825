"""Lowering online searches and phases: DoReMi's reference -> proxy -> runs on what it learned,
Aioli's controller in the chosen runs themselves, phases resolved to steps and to the files that
decide them, nothing online packed, the check's schedule the graph's; and one real run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mixc.compiler.budget import estimate, experiment_tasks, job_tasks, tokenizer_vocab, train_flops
from mixc.compiler.cli import main
from mixc.compiler.schedule import schedule
from tests.compiler.test_lower import graph_of, kinds, train_runs

REGMIX = """search regmix { runs: 6, train: proxy_run }
  minimize loss(alpha) + loss(beta)
  subject to {
    weight(alpha) <= 80%
  }
"""
DOREMI = """train reference_run { model: proxy, tokens: 2k, batch: 4 }
  search doremi { reference: reference_run, proxy: proxy_run, smoothing: 5% }
"""
AIOLI = "search aioli { proxy: proxy_run, rounds: 1 }\n"
FINAL = "train final_run { model: target, tokens: 4k, batch: 4 }"


def spec(make_spec, search: str, phases: str = "", name: str = "tiny.mix") -> Path:
    path = make_spec(name)
    text = path.read_text().replace(REGMIX, search)
    if phases:
        text = text.replace(FINAL, FINAL[:-2] + f", {phases} }}")
    path.write_text(text)
    return path


def test_doremi_lowers_to_reference_proxy_and_runs_on_what_it_learned(make_spec):
    _, graph = graph_of(spec(make_spec, DOREMI))
    assert kinds(graph) == {"tokenizer": 1, "tokenize": 2, "design": 1, "train": 6, "report": 1}
    runs = train_runs(graph)
    by_name = {j.name: j for j in graph.jobs}
    design = next(j for j in graph.jobs if j.kind == "design")
    assert design.config.runs == 0  # the natural and uniform baselines only
    reference, proxy = by_name["tiny_reference"], by_name["tiny_doremi"]
    assert runs["tiny_reference"].control is None and runs["tiny_reference"].weights_file.key == "uniform"
    control = runs["tiny_doremi"].control
    assert control.kind == "doremi" and control.doremi.reference == f"{reference.folder}/model"
    assert control.doremi.smoothing == pytest.approx(0.05) and reference.id in proxy.after
    for name in ("tiny_chosen", "tiny_final"):
        assert runs[name].weights_file.path == f"{proxy.folder}/mixtures.json"
        assert runs[name].weights_file.key == "learned" and runs[name].control is None
    report = next(j for j in graph.jobs if j.kind == "report").config
    assert report.fit is None and report.solve is None
    assert [t.coef for t in report.objective.terms] == [0.5, 0.5]  # the average loss


def test_aioli_online_puts_its_controller_in_the_chosen_runs(make_spec):
    x, graph = graph_of(spec(make_spec, AIOLI))
    runs = train_runs(graph)
    assert set(runs) == {"tiny_chosen", "tiny_uniform", "tiny_natural", "tiny_final"}
    for name in ("tiny_chosen", "tiny_final"):
        control = runs[name].control
        assert control.kind == "aioli" and control.aioli.rounds == 1
        assert runs[name].weights_file.key == "uniform"  # the prior it starts from
    assert runs["tiny_uniform"].control is None
    # The controller's measurements are counted: the chosen run costs more than its baseline.
    by_name = {j.name: j for j in graph.jobs}
    assert by_name["tiny_chosen"].flops > by_name["tiny_uniform"].flops


def test_phases_become_steps_and_files(make_spec):
    _, graph = graph_of(spec(make_spec, REGMIX, "phases { 0%: chosen, 50%: natural, 75%: mixture(alpha: 100%) }"))
    runs, by_name = train_runs(graph), {j.name: j for j in graph.jobs}
    final = runs["tiny_final"]
    assert final.weights is None and final.weights_file is None and final.control.kind == "phases"
    steps = final.steps
    phases = final.control.phases
    assert [p.start for p in phases] == [0, int(0.5 * steps), int(0.75 * steps)]
    assert phases[0].weights_file.key == "solved" and phases[1].weights_file.key == "natural"
    assert phases[2].weights == [1.0, 0.0]
    solve = next(j for j in graph.jobs if j.kind == "solve")
    assert solve.id in by_name["tiny_final"].after
    assert runs["tiny_chosen"].control is None  # the proxy recipe has no phases


def test_a_validated_baseline_keeps_the_phases_with_its_own_mixture(make_spec):
    path = spec(make_spec, REGMIX, "phases { 0%: chosen, 50%: mixture(alpha: 100%) }")
    path.write_text(path.read_text().replace("baselines uniform, natural", "baselines uniform, natural\n  validate natural"))
    _, graph = graph_of(path)
    phases = train_runs(graph)["tiny_final_natural"].control.phases
    assert phases[0].weights_file.key == "natural" and phases[1].weights == [1.0, 0.0]


@pytest.mark.parametrize("search", [DOREMI, AIOLI, DOREMI.replace("smoothing: 5%", "apply: online")])
def test_the_checks_schedule_is_the_graphs_for_online_searches(make_spec, search):
    x, graph = graph_of(spec(make_spec, search))
    assert not [j for j in graph.jobs if j.kind == "pack"]
    est = estimate(x)
    flops = {r.name: train_flops(x, r, tokenizer_vocab(x)) for r in x.recipes}
    from_check, from_graph = experiment_tasks(x, est, flops, tokenizer_vocab(x)), job_tasks(graph.jobs, est)
    assert len(from_check) == len(from_graph)
    assert schedule(from_check, est.slots).seconds == pytest.approx(schedule(from_graph, est.slots).seconds)
    assert sum(t.seconds for t in from_check) == pytest.approx(sum(t.seconds for t in from_graph))


def test_doremi_runs_end_to_end_and_the_runs_keep_their_schedule(make_spec, tmp_path, capfd):
    path = spec(make_spec, DOREMI, "phases { 0%: chosen, 50%: natural }")
    assert main(["run", str(path), "--cores", "2"]) == 0
    out = capfd.readouterr().out
    assert "tiny_final" in out and "tiny_chosen" in out
    work = tmp_path / ".mixc"
    learned = json.loads(next(work.glob("train/tiny_doremi-*/mixtures.json")).read_text())["mixtures"]["learned"]
    proxy = json.loads(next(work.glob("train/tiny_doremi-*/metrics.json")).read_text())["mixture"]
    assert proxy["kind"] == "doremi" and proxy["learned"] == learned and len(proxy["schedule"]) > 1
    final = json.loads(next(work.glob("train/tiny_final-*/metrics.json")).read_text())
    assert final["mixture"]["schedule"][0][1] == learned  # the first phase trains on what DoReMi learned
    assert final["mixture"]["schedule"][1][0] == final["steps"] // 2
    # The report draws both: DoReMi's weights over its steps, and the final run's two phases.
    page = next(work.glob("report/tiny-*/report.html")).read_text()
    assert 'data-plot="mixture_schedules"' in page
    assert "doremi proxy (proxy scale), doremi; learned:" in page and "<!-- chosen (target scale), phases -->" in page
