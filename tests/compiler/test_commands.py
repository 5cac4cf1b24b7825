"""`mixc plan` and `mixc graph` on a small spec: what they print matches the job graph."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mixc.compiler.cli import main


def test_plan_counts_jobs_and_flops(make_spec, capsys):
    assert main(["plan", str(make_spec(runs=6)), "--jobs"]) == 0
    out = capsys.readouterr().out
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in out.splitlines() if line and line.split()[0] in
            ("tokenizer", "tokenize", "design", "train", "pack", "fit", "solve", "report")}
    # The 6 proxy runs in 2 packs of 3 (2 side by side on the CPU); chosen and 2 baselines alone.
    assert rows[("pack", "proxy")][0] == "2" and rows[("train", "proxy")][0] == "3"
    assert rows[("train", "final")][0] == "1"
    assert rows[("tokenize", "small")][0] == "2" and out.split("\ntotal")[1].split()[0] == "13"
    assert float(rows[("pack", "proxy")][1]) == pytest.approx(3 * float(rows[("train", "proxy")][1]), rel=1e-2)
    assert float(rows[("design", "small")][1]) == 0
    # jobs FLOPs hours mem cpus gpus limit: a CPU budget, no GPUs
    assert int(rows[("train", "proxy")][3]) >= 1024 and rows[("train", "proxy")][4:6] == ["1", "0"]
    assert sum(1 for line in out.splitlines() if line.startswith("train/")) == 4
    assert sum(1 for line in out.splitlines() if line.startswith("pack/")) == 2
    assert "wall time: " in out


def test_graph_formats(make_spec, capsys):
    spec = str(make_spec(runs=6))
    assert main(["graph", spec, "--format", "dot"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith("digraph mixc {") and dot.count("[label=") == 13 and "->" in dot
    assert main(["graph", spec, "--format", "mermaid"]) == 0
    mermaid = capsys.readouterr().out
    assert mermaid.startswith("flowchart LR") and mermaid.count("-->") == dot.count("->")


def test_build_reports_missing_data_at_the_source_line(make_spec, tmp_path, capsys):
    spec = make_spec(alpha="data/missing/*.txt")
    assert main(["build", str(spec), "-o", str(tmp_path / "w")]) == 1
    err = capsys.readouterr().err
    assert ":5:3: error[E101]: alpha: no file matches 'data/missing/*.txt'" in err
    assert not (tmp_path / "w").exists()  # nothing written


EXAMPLES = sorted(p for p in (Path(__file__).resolve().parents[2] / "examples").rglob("*.mix")
                  if re.search(r"^experiment ", p.read_text(), re.M) and ".mixc" not in p.parts)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_checks_and_builds(example, tmp_path, capsys):
    assert main(["check", "--strict", str(example)]) == 0, capsys.readouterr().out
    assert main(["build", str(example), "-o", str(tmp_path / "w")]) == 0, capsys.readouterr().err
