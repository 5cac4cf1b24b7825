"""What `mixc run` shows while it runs: the live view on a terminal (a real pseudo-terminal),
Snakemake's log read as it grows, the train jobs' step lines, `mixc status`, `-v`, colours
and NO_COLOR, `mixc --version`. One tiny experiment is run for the module."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from importlib.metadata import version
from pathlib import Path

import pytest

from mixc.compiler.cli import main
from mixc.compiler.progress import Running, Snapshot, Training, Watch, latest_log, tokens_per_step, training
from mixc.compiler.progress_log import Event, SnakemakeLog
from mixc.compiler.progress_view import duration, job_line, live_lines, plain_lines, use_colour
from tests.compiler.conftest import write_data, write_spec

ESC = "\x1b["


def on_terminal(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run `mixc ARGS` with a pseudo-terminal (110 x 40) as its stdout and stderr; its exit
    status and everything it wrote there."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 110, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "mixc.compiler.cli", *args], stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave, env=env, cwd=cwd)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the terminal closed: every writer has gone
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(), b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> tuple[Path, Path, str]:
    """The tiny experiment run once on a terminal: (spec, work directory, what the terminal showed)."""
    folder = tmp_path_factory.mktemp("progress")
    write_data(folder)
    spec, work = write_spec(folder, runs=6, proxy_tokens="2k", final_tokens="2k"), folder / "w"
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | {"TERM": "xterm"}
    status, shown = on_terminal(["run", str(spec), "-o", str(work), "--cores", "2"], env, folder)
    assert status == 0, shown[-3000:]
    return spec, work, shown


def test_the_terminal_shows_a_live_view_and_the_table(ran):
    spec, work, shown = ran
    lines = shown.replace("\r", "").split("\n")
    report = next((work / "report").iterdir()) / "report.html"
    assert lines[0].startswith(f"mixc: tiny: 13 jobs in {work}; Snakemake (local), its log: logs/snakemake/")
    assert lines[1] == f"mixc: report: {report}"
    assert [line for line in lines if line][-2:] == [f"work directory: {work}", f"report: {report}"]
    assert f"{ESC}1mtiny{ESC}0m [" in shown and "running" in shown and "elapsed" in shown  # the block, in colour
    assert f"F{ESC}J" in shown  # redrawn in place: up to its first line, cleared below
    assert "mixc: 13/13 jobs done in " in shown  # the block's last word
    assert "Job stats" not in shown and "mixture found:" in shown


def test_status_follow_redraws_until_the_run_it_watches_stops(ran, tmp_path):
    """A copy of the finished run's work directory, its owner record pointed at a live stand-in
    process: `status --follow` keeps watching while that process lives and ends once it dies."""
    import shutil
    import socket

    from mixc.compiler.run_lock import RECORD, start_ticks

    _, work, _ = ran
    copy = tmp_path / "w"
    shutil.copytree(work, copy, ignore=shutil.ignore_patterns("train", "pack", "tokenize"))
    stand_in = subprocess.Popen(["sleep", "600"])
    try:
        record = json.loads((copy / RECORD).read_text()) | {
            "pid": stand_in.pid, "host": socket.gethostname(), "start_ticks": start_ticks(stand_in.pid),
            "snakemake": None, "ended": False}
        (copy / RECORD).write_text(json.dumps(record))
        follow = subprocess.Popen([sys.executable, "-m", "mixc.compiler.cli", "status", str(copy), "--follow"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        first = follow.stdout.readline()
        assert first.startswith(f"mixc: mixc run pid {stand_in.pid} on ") and first.rstrip().endswith("; running")
        assert follow.poll() is None  # still following: the run it watches is alive
    finally:
        stand_in.kill()
        stand_in.wait()
    rest = follow.communicate(timeout=120)[0]
    assert follow.returncode == 0
    assert rest.rstrip().split("\n")[-1].endswith("; stopped without ending (killed?)")


def test_off_a_terminal_a_start_joins_the_end_before_it():
    events = [Event("start", "tokenizer/t", "job", 0.0), Event("done", "tokenizer/t", "job", 4.0),
              Event("start", "tokenize/a", "job", 4.0), Event("start", "tokenize/b", "job", 4.0),
              Event("done", "tokenize/b", "job", 6.0), Event("failed", "tokenize/a", "job", 9.0)]
    took = {"tokenizer/t": 4.0, "tokenize/b": 2.0, "tokenize/a": 5.0}
    assert plain_lines(events, 0, 13, lambda e: took[e.job], colour=False) == [
        "mixc: start tokenizer/t",
        "mixc: done 1/13 tokenizer/t in 0:04; start tokenize/a, tokenize/b",
        "mixc: done 2/13 tokenize/b in 0:02",
        "mixc: FAILED tokenize/a after 0:05"]
    assert plain_lines(events[2:4], 1, None, lambda e: None, colour=False) == ["mixc: start tokenize/a, tokenize/b"]


def test_status_shows_a_run_made_elsewhere(ran, capsys):
    _, work, _ = ran
    assert main(["status", str(work)]) == 0
    out = capsys.readouterr().out
    assert "; ended" in out and "13/13 jobs  0 running" in out and f"Snakemake's log: {latest_log(work)}" in out
    assert main(["status", str(work / "nothing")]) == 2
    assert "no run has started in this work directory" in capsys.readouterr().err


def test_nothing_to_do_without_colour_when_no_color_is_set(ran):
    spec, work, _ = ran
    env = os.environ | {"TERM": "xterm", "NO_COLOR": "1"}
    status, shown = on_terminal(["run", str(spec), "-o", str(work), "--cores", "2"], env, work.parent)
    assert status == 0 and "mixture found:" in shown and "mixc: 0/0 jobs done in " in shown
    assert f"{ESC}1m" not in shown and f"{ESC}32m" not in shown and f"{ESC}31m" not in shown


def test_the_log_reads_the_same_in_any_pieces(ran):
    _, work, _ = ran
    text = min((work / "logs" / "snakemake").glob("*.log")).read_text()  # the first run's
    whole, pieces = SnakemakeLog(), SnakemakeLog()
    events = whole.feed(text)
    assert [e for i in range(0, len(text), 7) for e in pieces.feed(text[i:i + 7])] == events
    jobs = json.loads((work / "jobs" / "tiny.index.json").read_text())["jobs"]
    assert sorted(e.job for e in events if e.what == "start") == sorted(jobs)
    assert sorted(e.job for e in events if e.what == "done") == sorted(jobs)
    assert whole.total == 13 and whole.done() == 13 and not whole.running() and not whole.failed()
    starts = {e.job: e.at for e in events if e.what == "start"}
    assert all(e.at >= starts[e.job] for e in events if e.what == "done")  # Snakemake's timestamps


def test_a_train_jobs_progress_is_read_from_its_log(ran):
    _, work, _ = ran
    pack = next((work / "jobs" / "pack").glob("*.json"))
    members = json.loads(pack.read_text())["members"]
    assert tokens_per_step(pack) == sum(m["batch_size"] * m["model"]["seq_len"] for m in members)
    log = work / "logs" / "pack" / f"{pack.stem}.log"
    done = training(log.read_text(), tokens_per_step(pack))
    assert done.step == done.steps == members[0]["steps"] and done.eta_s == 0 and done.tokens_per_s > 0
    midway = training("resuming from x (step 40 of 200)\nstep 50/200 loss 2.5000 lr 1.000e-03 1,000 tok/s\n", 100)
    assert midway == Training(50, 200, 2.5, 1000.0, 15.0)  # 150 steps x 100 tokens at 1,000 tokens/s
    assert training("no step yet\n", 100) is None


def test_the_view_shows_each_running_job():
    pack = Running("pack/regmix_p0-1a2b3c4d", "proxy", 42.0, Training(84, 147, 6.4489, 2951.0, 21.0))
    snapshot = Snapshot(25, 9, (pack, Running("tokenize/code-81c89026", "job", 12.0, None)), (), 221.0)
    lines = live_lines("quickstart", snapshot, colour=False)
    assert lines[0] == "quickstart [#######.............]  9/25 jobs  2 running  3:41 elapsed"
    assert lines[1] == "  pack/regmix_p0-1a2b3c4d  step  84/147  loss 6.4489      2,951 tok/s  ETA 0:21"
    assert lines[2] == "  tokenize/code-81c89026   0:12"
    trained = Running("train/x-00000000", "final", 1.0, Training(147, 147, 6.0, 1.0, 0.0))
    assert job_line(trained, 16).endswith("evaluating")
    assert (duration(3723), duration(None)) == ("1:02:03", "-")


def test_verbose_shows_snakemakes_own_output(ran, capfd):
    spec, work, _ = ran
    logs = set((work / "logs" / "snakemake").glob("*.log"))
    assert main(["run", str(spec), "-o", str(work), "--cores", "2", "-v"]) == 0
    err = capfd.readouterr().err
    assert "Building DAG of jobs" in err and "Nothing to be done" in err
    assert set((work / "logs" / "snakemake").glob("*.log")) == logs  # no log of ours: Snakemake printed it


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch, tmp_path):
    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as terminal, (tmp_path / "file").open("w") as file:
        monkeypatch.setenv("TERM", "xterm")
        monkeypatch.delenv("NO_COLOR", raising=False)
        assert use_colour(terminal) and not use_colour(file)
        monkeypatch.setenv("NO_COLOR", "1")
        assert not use_colour(terminal)
        monkeypatch.setenv("NO_COLOR", "")  # set but empty: no-color.org counts it as unset
        assert use_colour(terminal)
    os.close(master)


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"mixc {version('mixc')}\n"


def test_a_watch_of_a_missing_log_sees_nothing(tmp_path):
    watch = Watch(tmp_path, tmp_path / "none.log", started=0.0)
    assert watch.poll() == [] and watch.snapshot(now=5.0) == Snapshot(None, 0, (), (), 5.0)
