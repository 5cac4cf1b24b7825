"""Run one command (Snakemake, under `mixc run`) in a process group of its own, and stop it whole.

The command and everything it starts share a new session, so a Ctrl-C at the terminal
reaches mixc alone, and mixc decides how the group stops. On SIGINT or SIGTERM:

    0 s                     SIGINT to the group: Snakemake stops scheduling and cleans up
                            (its locks, its incomplete markers); jobs stop where they are
    + Grace.interrupt       SIGTERM to the group: a job that started just as the interrupt
                            came, or one that ignores SIGINT, ends (outputs are atomic)
    + Grace.terminate       SIGKILL to the group
    + Grace.kill            the last wait: SIGKILL cannot be ignored

Another Ctrl-C during the stop skips to the next step; nothing can make mixc leave early.
`run` returns only when no process of the group is left (zombies aside), also after a normal
exit, so nothing outlives `mixc run` holding the terminal, its pipes or the work directory:
the bound on a stop is `Grace.total()` seconds, whatever the load. The signal handlers are
in place before the command starts, so an interrupt that lands while it starts is kept, not
lost. This module knows nothing about Snakemake's arguments or mixc's jobs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Sequence

POLL_S = 0.2  # how often the wait looks at the command and at signals
PROC = Path("/proc")


@dataclass(frozen=True)
class Grace:
    """Seconds each step of a stop may take before the next, harsher one."""

    interrupt: float = 10.0
    terminate: float = 10.0
    kill: float = 5.0

    def total(self) -> float:
        return self.interrupt + self.terminate + self.kill


@dataclass(frozen=True)
class Outcome:
    """How the command ended: its exit status (negative: killed by that signal), whether mixc
    was interrupted, and the pids of the group still alive after the bound (normally none)."""

    status: int
    interrupted: bool
    left: tuple[int, ...] = ()


def group_members(pgid: int) -> list[int]:
    """Live processes of process group `pgid` (a zombie counts only while it has threads left);
    on systems without /proc, the group itself when any member is left."""
    if not PROC.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended while being read
        if int(fields[2]) == pgid and (fields[0] not in ("Z", "X") or _threads_left(entry)):
            members.append(int(entry.name))
    return members


def _threads_left(process: Path) -> bool:
    """Whether a process whose main thread is a zombie still has threads running. Such a process
    still holds its files (and their locks): they close only with its last thread, and after
    a SIGKILL a busy thread can outlast the main one by a second or more."""
    try:
        tasks = [t for t in (process / "task").iterdir() if t.name != process.name]
    except OSError:
        return False
    for task in tasks:
        try:
            state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            return True
    return False


class _Signals:
    """SIGINT and SIGTERM counted instead of raised, for as long as the block runs."""

    def __init__(self) -> None:
        self.count = 0
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: object) -> None:
        self.count += 1

    def __enter__(self) -> "_Signals":
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _wait_until_empty(proc: subprocess.Popen, seconds: float, signals: _Signals) -> bool:
    """Wait up to `seconds` for the group to empty; a new signal ends the wait early."""
    seen = signals.count
    deadline = time.monotonic() + seconds
    while True:
        proc.poll()  # reap the leader, so that it does not count as a member
        if not group_members(proc.pid):
            return True
        if time.monotonic() >= deadline or signals.count != seen:
            return False
        time.sleep(POLL_S)


def _stop_group(proc: subprocess.Popen, grace: Grace, signals: _Signals, first: int = signal.SIGINT) -> tuple[int, ...]:
    """Stop `proc`'s process group step by step; the pids left after the bound (normally none)."""
    steps = [(signal.SIGINT, grace.interrupt), (signal.SIGTERM, grace.terminate), (signal.SIGKILL, grace.kill)]
    for sig, seconds in steps[[s for s, _ in steps].index(first):]:
        _signal_group(proc.pid, sig)
        if _wait_until_empty(proc, seconds, signals):
            break
    proc.poll()
    return tuple(group_members(proc.pid))


def run(cmd: Sequence[str], grace: Grace, pass_fds: Sequence[int] = (),
        on_start: Callable[[subprocess.Popen], None] | None = None, output: IO | None = None,
        tick: Callable[[], None] | None = None) -> Outcome:
    """Run `cmd` in a new session; stop it whole on SIGINT/SIGTERM (see the module's docstring).
    `output`: a file for the command's stdout and stderr (else it shares mixc's); `tick` is
    called every POLL_S while it runs (a progress display)."""
    with _Signals() as signals:
        proc = subprocess.Popen(list(cmd), start_new_session=True, pass_fds=tuple(pass_fds), stdout=output,
                                stderr=subprocess.STDOUT if output is not None else None)
        try:
            if on_start is not None:
                on_start(proc)
            while proc.poll() is None and not signals.count:
                try:
                    proc.wait(timeout=POLL_S)
                except subprocess.TimeoutExpired:
                    pass
                if tick is not None and not signals.count:
                    tick()
        except BaseException:
            _stop_group(proc, grace, signals)
            raise
        interrupted = signals.count > 0
        if interrupted:
            left = _stop_group(proc, grace, signals)
        else:  # a normal exit: whatever the command left running (it should not) goes too
            left = _stop_group(proc, grace, signals, first=signal.SIGTERM) if group_members(proc.pid) else ()
        status = proc.wait()
    return Outcome(status, interrupted, left)
