"""Lowering and emission: the job graph's shape, content hashes, what reruns after a change."""

from __future__ import annotations

import json
from pathlib import Path

from mixc.compiler.budget import estimate
from mixc.compiler.emit import emit
from mixc.compiler.lower import lower
from mixc.spec.check import check_file


def graph_of(path: Path):
    experiment, diags, _ = check_file(str(path))
    assert experiment is not None, diags
    graph, diags = lower(experiment)
    assert diags == []
    return experiment, graph


def kinds(graph) -> dict[str, int]:
    out: dict[str, int] = {}
    for j in graph.jobs:
        out[j.kind] = out.get(j.kind, 0) + 1
    return out


def train_runs(graph) -> dict:
    """Every train run's config by name: the train jobs', and the members' of each pack (named
    by their folders, train/<name>-<hash8>)."""
    runs = {j.name: j.config for j in graph.jobs if j.kind == "train"}
    for pack in (j for j in graph.jobs if j.kind == "pack"):
        runs.update({m.output.split("/")[1].rsplit("-", 1)[0]: m for m in pack.config.members})
    return runs


def test_graph_shape(make_spec, tmp_path):
    _, graph = graph_of(make_spec(runs=4))
    # The 4 proxy runs in 2 packs (2 jobs side by side on the CPU); baselines, chosen and final alone.
    assert kinds(graph) == {"tokenizer": 1, "tokenize": 2, "design": 1, "pack": 2, "train": 2 + 1 + 1,
                            "fit": 1, "solve": 1, "report": 1}
    runs = train_runs(graph)
    assert [runs[f"tiny_proxy{i}"].weights_file.key for i in range(4)] == ["run0", "run1", "run2", "run3"]
    assert runs["tiny_natural"].weights_file.key == "natural"
    assert runs["tiny_uniform"].weights_file.key == "uniform"  # moved into the constraints by the design
    final = runs["tiny_final"]
    assert final.weights_file.path.startswith("solve/tiny-")
    assert final.model.layers == 2 and final.steps == -(-4000 // (4 * 32))  # tokens / (batch x seq_len)
    assert final.export and not runs["tiny_proxy0"].export
    # Every job reads only from jobs that come before it, and the report closes the graph.
    order = [j.id for j in graph.jobs]
    for j in graph.jobs:
        assert all(order.index(a) < order.index(j.id) for a in j.after)
    assert order[-1].startswith("report/")


def test_changing_only_the_final_recipe_changes_only_final_and_report(make_spec, tmp_path):
    _, before = graph_of(make_spec(final_tokens="4k"))
    _, after = graph_of(make_spec(final_tokens="6k"))
    changed = set(before.ids) ^ set(after.ids)
    assert {c.split("/")[0] + "/" + c.split("/")[1].rsplit("-", 1)[0] for c in changed} == {
        "train/tiny_final", "report/tiny"}


def test_changing_a_source_file_changes_its_jobs_downstream(make_spec, tmp_path):
    spec = make_spec()
    _, before = graph_of(spec)
    (tmp_path / "data" / "beta.txt").write_text("new text\n\nentirely\n")
    _, after = graph_of(spec)
    gone = {n.rsplit("-", 1)[0] for n in set(before.ids) - set(after.ids)}
    assert "tokenize/alpha" not in gone and "tokenize/beta" in gone and "tokenizer/byte" not in gone


def test_two_experiments_share_identical_work(make_spec, tmp_path):
    _, a = graph_of(make_spec("a.mix", runs=4))
    _, b = graph_of(make_spec("b.mix", runs=6))
    shared = {n.rsplit("-", 1)[0] for n in set(a.ids) & set(b.ids)}
    # Same data and tokenizer: same tokenized stores. The designs differ (4 vs 6 runs), so
    # everything they decide differs, the natural and uniform baselines included.
    assert shared == {"tokenizer/byte", "tokenize/alpha", "tokenize/beta"}


def test_emit_writes_job_files_and_a_generic_snakefile(make_spec, tmp_path):
    experiment, graph = graph_of(make_spec())
    built = emit(graph, experiment.name, tmp_path / "w", estimate(experiment))
    index = json.loads(built.index.read_text())
    assert len(index["jobs"]) == len(graph) == built.jobs
    for job in graph.jobs:
        data = json.loads((tmp_path / "w" / job.job_file).read_text())
        assert data["schema"] == 1 and data["kind"] == job.kind
    snakefile = (tmp_path / "w" / "Snakefile").read_text()
    assert "tiny" not in snakefile and "alpha" not in snakefile  # nothing from the spec in code
    assert (tmp_path / "w" / "profiles" / "slurm" / "config.yaml").read_text().count("executor: \"slurm\"") == 1


def test_replicates_and_validation_at_target_scale(make_spec, tmp_path):
    """replicates = 2 and validate: chosen and each baseline at both scales, one seed each replicate;
    the report names every run's mixture, scale and replicate."""
    spec = make_spec(runs=4)
    text = spec.read_text().replace("  seed = 1\n", "  seed = 1\n  replicates = 2\n")
    spec.write_text(text.replace("  baselines uniform, natural\n", "  baselines uniform, natural\n  validate uniform\n"))
    _, graph = graph_of(spec)
    train = train_runs(graph)
    assert set(train) == {f"tiny_proxy{i}" for i in range(4)} | {
        "tiny_chosen", "tiny_uniform", "tiny_natural", "tiny_chosen_r1", "tiny_uniform_r1", "tiny_natural_r1",
        "tiny_final", "tiny_final_uniform", "tiny_final_r1", "tiny_final_uniform_r1"}
    assert train["tiny_chosen_r1"].seed == train["tiny_chosen"].seed + 1 == 2
    assert train["tiny_final_uniform"].steps == train["tiny_final"].steps  # the final recipe
    assert train["tiny_final_uniform"].steps != train["tiny_uniform"].steps
    assert [n for n, c in train.items() if c.export] == ["tiny_final"]
    report = next(j for j in graph if j.kind == "report").config
    runs = {r.name: r for r in report.runs}
    assert (runs["tiny_final_uniform_r1"].role, runs["tiny_final_uniform_r1"].mixture,
            runs["tiny_final_uniform_r1"].scale, runs["tiny_final_uniform_r1"].replicate) == (
        "baseline", "uniform", "target", 1)
    assert (runs["tiny_final"].role, runs["tiny_final"].scale) == ("chosen", "target")
    assert runs["tiny_proxy2"].label == "proxy 2" and runs["tiny_proxy2"].mixture == "run2"


def test_one_evaluation_for_every_run(make_spec, tmp_path):
    """Recipes with other contexts and eval_tokens still score every run on the same windows."""
    spec = make_spec(runs=4)
    text = spec.read_text().replace("model target = dense(layers: 2, d_model: 32, heads: 2, seq_len: 32)",
                                    "model target = dense(layers: 2, d_model: 32, heads: 2, seq_len: 64)")
    spec.write_text(text.replace("train final_run { model: target, tokens: 4k, batch: 4 }",
                                 "train final_run { model: target, tokens: 4k, batch: 4, eval_tokens: 100k }"))
    _, graph = graph_of(spec)
    train = [j.config for j in graph if j.kind == "train"]
    assert {c.model.seq_len for c in train} == {32, 64}
    assert {(c.eval_seq_len, c.eval_tokens) for c in train} == {(32, 100_000)}  # the largest asked for (the default is 65,536)
