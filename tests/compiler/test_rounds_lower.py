"""Searches in rounds and at several fidelities: the graph they lower to (a propose job for each
round after the first, after every run before it; each round's proxies on its file; packs within
a round and fidelity; the fit over every run), the check's schedule the graph's, the checks on
runs and fidelities, the fit's fidelity offsets, and one real run of two rounds at two fidelities."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mixc.compiler.budget import estimate, experiment_tasks, job_tasks, tokenizer_vocab, train_flops
from mixc.compiler.cli import main
from mixc.compiler.jobs.fit import fidelity_offsets
from mixc.compiler.jobs.propose import assign
from mixc.compiler.pipeline import hooks
from mixc.compiler.schedule import schedule
from mixc.jobs import FitJob, Objective, ObjectiveTerm, WeightsFile
from mixc.spec.check import check_file
from tests.compiler.test_lower import graph_of, kinds, train_runs

TINY = """  model tiny = dense(layers: 1, d_model: 16, heads: 2, seq_len: 32)
  train tiny_run { model: tiny, tokens: 1k, batch: 4 }
"""


def spec(make_spec, search: str, runs: int = 3) -> Path:
    """The compiler tests' tiny spec with `search` (a cheaper `tiny_run` recipe beside the proxy's)."""
    path = make_spec(runs=runs)
    text = path.read_text().replace(f"search regmix {{ runs: {runs}, train: proxy_run }}", f"search regmix {{ {search} }}")
    path.write_text(text.replace("  train final_run", TINY + "  train final_run"))
    return path


def by_kind(graph, kind: str) -> list:
    return [j for j in graph.jobs if j.kind == kind]


def test_rounds_lower_to_a_propose_job_after_every_earlier_run(make_spec):
    _, graph = graph_of(spec(make_spec, "runs: 3, rounds: 3, propose: ei, train: proxy_run"))
    assert kinds(graph)["propose"] == 2 and len(by_kind(graph, "design")) == 1
    design, fit = by_kind(graph, "design")[0], by_kind(graph, "fit")[0]
    proposals = sorted(by_kind(graph, "propose"), key=lambda j: j.config.round)
    runs = train_runs(graph)
    for r, propose in enumerate(proposals, 1):
        assert (propose.config.round, propose.config.rounds, propose.config.method) == (r, 3, "ei")
        assert len(propose.config.measured) == 3 * r  # every run of the rounds before it
        ran = {m.output for m in propose.config.measured}
        waited = {a for a in propose.after}
        for pack in by_kind(graph, "pack"):
            if {m.output for m in pack.config.members} <= ran:
                assert pack.id in waited
        for i in range(3):
            config = runs[f"tiny_round{r}_proxy{i}"]
            assert config.weights_file == WeightsFile(f"{propose.folder}/mixtures.json", f"run{i}")
    assert runs["tiny_proxy0"].weights_file == WeightsFile(f"{design.folder}/mixtures.json", "run0")
    assert len(fit.config.runs) == 9 and len(fit.config.mixtures) == 9 and fit.config.fidelity == ()
    assert {w.path for w in fit.config.mixtures} == {f"{j.folder}/mixtures.json" for j in [design, *proposals]}
    assert set(fit.after) >= {j.id for j in proposals}
    # Packs hold one round's proxies, after that round's file.
    for pack in by_kind(graph, "pack"):
        files = {m.weights_file.path for m in pack.config.members}
        assert len(files) == 1 and any(f"{j.folder}/mixtures.json" in files for j in [design, *proposals])


def test_one_round_lowers_as_before(make_spec):
    _, graph = graph_of(spec(make_spec, "runs: 3, train: proxy_run"))
    assert "propose" not in kinds(graph)
    fit = by_kind(graph, "fit")[0]
    assert fit.config.mixtures == () and fit.config.fidelity == ()
    assert set(train_runs(graph)) >= {"tiny_proxy0", "tiny_proxy1", "tiny_proxy2"}


def test_fidelities_lower_to_paired_first_runs_and_costs(make_spec):
    x, graph = graph_of(spec(make_spec, "runs: 2, rounds: 2, propose: ei, fidelities: [tiny_run, proxy_run]"))
    runs = train_runs(graph)
    design, propose, fit = (by_kind(graph, k)[0] for k in ("design", "propose", "fit"))
    for i in range(2):  # round 0: the same mixture at each fidelity
        cheap, full = runs[f"tiny_proxy{i}_tiny_run"], runs[f"tiny_proxy{i}_proxy_run"]
        assert cheap.weights_file == full.weights_file == WeightsFile(f"{design.folder}/mixtures.json", f"run{i}")
        assert cheap.model.d_model == 16 and full.model.d_model == 32
        # round 1: fidelity f reads run<f x runs + i>
        assert runs[f"tiny_round1_proxy{i}_tiny_run"].weights_file.key == f"run{i}"
        assert runs[f"tiny_round1_proxy{i}_proxy_run"].weights_file.key == f"run{2 + i}"
    costs = propose.config.costs
    vocab = tokenizer_vocab(x)
    flops = [train_flops(x, x.recipe(n), vocab) for n in ("tiny_run", "proxy_run")]
    assert costs == pytest.approx((flops[0] / flops[1], 1.0)) and costs[0] < 1
    assert [m.fidelity for m in propose.config.measured] == [0, 0, 1, 1]
    assert fit.config.fidelity == (0, 0, 1, 1, 0, 0, 1, 1)
    # Every run is scored on the same windows, and the chosen runs train with the last fidelity.
    assert len({(c.eval_seq_len, c.eval_tokens) for c in runs.values()}) == 1
    assert runs["tiny_chosen"].model.d_model == 32
    report = by_kind(graph, "report")[0].config
    assert report.fidelities == ("tiny_run", "proxy_run")
    assert {r.fidelity for r in report.runs if r.role == "proxy"} == {"tiny_run", "proxy_run"}
    assert {r.round for r in report.runs if r.role == "proxy"} == {0, 1}
    for pack in by_kind(graph, "pack"):  # a pack holds one recipe
        assert len({m.model.d_model for m in pack.config.members}) == 1


@pytest.mark.parametrize("search", ["runs: 3, rounds: 3, propose: climb, train: proxy_run",
                                    "runs: 2, rounds: 2, fidelities: [tiny_run, proxy_run]"])
def test_the_checks_schedule_is_the_graphs_for_rounds(make_spec, search):
    x, graph = graph_of(spec(make_spec, search))
    est = estimate(x)
    vocab = tokenizer_vocab(x)
    flops = {r.name: train_flops(x, r, vocab) for r in x.recipes}
    from_check, from_graph = experiment_tasks(x, est, flops, vocab), job_tasks(graph.jobs, est)
    assert len(from_check) == len(from_graph)
    assert schedule(from_check, est.slots).seconds == pytest.approx(schedule(from_graph, est.slots).seconds)
    assert sum(t.seconds for t in from_check) == pytest.approx(sum(t.seconds for t in from_graph))
    rows = {r.recipe: r.count for r in est.rows if r.what == "proxy runs"}
    assert sum(rows.values()) == x.search.proxy_runs


def _diagnostics(path: Path) -> list:
    _, diags, _ = check_file(str(path), hooks(with_budget=False))
    return diags


def test_the_law_counts_every_round_and_fidelity(make_spec):
    assert not [d for d in _diagnostics(spec(make_spec, "runs: 3, rounds: 2, law: linear, train: proxy_run"))
                if d.code == "E104"]
    one = [d for d in _diagnostics(spec(make_spec, "runs: 3, law: linear, train: proxy_run")) if d.code == "E104"]
    assert one and "the search has 3" in one[0].message
    path = spec(make_spec, "runs: 1, rounds: 2, law: loglinear, fidelities: [tiny_run, proxy_run]")
    found = [d for d in _diagnostics(path) if d.code == "E104"]
    assert found and "4 (1 a round x 2 rounds x 2 fidelities)" in found[0].message


def test_fidelities_must_rise_in_cost(make_spec):
    path = spec(make_spec, "runs: 4, fidelities: [proxy_run, tiny_run]")
    found = [d for d in _diagnostics(path) if d.code == "E026"]
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "fidelities:" in text)
    assert found and "cheapest first" in found[0].message and found[0].span.line == line
    assert not [d for d in _diagnostics(spec(make_spec, "runs: 4, fidelities: [tiny_run, proxy_run]"))
                if d.code == "E026"]


def test_a_proposal_trains_at_its_fidelity_while_it_has_room():
    assert assign([1, 1, 0, 0], 2, 2) == [1, 1, 0, 0]
    assert assign([1, 1, 1, 0], 2, 2) == [1, 1, 0, 0]  # the third wants the full one: the nearest with room
    assert assign([0, 0, 0, 0, 0, 0], 2, 3) == [0, 0, 1, 1, 2, 2]
    assert assign([2, 2, 2, 2, 2, 2], 2, 3) == [2, 2, 1, 1, 0, 0]
    assert assign([1, 1, 1], 1, 3) == [1, 2, 0]  # of two as near, the higher


def _fit_job(mixtures: list[str], fidelity: list[int]) -> FitJob:
    return FitJob(law="linear", seed=0, design="d", eval_groups={}, targets=("a", "b"),
                  runs=tuple(f"r{i}" for i in range(len(fidelity))), sources=("x", "y"),
                  objective=Objective("sum", (ObjectiveTerm(1.0, "a"),), 0.0, None), output="",
                  mixtures=tuple(WeightsFile(f"{m.split(':')[0]}.json", m.split(":")[1]) for m in mixtures),
                  fidelity=tuple(fidelity))


def test_fidelity_offsets_are_the_mean_paired_difference():
    job = _fit_job(["d:run0", "d:run1", "d:run0", "d:run1", "p:run0"], [0, 0, 1, 1, 0])
    Y = np.array([[3.0, 5.0], [3.4, 5.2], [2.0, 4.5], [2.2, 4.5], [9.0, 9.0]])
    offsets = fidelity_offsets(job, Y)
    assert offsets == pytest.approx(np.array([[1.1, 0.6], [0.0, 0.0]]))  # the unpaired run counts for nothing


def test_a_fidelity_without_a_pair_is_a_clear_error():
    from mixc.jobfile import JobError

    with pytest.raises(JobError, match="fidelity 0 has no run on a mixture the last fidelity also trained"):
        fidelity_offsets(_fit_job(["d:run0", "d:run1"], [0, 1]), np.ones((2, 2)))


def test_two_rounds_at_two_fidelities_run_end_to_end(make_spec, tmp_path, capfd):
    path = spec(make_spec, "runs: 2, rounds: 2, propose: ei, fidelities: [tiny_run, proxy_run]")
    assert main(["run", str(path), "--cores", "2"]) == 0
    out = capfd.readouterr().out
    assert "tiny_chosen" in out and "tiny_final" in out
    work = tmp_path / ".mixc"
    proposed = json.loads(next(work.glob("propose/tiny_round1-*/mixtures.json")).read_text())
    assert proposed["round"] == 1 and proposed["method"] == "ei" and sorted(proposed["fidelity"]) == [0, 0, 1, 1]
    design = json.loads(next(work.glob("design/tiny-*/mixtures.json")).read_text())["mixtures"]
    summary = json.loads(next(work.glob("report/tiny-*/summary.json")).read_text())
    runs = {r["name"]: r for r in summary["runs"]}
    for i in range(2):
        for f, recipe in enumerate(("tiny_run", "proxy_run")):
            later = runs[f"tiny_round1_proxy{i}_{recipe}"]
            # The second round trained on the proposal, each at its fidelity.
            assert list(later["mixture"].values()) == pytest.approx(proposed["mixtures"][f"run{f * 2 + i}"])
            assert (later["round"], later["fidelity"], later["cheaper"]) == (1, recipe, recipe == "tiny_run")
            first = runs[f"tiny_proxy{i}_{recipe}"]
            assert list(first["mixture"].values()) == pytest.approx(design[f"run{i}"]) and first["round"] == 0
    fitted = json.loads(next(work.glob("fit/tiny-*/runs.json")).read_text())
    assert len(fitted) == 8 and [r["fidelity"] for r in fitted] == [0, 0, 1, 1, 0, 0, 1, 1]
    offsets = summary["fidelities"]["offsets"]
    assert offsets["alpha"]["proxy_run"] == 0.0 and offsets["alpha"]["tiny_run"] > 0  # the smaller model's loss sits higher
    report = next(work.glob("report/tiny-*/report.md")).read_text()
    assert "| round | fidelity |" in report
    page = next(work.glob("report/tiny-*/report.html")).read_text()
    assert 'data-plot="objective_rounds"' in page and "<!-- fidelity tiny_run -->" in page  # its panels
    best = next(b for b in summary["scales"] if b["scale"] == "proxy")["best_proxy"]
    assert best["of"] == 4 and best["name"].endswith("_proxy_run")
