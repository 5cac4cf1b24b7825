"""Where a run stands, read from what it already writes: Snakemake's log (which jobs started,
finished, failed: `progress_log`) and each running train job's log (its last step line).

A train or pack job prints, every `log_every` steps, off a terminal (runtime/train.py Progress):

    step 84/147 loss 6.4489 lr 9.792e-04 2,951 tok/s

(a pack prints its members' mean loss and their summed tokens/s). The ETA is the steps left
times the tokens of a step (from the job file: batch x seq_len, summed over a pack's members)
over the tokens/s. `Watch` is used by `mixc run` while Snakemake runs (fed as the log grows)
and by `mixc status DIR` (once, or while it follows a run made elsewhere). This module reads
files and never writes or prints.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from mixc.compiler.progress_log import Event, SnakemakeLog

STEP = re.compile(r"^step (\d+)/(\d+) loss (\S+) lr \S+ ([\d,.]+) tok/s$")
TAIL_BYTES = 8192  # a job log's last step line is within this many bytes of its end
LOGS = Path("logs") / "snakemake"  # where `mixc run` keeps Snakemake's log, one file a run
SNAKEMAKE_LOGS = Path(".snakemake") / "log"  # Snakemake's own copy (runs started with -v, or by hand)


@dataclass(frozen=True)
class Training:
    """A train job's last step line, and the seconds left at its rate (None when unknown)."""

    step: int
    steps: int
    loss: float
    tokens_per_s: float
    eta_s: float | None


@dataclass(frozen=True)
class Running:
    job: str
    rule: str
    seconds: float | None  # since it started, by Snakemake's clock
    training: Training | None  # None before its first step line, or for a job that does not train


@dataclass(frozen=True)
class Snapshot:
    """The run at one moment: jobs done of total (None before Snakemake has counted them)."""

    total: int | None
    done: int
    running: tuple[Running, ...]
    failed: tuple[str, ...]
    elapsed_s: float


def tail(path: Path, size: int = TAIL_BYTES) -> str:
    """The last `size` bytes of a file as text ('' when it cannot be read)."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, 2) - size))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def last_step(text: str) -> tuple[int, int, float, float] | None:
    """(step, steps, loss, tokens/s) of the last step line in a job log's text."""
    for line in reversed(text.splitlines()):
        m = STEP.match(line.strip())
        if m:
            return int(m[1]), int(m[2]), float(m[3]), float(m[4].replace(",", ""))
    return None


def tokens_per_step(job_file: Path) -> int | None:
    """Tokens one step of a train job (or of a whole pack) trains on, from its job file."""
    try:
        job = json.loads(job_file.read_text(encoding="utf-8"))
        members = job.get("members", [job])
        return sum(m["batch_size"] * m["model"]["seq_len"] for m in members)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def training(log_text: str, per_step: int | None) -> Training | None:
    found = last_step(log_text)
    if found is None:
        return None
    step, steps, loss, rate = found
    eta = (steps - step) * per_step / rate if per_step and rate > 0 else None
    return Training(step, steps, loss, rate, eta)


class Watch:
    """A run's Snakemake log followed from its start, and the logs of its running jobs."""

    def __init__(self, workdir: Path, log: Path, started: float | None = None):
        self.workdir, self.log = workdir, log
        self.state = SnakemakeLog()
        self.started = started
        self._offset = 0
        self._per_step: dict[str, int | None] = {}

    def poll(self) -> list[Event]:
        """Read what Snakemake has written since the last poll; the events it tells."""
        try:
            with self.log.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except OSError:
            return []
        self._offset += len(chunk)
        events = self.state.feed(chunk.decode("utf-8", "replace"))
        if self.started is None:
            self.started = self.state.first_stamp
        return events

    def snapshot(self, now: float | None = None) -> Snapshot:
        now = time.time() if now is None else now
        running = tuple(self._running(j.job, j.rule, j.started, now) for j in self.state.running())
        started = self.started if self.started is not None else now
        return Snapshot(self.state.total, self.state.done(), running, tuple(j.job for j in self.state.failed()),
                        max(0.0, now - started))

    def _running(self, job: str, rule: str, started: float | None, now: float) -> Running:
        if job not in self._per_step:
            self._per_step[job] = tokens_per_step(self.workdir / "jobs" / f"{job}.json")
        text = tail(self.workdir / "logs" / f"{job}.log")
        return Running(job, rule, None if started is None else max(0.0, now - started),
                       training(text, self._per_step[job]))


def latest_log(workdir: Path) -> Path | None:
    """The newest Snakemake log of a work directory: `mixc run`'s copy, or Snakemake's own."""
    found = [*(workdir / LOGS).glob("*.log"), *(workdir / SNAKEMAKE_LOGS).glob("*.snakemake.log")]
    return max(found, key=lambda p: p.stat().st_mtime, default=None)
