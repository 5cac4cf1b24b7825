"""Discovered domains: the clustering is deterministic; a clustered source lowers to one cluster
job that its clusters' tokenize jobs wait for (and a BPE tokenizer samples the source unsplit);
the check's schedule is the graph's; a real run splits the documents into valid sources that
partition them, and the report shows what each holds."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest

from mixc.compiler import clusters
from mixc.compiler.budget import estimate, experiment_tasks, job_tasks, tokenizer_vocab, train_flops
from mixc.compiler.cli import main
from mixc.compiler.jobs.cluster import run as run_cluster
from mixc.compiler.jobs.kinds import KINDS
from mixc.compiler.schedule import schedule
from mixc.jobfile import JobError, load
from mixc.runtime import cluster_members
from mixc.runtime.store_record import read_record
from tests.compiler.test_lower import graph_of, kinds

WORDS = "river mill stone bread field morning water evening lantern harvest".split()


def documents(n: int, seed: int = 0) -> list[str]:
    """Two kinds of document, alternating: English prose, and small Python functions."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 2:
            out.append(f"def step_{i}(x):\n    y = x * {rng.randint(2, 9)}\n    return y + {rng.randint(0, 99)}")
        else:
            out.append(" ".join(rng.choice(WORDS) for _ in range(24)).capitalize() + ".")
    return out


def clustered_spec(make_spec, tmp_path: Path, tokenizer: str = "byte", k: int = 2) -> Path:
    """The compiler tests' tiny spec with `beta` split by clusters(...) of a file of two kinds."""
    (tmp_path / "data" / "mixed.txt").write_text("\n\n".join(documents(240)) + "\n")
    path = make_spec(runs=8)
    text = path.read_text().replace('source beta  = text("data/beta.txt")',
                                    f'source beta  = clusters(text("data/mixed.txt"), k: {k}, sample: 100)')
    text = text.replace("minimize loss(alpha) + loss(beta)", "minimize loss(alpha) + loss(beta_0)")
    path.write_text(text.replace("tokenizer = byte", f"tokenizer = {tokenizer}"))
    return path


def test_the_same_texts_give_the_same_clusters():
    texts = documents(200)
    a, b = clusters.fit(texts, 2, seed=3), clusters.fit(texts, 2, seed=3)
    assert (a.centroids == b.centroids).all()
    labels = a.assign(texts)
    assert (labels == b.assign(texts)).all()
    # The two kinds are told apart: every prose document in one cluster, every function in the other.
    assert len(set(labels[0::2])) == 1 and len(set(labels[1::2])) == 1 and labels[0] != labels[1]


def test_fewer_distinct_documents_than_clusters_is_refused():
    with pytest.raises(ValueError, match="2 distinct documents, fewer than k = 3"):
        clusters.fit(["a b c", "d e f", "a b c"], 3, seed=0)


def test_a_clustered_source_lowers_to_one_cluster_job_its_clusters_wait_for(make_spec, tmp_path):
    x, graph = graph_of(clustered_spec(make_spec, tmp_path, k=3))
    assert [s.name for s in x.sources] == ["alpha", "beta_0", "beta_1", "beta_2"]
    assert kinds(graph)["cluster"] == 1
    [cluster] = [j for j in graph.jobs if j.kind == "cluster"]
    assert cluster.config.names == ("beta_0", "beta_1", "beta_2") and cluster.config.source.cluster is None
    assert cluster.config.sample == 100 and cluster.config.seed == 1  # the experiment's seed
    tokenize = {j.name: j for j in graph.jobs if j.kind == "tokenize"}
    for i in range(3):
        job = tokenize[f"beta_{i}"]
        assert cluster.id in job.after
        assert job.config.source.cluster.folder == cluster.folder and job.config.source.cluster.index == i
    assert cluster.id not in tokenize["alpha"].after and tokenize["alpha"].config.source.cluster is None
    [report] = [j for j in graph.jobs if j.kind == "report"]
    assert report.config.clusters == (cluster.folder,)


