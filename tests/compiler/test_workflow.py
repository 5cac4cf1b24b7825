"""The emitted workflow under Snakemake: SLURM dry run, injection attempts that must run nothing, a whole
run and a rerun, a failing job, and Ctrl-C during a run (bounded, leaving nothing running)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mixc.compiler.cli import main
from mixc.compiler.run_lock import start_ticks
from mixc.compiler.supervise import Grace, group_members

# How long after Ctrl-C `mixc run` may take, at most, to be gone with everything it started:
# the stop's own bound, plus time to print and exit on a loaded machine.
STOP_BOUND_S = Grace().total() + 15
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


def markers(work: Path) -> dict[str, float]:
    return {str(p.relative_to(work / "done")): p.stat().st_mtime_ns for p in (work / "done").rglob("*") if p.is_file()}


def test_run_end_to_end_then_rerun_only_what_changed(make_spec, tmp_path, capsys):
    """The whole pipeline on a tiny spec: tokenize, design, proxies, fit, solve, chosen, final,
    baselines, report. Then a change to the final recipe reruns only the final run and report."""
    spec, work = make_spec(runs=6, proxy_tokens="2k", final_tokens="3k"), tmp_path / "w"
    assert main(["run", str(spec), "-o", str(work), "--cores", "2"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "mixture found: alpha" in out and "tiny_chosen" in out and "tiny_uniform" in out
    report = next((work / "report").iterdir())
    # Off a terminal: the work directory and the report first and last, a line per job start and end,
    # and none of Snakemake's own output, which is in the log named.
    err = captured.err.splitlines()
    assert err[0].startswith(f"mixc: tiny: 13 jobs in {work}; Snakemake (local), its log: logs/snakemake/")
    assert err[1] == f"mixc: report: {report / 'report.html'}"
    assert out.splitlines()[-2:] == [f"work directory: {work}", f"report: {report / 'report.html'}"]
    jobs = json.loads((work / "jobs" / "tiny.index.json").read_text())["jobs"]
    events = [line for line in err if line.startswith(("mixc: start ", "mixc: done "))]
    started = sorted(job for line in events if "start " in line for job in line.split("start ", 1)[1].split(", "))
    ended = sorted(line.split()[3] for line in events if line.startswith("mixc: done "))
    assert started == ended == sorted(jobs) and len(events) < 2 * len(jobs)  # a start joins the end before it
    assert "SNAKEMAKE" not in captured.err and "Job stats" not in captured.err and "\x1b[" not in captured.err
    log = work / err[0].split("its log: ")[1]
    assert log.parent == work / "logs" / "snakemake" and "Job stats" in log.read_text()
    summary = json.loads((report / "summary.json").read_text())
    chosen = next(r for r in summary["runs"] if r["role"] == "chosen")
    assert chosen["objective"] is not None and chosen["predicted"] is not None
    assert abs(sum(chosen["mixture"].values()) - 1) < 1e-6
    assert (report / "report.html").read_text().count('class="plot"') == 5
    import zarr

    results = zarr.open_group(str(report / "results.zarr"), mode="r")
    assert results["loss"].shape == (6 + 2 + 1 + 1, 2)  # runs x evaluation sets
    assert list(results["eval_set"][:]) == ["alpha", "beta"]  # the spec's order

    before = markers(work)
    spec.write_text(spec.read_text().replace("tokens: 3k", "tokens: 4k"))
    assert main(["run", str(spec), "-o", str(work), "--cores", "2"]) == 0
    after = markers(work)
    rerun = {m.rsplit("-", 1)[0] for m in after if before.get(m) != after[m]}
    assert rerun == {"train/tiny_final", "report/tiny"}


def test_failed_job_stops_the_run_and_a_rerun_continues(make_spec, tmp_path, capsys):
    spec, work = make_spec(runs=6, proxy_tokens="2k", final_tokens="2k"), tmp_path / "w"
    beta = tmp_path / "data" / "beta.txt"
    good = beta.read_bytes()
    beta.write_bytes(b"fine text\n\n\xff\xfe not utf-8\n")  # the tokenize job must refuse this
    assert main(["run", str(spec), "-o", str(work), "--cores", "2", "--", "--keep-going"]) == 1
    err = capsys.readouterr().err
    assert "logs" in err and "rerun the same command" in err
    failed = next(line for line in err.splitlines() if line.startswith("mixc: FAILED tokenize/beta-"))
    log = work / "logs" / f"{failed.split()[2]}.log"
    assert f"its log: {log}" in err and "  | error: " in err  # the job's log tail under its name
    assert f"mixc: Snakemake's log: {work / 'logs' / 'snakemake'}" in err
    done = markers(work)
    assert any(m.startswith("tokenize/alpha") for m in done) and not any(m.startswith("tokenize/beta") for m in done)
    beta.write_bytes(good)
    # The spec's data changed, so the beta store (and what reads it) is a new job; alpha's is kept.
    assert main(["build", str(spec), "-o", str(work)]) == 0
    r = snakemake(work, "--dry-run", "--cores", "1")
    assert "output: done/tokenize/alpha" not in r.stdout and "output: done/tokenize/beta" in r.stdout


def training(work: Path) -> str | None:
    """The id of a train job whose log shows a step line (it is training), if any."""
    return next((f"train/{log.stem}" for log in sorted((work / "logs" / "train").glob("*.log"))
                 if "step " in log.read_text()), None)


def descendants(pid: int) -> dict[int, int]:
    """Every process below `pid`, with its start time (to tell a reused pid apart)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return {p: start_ticks(p) for p in found if start_ticks(p) is not None}


