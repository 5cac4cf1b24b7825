"""One `mixc run` at a time per work directory, and Snakemake locks that no live process holds.

Snakemake locks its work directory with files under `.snakemake/locks/` and removes them when
it exits; killed with SIGKILL (a power loss, the OOM killer) it leaves them, and every later
run fails on them. So `mixc run` records who owns the work directory, in `owner.json` there:

    {"pid", "host", "boot_id", "start_ticks", "started", "command", "profile",
     "snakemake": {"pid", "start_ticks"} | null, "ended": false}

and holds an exclusive `flock` on that file for as long as it runs (Snakemake inherits the
descriptor, so the lock is held until both are gone; the kernel drops it when they die, SIGKILL
included). At the start of a run, with the flock taken:

- no Snakemake lock files: nothing to decide;
- lock files, and the record shows a mixc run of this host that did not end (`ended` false),
  with the local profile, whose processes are all gone (another boot, or no process left in
  its Snakemake's process group, a reused pid told apart by its start time): the locks are
  stale, and are removed, saying so;
- otherwise (no record, a run that ended cleanly, another host, a cluster profile whose jobs
  may still be queued, processes still running) they are not provably stale: the run is
  refused, naming the owner and the fix.

A taken flock refuses the run at once, naming the live run that holds it. This module never
signals or stops a process.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mixc.compiler.supervise import group_members

RECORD = "owner.json"
LOCKS = Path(".snakemake") / "locks"
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


class Busy(Exception):
    """The work directory is in use, or holds locks that cannot be proven stale; the message says
    by whom and what to do."""


def _boot_id() -> str | None:
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return None


def start_ticks(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot; None when it is gone, a zombie, or
    the system has no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _same_process(pid: int, ticks: int | None) -> bool:
    """Whether `pid` is still the process that was recorded with start time `ticks`."""
    now = start_ticks(pid)
    if now is not None:
        return ticks is None or now == ticks
    if Path("/proc").is_dir():
        return False
    try:  # no /proc: ask the kernel, and take a reused pid for the same process (the safe side)
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def live_pids(record: dict[str, Any]) -> list[int]:
    """The processes of a recorded run still alive on this host: the mixc process and the
    members of its Snakemake's process group (empty after a reboot)."""
    if record.get("boot_id") and record.get("boot_id") != _boot_id():
        return []
    alive = [record["pid"]] if _same_process(record["pid"], record.get("start_ticks")) else []
    snakemake = record.get("snakemake")
    if snakemake:
        members = group_members(snakemake["pid"])
        leader_now = start_ticks(snakemake["pid"])
        reused = leader_now is not None and snakemake.get("start_ticks") not in (None, leader_now)
        if members and not reused:  # a pid is never reused while its process group lives on
            alive += members
    return sorted(set(alive))


def describe(record: dict[str, Any] | None) -> str:
    if not record:
        return "another mixc run"
    return (f"mixc run pid {record.get('pid')} on {record.get('host')}, started {record.get('started')} "
            f"(`{record.get('command')}`)")


