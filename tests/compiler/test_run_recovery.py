"""`mixc run` after things went wrong: a run killed outright (SIGKILL, as a power loss or the OOM
killer would), Snakemake locks nobody can vouch for, Snakemake options that run no jobs, and a
damaged token store. Each ends in a run that finishes with the numbers of an undisturbed run,
or in a clear message and a command that fixes it; never in a traceback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mixc.compiler.cli import main
from mixc.compiler.run_lock import start_ticks
from mixc.compiler.supervise import group_members
from mixc.runtime.store_record import read_record
from tests.compiler.conftest import write_data, write_spec

# Proxy runs of ~800 steps: a few seconds each, long enough to be caught between checkpoints.
PROXY_TOKENS = "100k"


def result_table(out: str) -> str:
    """The table `mixc run` printed, without the lines naming the work directory and the report's path."""
    return "\n".join(line for line in out.splitlines() if not line.startswith(("report: ", "work directory: ")))


def numbers(work: Path) -> list[dict]:
    """Every run's numbers in the report's summary, all but how long it took."""
    summary = json.loads(next((work / "report").glob("*/summary.json")).read_text())
    return [{k: v for k, v in run.items() if k not in ("tokens_per_s", "wall_time_s")} for run in summary["runs"]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """One undisturbed run: (its spec, its work directory, the table it printed)."""
    folder = tmp_path_factory.mktemp("reference")
    write_data(folder)
    spec, work = write_spec(folder, proxy_tokens=PROXY_TOKENS), folder / "w"
    run = subprocess.run([sys.executable, "-m", "mixc", "run", str(spec), "-o", str(work), "--cores", "2"],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    return spec, work, result_table(run.stdout)


def wait_for(condition, what: str, proc: subprocess.Popen, output: Path, within: float = 300) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert proc.poll() is None, f"the run ended before {what}:\n{output.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {what} within {within} s"
        time.sleep(0.1)


def checkpointed_unfinished(work: Path) -> bool:
    """Whether some train job has written a checkpoint and not yet finished."""
    return any(not (d / "metrics.json").exists() and list((d / "checkpoints").glob("step-*"))
               for d in (work / "train").glob("*"))


@pytest.mark.slow
def test_a_run_killed_outright_continues_to_the_same_results(reference, tmp_path, capsys):
    spec, _, table = reference
    work, output = tmp_path / "w", tmp_path / "mixc.log"
    with output.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mixc", "run", str(spec), "-o", str(work), "--cores", "2"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(lambda: checkpointed_unfinished(work), "train job between checkpoints", proc, output)

    # While it runs, the work directory is its own: a second run is refused, naming it.
    assert main(["run", str(spec), "-o", str(work), "--cores", "2"]) == 1
    assert f"is in use by mixc run pid {proc.pid}" in capsys.readouterr().err

    snakemake = json.loads((work / "owner.json").read_text())["snakemake"]["pid"]
    for group in (snakemake, proc.pid):  # every process, no chance to clean up
        os.killpg(group, signal.SIGKILL)
    proc.wait()
    while group_members(snakemake):
        time.sleep(0.05)
    assert list((work / ".snakemake" / "locks").iterdir()), "Snakemake's locks should outlive a SIGKILL"

    assert main(["run", str(spec), "-o", str(work), "--cores", "2"]) == 0
    captured = capsys.readouterr()
    assert f"removed the Snakemake locks (0.input.lock, 0.output.lock) left by mixc run pid {proc.pid}" in captured.err
    assert result_table(captured.out) == table
    assert numbers(work) == numbers(reference[1])  # bit-identical: a killed train job resumed exactly


def built(spec: Path, work: Path) -> dict:
    assert main(["build", str(spec), "-o", str(work)]) == 0
    return json.loads(next((work / "jobs").glob("*.index.json")).read_text())["jobs"]


def test_a_lock_no_mixc_run_left_is_refused_and_unlock_clears_it(make_spec, tmp_path, capsys):
    spec, work = make_spec(), tmp_path / "w"
    built(spec, work)
    locks = work / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text(str(work / "done" / "x") + "\n")  # as a Snakemake run by hand leaves it
    capsys.readouterr()
    assert main(["run", str(spec), "-o", str(work)]) == 1
    err = capsys.readouterr().err
    assert "Snakemake lock files (0.input.lock) that no unfinished mixc run left" in err
    assert f"mixc run {spec} -o {work} -- --unlock" in err and "Traceback" not in err

    assert main(["run", str(spec), "-o", str(work), "--", "--unlock"]) == 0
    captured = capsys.readouterr()
    assert "Snakemake ran no jobs (--unlock), so there is no result table" in captured.err
    assert captured.out == "" and "Traceback" not in captured.err
    assert not locks.exists()  # Snakemake removed them, folder and all


@pytest.mark.parametrize("option", ["-n", "--list-rules", "--summary"])
def test_snakemake_options_that_run_no_jobs_print_no_table(make_spec, tmp_path, capsys, option):
    spec, work = make_spec(), tmp_path / "w"
    assert main(["run", str(spec), "-o", str(work), "--", option]) == 0
    captured = capsys.readouterr()
    assert f"Snakemake ran no jobs ({option})" in captured.err and "Traceback" not in captured.err
    assert not (work / "done").exists()


def test_locks_of_a_dead_run_are_cleared_those_of_a_live_one_refused(make_spec, tmp_path, capsys):
    """The owner record of a run whose Snakemake (here a stand-in, `sleep`) still has a process,
    then the same once it is gone; the run that follows builds one target and says why there
    is no table."""
    spec, work = make_spec(), tmp_path / "w"
    tokenizer = next(j for j, info in built(spec, work).items() if info["kind"] == "tokenizer")
    (work / ".snakemake" / "locks").mkdir(parents=True)
    for name in ("0.input.lock", "0.output.lock"):
        (work / ".snakemake" / "locks" / name).write_text("")
    stand_in = subprocess.Popen(["sleep", "60"], start_new_session=True)
    record = {"pid": stand_in.pid, "host": socket.gethostname(), "boot_id": Path("/proc/sys/kernel/random/boot_id")
              .read_text().strip(), "start_ticks": start_ticks(stand_in.pid), "started": "then", "command": "mixc run",
              "profile": "local", "snakemake": {"pid": stand_in.pid, "start_ticks": start_ticks(stand_in.pid)},
              "ended": False}
    (work / "owner.json").write_text(json.dumps(record))
    capsys.readouterr()
    try:
        assert main(["run", str(spec), "-o", str(work), "--", f"done/{tokenizer}"]) == 1
        err = capsys.readouterr().err
        assert f"processes of an earlier mixc run pid {stand_in.pid}" in err and f"(pids {stand_in.pid})" in err
    finally:
        stand_in.kill()
        stand_in.wait()
    assert main(["run", str(spec), "-o", str(work), "--", f"done/{tokenizer}"]) == 0
    captured = capsys.readouterr()
    assert f"removed the Snakemake locks (0.input.lock, 0.output.lock) left by mixc run pid {stand_in.pid}" in captured.err
    assert (work / "done" / tokenizer).exists()
    assert f"Snakemake finished with `done/{tokenizer}`, but the report job has not written" in captured.err
    assert captured.out == "" and "Traceback" not in captured.err


@pytest.mark.slow
def test_a_damaged_token_store_is_rebuilt_by_the_next_run(reference, tmp_path, capfd):
    spec, done_work, table = reference
    work = tmp_path / "w"
    shutil.copytree(done_work, work, symlinks=True)  # a finished run
    alpha = next((work / "tokenize").glob("alpha-*"))
    chunk = alpha / "train" / "tokens" / "c" / "0"
    chunk.write_bytes(chunk.read_bytes()[:100])  # truncated: the record's sizes tell, by stat alone
    before = (work / "done" / "tokenize" / alpha.name).stat().st_mtime_ns

    assert main(["run", str(spec), "-o", str(work), "--cores", "2"]) == 0
    captured = capfd.readouterr()
    assert f"mixc: rebuilding tokenize/{alpha.name}: {chunk}: truncated or damaged chunk (100 bytes" in captured.err
    assert (work / "done" / "tokenize" / alpha.name).stat().st_mtime_ns != before  # its job ran again
    assert read_record(alpha)["complete"] and table in captured.out
    assert numbers(work) == numbers(done_work)

    # A flipped bit keeps the size: the train job that reads it finds it, names it, and marks the store.
    beta = next((work / "tokenize").glob("beta-*"))
    chunk = beta / "train" / "tokens" / "c" / "0"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    spec = write_spec(spec.parent, "longer_final.mix", proxy_tokens=PROXY_TOKENS, final_tokens="5k")  # a new final run
    assert main(["run", str(spec), "-o", str(work), "--cores", "2"]) == 1
    err = capfd.readouterr().err
    assert f"{beta.relative_to(work)} is marked damaged: rerun the tokenize job that wrote" in err
    assert main(["run", str(spec), "-o", str(work), "--cores", "2"]) == 0
    err = capfd.readouterr().err
    assert f"mixc: rebuilding tokenize/{beta.name}: " in err and "marked damaged by an earlier read" in err


@pytest.mark.slow
def test_a_job_that_fails_is_named_with_its_error_and_a_rerun_continues(reference, tmp_path, capfd):
    spec, done_work, _ = reference
    work = tmp_path / "w"
    shutil.copytree(done_work, work, symlinks=True)  # a finished run, then a new final run
    spec = write_spec(spec.parent, "blocked_final.mix", proxy_tokens=PROXY_TOKENS, final_tokens="5k")
    jobs = built(spec, work)
    final = next(j for j, info in jobs.items() if info["kind"] == "train" and info["class"] == "final")
    assert not (work / final).exists()
    (work / final).write_text("in the way\n")  # a file where the job's output folder goes
    markers = {p: p.stat().st_mtime_ns for p in (work / "done").rglob("*") if p.is_file()}

    assert main(["run", str(spec), "-o", str(work), "--cores", "2"]) == 1
    err = capfd.readouterr().err
    log = work / "logs" / f"{final}.log"
    assert f"mixc: job {final} failed; its log: {log}\n" in err
    assert f"error: train job jobs/{final}.json: Not a directory on {work / final}" in err
    assert "a file stands where a folder is needed: move it away, then rerun" in err
    assert "rerun the same command to continue from the finished jobs" in err
    assert "Traceback" not in log.read_text()
    assert not (work / "done" / final).exists()

    (work / final).unlink()
    assert main(["run", str(spec), "-o", str(work), "--cores", "2"]) == 0
    assert "tiny_final" in capfd.readouterr().out
    assert (work / final / "metrics.json").is_file()
    # Nothing that had finished ran again: every earlier marker is the same file, untouched.
    assert {p: p.stat().st_mtime_ns for p in markers} == markers