def test_a_bpe_tokenizer_samples_the_clustered_source_unsplit(make_spec, tmp_path):
    _, graph = graph_of(clustered_spec(make_spec, tmp_path, tokenizer="bpe(vocab: 300)"))
    [tokenizer] = [j for j in graph.jobs if j.kind == "tokenizer"]
    assert [(s.name, s.cluster) for s in tokenizer.config.sources] == [("alpha", None), ("beta", None)]


def test_the_checks_schedule_is_the_graphs_with_clusters(make_spec, tmp_path):
    x, graph = graph_of(clustered_spec(make_spec, tmp_path))
    est = estimate(x)
    flops = {r.name: train_flops(x, r, tokenizer_vocab(x)) for r in x.recipes}
    from_check, from_graph = experiment_tasks(x, est, flops, tokenizer_vocab(x)), job_tasks(graph.jobs, est)
    assert len(from_check) == len(from_graph)
    assert schedule(from_check, est.slots).seconds == pytest.approx(schedule(from_graph, est.slots).seconds)


def test_a_document_the_clustering_never_saw_is_an_error():
    found = cluster_members.members([cluster_members.unit_key("seen")], [1], k=2)
    assert list(cluster_members.in_cluster([("seen", "seen")], found, 1, "web_1")) == [("seen", "seen")]
    assert list(cluster_members.in_cluster([("seen", "seen")], found, 0, "web_0")) == []
    with pytest.raises(JobError, match="the files changed since"):
        list(cluster_members.in_cluster([("seen", "seen"), ("new", "new")], found, 1, "web_1"))


def test_a_clustered_run_splits_the_documents_into_sources_that_partition_them(make_spec, tmp_path, capfd):
    path = clustered_spec(make_spec, tmp_path)
    assert main(["run", str(path), "--cores", "2"]) == 0
    capfd.readouterr()
    work = tmp_path / ".mixc"
    [folder] = list(work.glob("cluster/beta-*"))
    summary = json.loads((folder / "clusters.json").read_text())
    assert summary["documents"] == 240 and [c["name"] for c in summary["clusters"]] == ["beta_0", "beta_1"]
    assert sorted(c["documents"] for c in summary["clusters"]) == [120, 120]  # the two kinds, apart
    examples = {c["name"]: c["examples"] for c in summary["clusters"]}
    code = next(n for n, e in examples.items() if e[0].startswith("def step_"))
    assert all(e.startswith("def step_") for e in examples[code]) and len(examples[code]) == 3
    # Each cluster is a source of its own in the store, holding exactly its cluster's documents.
    for c in summary["clusters"]:
        [store] = list(work.glob(f"tokenize/{c['name']}-*"))
        record = read_record(store)
        assert record["read"]["kept"] == c["documents"] and record["read"]["documents"] == 240
        assert record["cluster"]["index"] == int(c["name"][-1])
    # The clusters are the spec's sources: the solve gives them weights, the report shows them.
    report = json.loads(next(work.glob("report/tiny-*/summary.json")).read_text())
    assert report["sources"] == ["alpha", "beta_0", "beta_1"]
    assert report["solution"]["sources"] == ["alpha", "beta_0", "beta_1"] and len(report["solution"]["weights"]) == 3
    assert report["clusters"][0]["clusters"][0]["examples"] == summary["clusters"][0]["examples"]
    proxies = [r for r in report["runs"] if r["role"] == "proxy"]
    assert list(work.glob("jobs/pack/*.json")) and len(proxies) == 8  # packed, and each still read back whole:
    assert all(sum(r["mixture"].values()) == pytest.approx(1) and r["seed"] is not None for r in proxies)
    md = next(work.glob("report/tiny-*/report.md")).read_text()
    assert "## Discovered domains" in md and f"| {code} | beta (chars, k = 2) | 120 |" in md
    # Run again, elsewhere: the same members, to the byte.
    job = load(work / "jobs" / f"{folder.relative_to(work)}.json", {"cluster": KINDS["cluster"]}).config
    again = tmp_path / "again"
    run_cluster(replace(job, output=str(again)))
    for name in (cluster_members.MEMBERS, "clusters.json"):
        assert (again / name).read_bytes() == (folder / name).read_bytes(), name
