"""The job contract: every job the compiler writes loads back, through the worker's own loader,
to the object it was built from; and only what changes the work enters a job's hash."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from pathlib import Path

import pytest

from mixc.compiler.cli import main
from mixc.compiler.jobs.kinds import KINDS as COMPILER_KINDS
from mixc.compiler.lower import lower
from mixc.jobfile import HASH, dumps, load
from mixc.jobs import Constraint, SourceSpec
from mixc.runtime.kinds import KINDS as RUNTIME_KINDS
from mixc.spec.check import check_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples").rglob("*.mix") if re.search(r"^experiment ", p.read_text(), re.M))


def graph_of(path: Path):
    experiment, diags, _ = check_file(str(path))
    assert experiment is not None, diags
    graph, diags = lower(experiment)
    assert graph is not None, diags
    return graph


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_job_file_round_trips_through_its_loader(spec: Path, tmp_path: Path) -> None:
    graph = graph_of(spec)
    assert {j.kind for j in graph} >= {"tokenizer", "tokenize", "report"}
    for job in graph:
        kinds = COMPILER_KINDS if job.entry == "compiler.jobs" else RUNTIME_KINDS
        assert job.kind in kinds and isinstance(job.config, kinds[job.kind].config)
        path = tmp_path / job.job_file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(job.kind, job.config))
        loaded = load(path, kinds)
        assert loaded.kind == job.kind and loaded.config == job.config
        assert dumps(loaded.kind, loaded.config) == path.read_text()


def test_what_stays_out_of_the_hash_is_declared() -> None:
    """Output folders, message-only labels and file paths (fingerprinted by content instead)."""
    from mixc import jobs

    unhashed = {(cls.__name__, f.name) for cls in vars(jobs).values()
                if isinstance(cls, type) and dataclasses.is_dataclass(cls)
                for f in dataclasses.fields(cls) if f.metadata.get(HASH) is False}
    outputs = {(name, "output") for name in ("TokenizerJob", "TrainJob", "EvalJob", "ClusterJob", "DesignJob",
                                             "ProposeJob", "FitJob", "SolveJob", "ReportJob")}
    assert unhashed == outputs | {("SourceSpec", "name"), ("SourceSpec", "files"), ("TokenizerJob", "path"),
                                  ("Constraint", "label")}
    assert {f.name for f in dataclasses.fields(SourceSpec)} == {"name", "format", "field", "files", "unit", "cluster"}
    assert {f.name for f in dataclasses.fields(Constraint)} == {"quantity", "terms", "op", "rhs", "label"}


def test_a_copied_spec_keeps_every_job(make_spec, tmp_path: Path) -> None:
    """Copying a spec under another name changes only labels ("file:line"): no job changes id."""
    spec = make_spec()
    copy = tmp_path / "q2.mix"
    shutil.copy(spec, copy)
    assert graph_of(spec).ids == graph_of(copy).ids


def markers(work: Path) -> dict[str, int]:
    done = work / "done"
    return {str(p.relative_to(done)): p.stat().st_mtime_ns for p in done.rglob("*") if p.is_file()}


def test_renamed_touched_and_moved_project_reruns_nothing(make_spec, tmp_path: Path, capfd) -> None:
    """A real run, then: the spec renamed, its data touched, the whole project folder moved.
    The rerun finds every job done (same ids, same markers) and prints the same table."""
    spec = make_spec(runs=6, proxy_tokens="2k", final_tokens="2k")
    assert main(["run", str(spec), "--cores", "2"]) == 0
    table = capfd.readouterr().out
    before = markers(tmp_path / ".mixc")
    assert any(m.startswith("train/tiny_final-") for m in before)

    renamed = spec.with_name("copy.mix")
    spec.rename(renamed)
    for data in (tmp_path / "data").iterdir():
        os.utime(data, ns=(data.stat().st_atime_ns, data.stat().st_mtime_ns + 10**10))
    moved = tmp_path / "moved"
    moved.mkdir()
    for item in ("data", ".mixc", "copy.mix"):
        shutil.move(str(tmp_path / item), str(moved / item))

    assert main(["run", str(moved / "copy.mix"), "--cores", "2"]) == 0
    out, _ = capfd.readouterr()
    assert markers(moved / ".mixc") == before  # nothing reran: no marker is new or newer
    newest = max((moved / ".mixc" / "logs" / "snakemake").glob("*.log"))  # named by the time the run began
    assert "Nothing to be done" in newest.read_text()  # Snakemake's own words: no job was even considered stale
    assert out == table.replace(str(tmp_path / ".mixc"), str(moved / ".mixc"))  # same numbers, the new folder
