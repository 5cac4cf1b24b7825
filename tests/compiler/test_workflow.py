"""The emitted workflow under Snakemake: SLURM dry run, and injection attempts that must run nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from compiler.cli import main

EVIL = ['q"uote', "b{race}s", "$(touch PWNED)", "`touch PWNED2`", "new\nline", "semi;touch PWNED3", "it's"]


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    index = next((workdir / "jobs").glob("*.index.json")).relative_to(workdir)
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(workdir / "Snakefile"),
                           "--directory", str(workdir), "--config", f"index={index}", *args],
                          capture_output=True, text=True, timeout=300)


def test_slurm_profile_dry_run(make_spec, tmp_path):
    work = tmp_path / "w"
    assert main(["build", str(make_spec()), "-o", str(work)]) == 0
    r = snakemake(work, "--profile", str(work / "profiles" / "slurm"), "--dry-run")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "job" in r.stdout and "This was a dry-run" in r.stdout + r.stderr


def test_hostile_names_and_paths_run_nothing(make_spec, tmp_path):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    for i, name in enumerate(EVIL):
        (data / f"{name}.txt").write_text(f"document {i} says hello\n\nanother document {i}\n" * 20)
    # Every file of the source, each named by its own glob written as an escaped .mix string.
    globs = [f"data/{n}.txt".replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for n in EVIL]
    spec = make_spec(alpha=globs[0], beta=globs[1])
    text = spec.read_text().replace(f'text("{globs[0]}")', "text(" + ", ".join(f'"{g}"' for g in globs[:4]) + ")")
    text = text.replace(f'text("{globs[1]}")', "text(" + ", ".join(f'"{g}"' for g in globs[4:]) + ")")
    spec.write_text(text)
    work = tmp_path / "w"
    assert main(["build", str(spec), "-o", str(work)]) == 0
    index = json.loads(next((work / "jobs").glob("*.index.json")).read_text())
    targets = ["done/" + j for j, info in index["jobs"].items() if info["kind"] in ("tokenizer", "tokenize")]
    r = snakemake(work, "--cores", "2", *targets)
    assert r.returncode == 0, r.stderr[-3000:]
    assert not list(tmp_path.rglob("PWNED*")) and not list(Path.cwd().glob("PWNED*"))
    jobs = [json.loads((work / f"jobs/{t.removeprefix('done/')}.json").read_text()) for t in targets]
    files = {f for j in jobs if j["kind"] == "tokenize" for f in j["source"]["files"]}
    assert {Path(f).name for f in files} == {f"{n}.txt" for n in EVIL}  # the names arrived intact, as data