def test_interrupt_leaves_nothing_that_looks_complete(make_spec, tmp_path):
    """Ctrl-C while a train job trains: `mixc run` and every process it started are gone within
    the stop's bound, and nothing of the interrupted job looks finished.

    It waits for a train job's log to show a step line (that job is training, and is the one
    interrupted), then sends SIGINT to `mixc run` alone, as a terminal's Ctrl-C does. Output
    goes to a file, not a pipe: no process can block on a full pipe or keep one open."""
    import signal
    import time

    # Train jobs long enough (minutes each) that the interrupt lands inside one.
    spec, work = make_spec(runs=6, proxy_tokens="5M", final_tokens="2k"), tmp_path / "w"
    output = tmp_path / "mixc.log"
    with output.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mixc", "run", str(spec), "-o", str(work), "--cores", "1"],
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while time.time() < deadline and training(work) is None and proc.poll() is None:
        time.sleep(0.2)
    job = training(work)
    assert job is not None and proc.poll() is None, output.read_text()[-3000:]
    started = descendants(proc.pid)  # Snakemake, the job's shell, the train job
    snakemake = json.loads((work / "owner.json").read_text())["snakemake"]["pid"]
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    try:
        proc.wait(timeout=STOP_BOUND_S)
    finally:
        took = time.monotonic() - sent
        leftover = [p for p, ticks in started.items() if start_ticks(p) == ticks]
        for p in leftover + ([proc.pid] if proc.poll() is None else []):
            os.kill(p, signal.SIGKILL)  # never leave a stray process behind, even on failure
    assert took < STOP_BOUND_S and not leftover and not group_members(snakemake), (took, leftover)
    err = output.read_text()
    assert proc.returncode == 130 and "interrupted" in err
    done = markers(work)
    interrupted = [p for p in (work / "logs" / "train").glob("*.log") if "interrupted" in p.read_text()]
    assert interrupted
    assert f"train/{interrupted[0].stem}" == job  # the job seen training is the one interrupted
    for log in interrupted:
        run_id = f"train/{log.stem}"
        assert run_id not in done  # no marker: Snakemake will run it again
        assert not (work / run_id / "metrics.json").exists()  # a train job's last write
    for folder in (work / "train").glob("*"):  # finished or not, the two always agree
        assert (folder / "metrics.json").exists() == (f"train/{folder.name}" in done)
