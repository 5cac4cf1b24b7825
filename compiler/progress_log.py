"""What Snakemake's log says about a run: which jobs started, finished or failed, and how many
there are. Fed Snakemake's own text (what `mixc run` keeps in `logs/snakemake/`, or
`.snakemake/log/*.snakemake.log`) a chunk at a time, as it is written.

The lines read (Snakemake 9's plain log; anything else is passed over):

    [Wed Dec  2 18:22:37 2026]          a timestamp, before a job block
    rule proxy:  /  localrule job:      a job block starts; indented lines follow
        jobid: 8
        wildcards: id=tokenize/email-10c1b7ad
    Finished jobid: 8 (Rule: job)
    Error in rule job:                  an error block, with its indented `jobid: 8`
    total              26               the last row of the job stats table
    Nothing to be done (all ...)        no job to run

The `all` rule (the target that gathers everything) is not a job of the experiment and is
never counted. This module reads no file and prints nothing.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Literal

GATHER = "all"  # the Snakefile's target rule
BLOCK = re.compile(r"^(?:local)?rule (\S+):$")
ERROR = re.compile(r"^Error in rule (\S+):$")
FIELD = re.compile(r"^\s+(jobid|wildcards): (.*)$")
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\S+)\)$")
STAMP = re.compile(r"^\[(\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4})\]$")
TOTAL = re.compile(r"^total\s+(\d+)$")


@dataclass(frozen=True)
class Event:
    """A job of the run started, finished or failed; `at` is Snakemake's timestamp (epoch s) or None."""

    what: Literal["start", "done", "failed"]
    job: str  # the job id, e.g. train/tiny_chosen-1a2b3c4d
    rule: str
    at: float | None


@dataclass(frozen=True)
class JobRun:
    """A job as the log tells it: its rule, when it started, and how it ended (None: still running)."""

    job: str
    rule: str
    started: float | None
    ended: Literal["done", "failed"] | None = None


def _stamp(text: str) -> float | None:
    try:
        return time.mktime(time.strptime(text, "%a %b %d %H:%M:%S %Y"))  # Snakemake writes local time
    except ValueError:
        return None


class SnakemakeLog:
    """The run so far, from Snakemake's log text fed in order (chunks may end mid-line)."""

    def __init__(self) -> None:
        self.total: int | None = None  # the run's jobs, `all` excluded; None before the stats table
        self.jobs: dict[str, JobRun] = {}  # by job id, in the order they started
        self._ids: dict[str, tuple[str, str]] = {}  # Snakemake's jobid -> (job id, rule)
        self._block: tuple[str, dict[str, str]] | None = None  # ("start" | "error", fields so far)
        self._rule = ""
        self._stamp: float | None = None
        self.first_stamp: float | None = None  # the log's first timestamp: about when the run began
        self._partial = ""
        self._counted_all = False

    def feed(self, text: str) -> list[Event]:
        """Take the next chunk of the log; the events its complete lines tell."""
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        events: list[Event] = []
        for line in lines:
            event = self._line(line.rstrip("\r"))
            if event is not None:
                events.append(event)
        return events

    def done(self) -> int:
        return sum(1 for j in self.jobs.values() if j.ended == "done")

    def running(self) -> list[JobRun]:
        return [j for j in self.jobs.values() if j.ended is None]

    def failed(self) -> list[JobRun]:
        return [j for j in self.jobs.values() if j.ended == "failed"]

    def _line(self, line: str) -> Event | None:
        if self._block is not None:
            if line.startswith(" "):  # the block's indented lines: keep the two it needs
                field = FIELD.match(line)
                if field:
                    self._block[1][field[1]] = field[2].strip()
                    return self._close_if_complete()
                return None
            self._block = None
        if m := STAMP.match(line):
            self._stamp = _stamp(m[1])
            if self.first_stamp is None:
                self.first_stamp = self._stamp
        elif m := BLOCK.match(line):
            self._block, self._rule = ("start", {}), m[1]
        elif m := ERROR.match(line):
            self._block, self._rule = ("error", {}), m[1]
        elif m := FINISHED.match(line):
            return self._end(m[1], "done")
        elif (m := TOTAL.match(line)) and self.total is None:
            self.total = int(m[1]) - (1 if self._counted_all else 0)
        elif line.startswith("Nothing to be done"):  # every job's output is there: no stats table comes
            self.total = 0
        elif line.split() == [GATHER, "1"]:  # the stats table's row for `all`
            self._counted_all = True
        return None

    def _close_if_complete(self) -> Event | None:
        kind, fields = self._block
        if kind == "start" and "jobid" in fields and "wildcards" in fields:
            self._block = None
            if self._rule == GATHER:
                return None
            job = fields["wildcards"].removeprefix("id=").split(",")[0]
            self._ids[fields["jobid"]] = (job, self._rule)
            self.jobs[job] = JobRun(job, self._rule, self._stamp)
            return Event("start", job, self._rule, self._stamp)
        if kind == "error" and "jobid" in fields:
            self._block = None
            return self._end(fields["jobid"].split(",")[0].strip(), "failed")
        return None

    def _end(self, jobid: str, how: Literal["done", "failed"]) -> Event | None:
        known = self._ids.get(jobid)
        if known is None:  # the `all` rule, or a job whose block came before the text we were given
            return None
        job, rule = known
        run = self.jobs[job]
        if run.ended is not None:
            return None
        self.jobs[job] = JobRun(job, rule, run.started, how)
        return Event(how, job, rule, self._stamp)