@dataclass
class Owner:
    """The claim of one `mixc run` on its work directory; `fd` must reach Snakemake (pass_fds)."""

    workdir: Path
    fd: int
    record: dict[str, Any] = field(default_factory=dict)
    previous: dict[str, Any] | None = None

    def _write(self) -> None:
        data = (json.dumps(self.record, indent=1) + "\n").encode()
        os.pwrite(self.fd, data, 0)  # never empty, even if this process dies in between
        os.ftruncate(self.fd, len(data))

    def started(self, pid: int) -> None:
        """Record Snakemake's process (its process group has the same id)."""
        self.record["snakemake"] = {"pid": pid, "start_ticks": start_ticks(pid)}
        self._write()

    def clear_stale_locks(self, profile: str, unlock_hint: str) -> list[Path]:
        """Remove Snakemake locks the record proves stale; raise Busy for any other lock."""
        locks = sorted(p for p in (self.workdir / LOCKS).glob("*") if p.is_file())
        if not locks:
            return []
        why = self._not_provably_stale(profile)
        if why:
            raise Busy(f"{self.workdir / LOCKS}: Snakemake lock files ({', '.join(p.name for p in locks)}) {why}; "
                       f"if no Snakemake runs in {self.workdir}, clear them with `{unlock_hint}`, then rerun")
        for lock in locks:
            lock.unlink(missing_ok=True)
        return locks

    def _not_provably_stale(self, profile: str) -> str | None:
        before = self.previous
        if not before or before.get("ended", True):
            return "that no unfinished mixc run left (a Snakemake started by hand here?)"
        if before.get("host") != socket.gethostname():
            return f"left by {describe(before)}, on another host, which this one cannot check"
        if before.get("profile") != "local" or profile != "local":
            return (f"left by {describe(before)} with the {before.get('profile')} profile: its cluster jobs "
                    "may still be queued or running (check the queue)")
        alive = live_pids(before)
        if alive:
            raise Busy(f"{self.workdir}: processes of an earlier {describe(before)} are still running "
                       f"(pids {', '.join(map(str, alive))}); wait for them or stop them "
                       f"(kill -INT {' '.join(map(str, alive))}), then rerun")
        return None

    def begin(self) -> None:
        """Write this run's record: from here on the work directory is this run's."""
        self._write()

    def abandon(self) -> None:
        """Give the work directory up without a trace (the previous record stays as it was)."""
        os.close(self.fd)

    def release(self, ended: bool, clear_locks: bool) -> None:
        """The run is over: mark the record `ended` when none of its processes is left (else the
        next run checks on them), remove the Snakemake locks a killed Snakemake left when
        `clear_locks`, and drop the flock."""
        if clear_locks:
            for lock in (self.workdir / LOCKS).glob("*"):
                lock.unlink(missing_ok=True)
        self.record["ended"] = ended
        self._write()
        os.close(self.fd)


def claim(workdir: Path, profile: str, command: str) -> Owner:
    """Take the work directory for this run (`begin` writes the record), or raise Busy naming
    the live run that has it."""
    workdir.mkdir(parents=True, exist_ok=True)
    fd = os.open(workdir / RECORD, os.O_RDWR | os.O_CREAT, 0o644)
    holder = _read(fd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise Busy(_in_use(workdir, holder)) from None
    except OSError as exc:  # a file system without locks: the records still tell runs apart
        print(f"mixc: cannot lock {workdir / RECORD} ({exc.strerror}); not checking for another run",
              file=sys.stderr)
    owner = Owner(workdir, fd, previous=_read(fd))  # what the last owner left, now that it cannot change
    owner.record = {"pid": os.getpid(), "host": socket.gethostname(), "boot_id": _boot_id(),
                    "start_ticks": start_ticks(os.getpid()), "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                    "command": command, "profile": profile, "snakemake": None, "ended": False}
    return owner


def _in_use(workdir: Path, holder: dict[str, Any] | None) -> str:
    """Who holds the work directory's flock, and how to stop it."""
    snakemake = (holder or {}).get("snakemake")
    if holder and snakemake and not _same_process(holder["pid"], holder.get("start_ticks")):
        return (f"{workdir} is in use by the Snakemake (pid {snakemake['pid']}) of {describe(holder)}, which "
                f"itself is gone; stop it and its jobs with `kill -INT -- -{snakemake['pid']}`, then rerun")
    return (f"{workdir} is in use by {describe(holder)}; wait for it to end, or stop it (Ctrl-C in its "
            f"terminal, or `kill -INT {(holder or {}).get('pid', 'PID')}`), then rerun")


def _read(fd: int) -> dict[str, Any] | None:
    try:
        data = json.loads(os.pread(fd, 1 << 16, 0).decode() or "null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
