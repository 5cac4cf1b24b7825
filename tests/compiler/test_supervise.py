"""Stopping a supervised process group: bounded, whole, and never cut short by a second Ctrl-C.

The commands are small bash scripts standing in for Snakemake and its jobs: a leader whose
child ignores SIGINT, a group that ignores SIGINT and SIGTERM both, a leader that exits and
leaves a child behind. Each script writes the pids it started to a file once its traps are
set, and the interrupt (SIGINT to this process, as Ctrl-C would send) comes only then.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from mixc.compiler import supervise
from mixc.compiler.supervise import Grace, group_members

FAST = Grace(interrupt=1.0, terminate=1.0, kill=3.0)
CHILD_IGNORES_INT = "(trap '' INT; echo $BASHPID >> {pids}; exec sleep 60) & wait"
ALL_IGNORE_INT_AND_TERM = ("trap '' INT TERM; (trap '' INT TERM; echo $BASHPID >> {pids}; "
                           "while :; do sleep 0.1; done) & while :; do sleep 0.1; done")


def ready(path: Path, n: int, within: float = 20.0) -> list[int]:
    """The first `n` pids a script wrote to `path`, once it has written them."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        lines = path.read_text().split() if path.exists() else []
        if len(lines) >= n:
            return [int(p) for p in lines[:n]]
        time.sleep(0.02)
    raise AssertionError(f"{path}: the script never got ready")


def interrupt_when_ready(pids: Path, times: int = 1, gap: float = 0.3) -> None:
    """From a helper thread: once the script is ready, SIGINT this process `times` times."""
    def send() -> None:
        try:
            ready(pids, 1)
        except AssertionError:
            pass  # interrupt anyway: the test fails on its own asserts, it must not hang
        for _ in range(times):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(gap)

    threading.Thread(target=send, daemon=True).start()


def supervised(script: str, pids: Path, grace: Grace) -> tuple[supervise.Outcome, int, float]:
    """Run `script` under supervision: its outcome, its process group and the seconds it took."""
    group: list[int] = []
    start = time.monotonic()
    outcome = supervise.run(["bash", "-c", script.format(pids=pids)], grace, on_start=lambda p: group.append(p.pid))
    return outcome, group[0], time.monotonic() - start


def test_a_child_that_ignores_sigint_is_stopped_with_its_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    interrupt_when_ready(pids)
    outcome, group, took = supervised(CHILD_IGNORES_INT, pids, FAST)
    assert outcome.interrupted and not outcome.left
    assert not group_members(group)  # the leader went at SIGINT; its child only at SIGTERM, and mixc waited
    assert FAST.interrupt <= took < FAST.total() + 2


def test_a_group_deaf_to_sigint_and_sigterm_ends_within_the_bound(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    interrupt_when_ready(pids)
    outcome, group, took = supervised(ALL_IGNORE_INT_AND_TERM, pids, FAST)
    assert outcome.interrupted and outcome.status == -signal.SIGKILL and not outcome.left
    assert not group_members(group)
    assert FAST.interrupt + FAST.terminate <= took < FAST.total() + 2


def test_more_ctrl_c_hurries_the_stop_but_never_cuts_it_short(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    slow = Grace(interrupt=60.0, terminate=60.0, kill=5.0)
    interrupt_when_ready(pids, times=3)  # impatient: each one skips to the next, harsher step
    outcome, group, took = supervised(ALL_IGNORE_INT_AND_TERM, pids, slow)
    assert outcome.interrupted and not outcome.left
    assert not group_members(group)  # not one process left behind, even so
    assert took < 10


def test_a_normal_exit_takes_what_it_left_running_with_it(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = "(trap '' INT; echo $BASHPID >> {pids}; exec sleep 60) & while [ ! -s {pids} ]; do sleep 0.05; done; exit 3"
    outcome, group, _ = supervised(script, pids, FAST)
    assert outcome.status == 3 and not outcome.interrupted and not outcome.left
    assert ready(pids, 1) and not group_members(group)


def test_a_process_whose_main_thread_ended_first_is_still_a_member(tmp_path: Path) -> None:
    # The main thread leaves by pthread_exit: /proc shows it a zombie while another thread runs,
    # and the process keeps its files (and the locks on them) until that thread ends too.
    script = ("import ctypes, threading, time; "
              "threading.Thread(target=time.sleep, args=(60,)).start(); "
              "ctypes.CDLL(None).pthread_exit(None)")
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        leader = Path(f"/proc/{proc.pid}/stat")
        deadline = time.monotonic() + 20
        while leader.read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the main thread never ended"
            time.sleep(0.02)
        assert group_members(proc.pid) == [proc.pid]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not group_members(proc.pid)
