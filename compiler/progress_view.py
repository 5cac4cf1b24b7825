"""How a run's progress is shown: a live block redrawn in place on a terminal, plain lines
elsewhere (CI, redirected output), from `progress.Watch`'s events and snapshots.

On a terminal (redrawn at most once a second):

    quickstart [########............]  9/25 jobs  2 running  3:41 elapsed
      pack/regmix_p0-1a2b3c4d   step  84/147  loss 6.4489   2,951 tok/s  ETA 0:21
      tokenize/code-81c89026    0:12

and a failed job stays as a line above it. Off a terminal, one line when a job starts and
one when it ends (`mixc: start ...`, `mixc: done 3/25 ... in 0:12`), nothing in between.
Colours only on a terminal, and never when NO_COLOR is set (https://no-color.org). This
module writes to the stream it is given and reads no file.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import TextIO

from mixc.compiler.progress import Running, Snapshot, Watch
from mixc.compiler.progress_log import Event

REDRAW_S = 1.0  # the live block's refresh period
BAR = 20  # characters of the jobs bar
GREEN, RED, DIM, BOLD = "32", "31", "2", "1"


def use_colour(stream: TextIO) -> bool:
    """Colours on a terminal that can show them, unless NO_COLOR is set to anything non-empty."""
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def paint(text: str, code: str, on: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if on else text


def duration(seconds: float | None) -> str:
    """0:07, 3:41, 1:02:03; `-` when unknown."""
    if seconds is None:
        return "-"
    s = int(round(seconds))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def jobs_text(snapshot: Snapshot) -> str:
    total = "?" if snapshot.total is None else str(snapshot.total)
    return f"{snapshot.done:>{len(total)}}/{total} jobs"


def job_line(job: Running, width: int) -> str:
    """One running job: its step, loss, tokens/s and ETA when it trains, else how long it has run."""
    t = job.training
    if t is None:
        return f"  {job.job:<{width}}  {duration(job.seconds)}"
    left = "evaluating" if t.step >= t.steps else f"ETA {duration(t.eta_s)}"  # trained: scoring the held-out sets
    return (f"  {job.job:<{width}}  step {t.step:>{len(str(t.steps))}}/{t.steps}  loss {t.loss:.4f}  "
            f"{t.tokens_per_s:>9,.0f} tok/s  {left}")


def live_lines(name: str, snapshot: Snapshot, colour: bool) -> list[str]:
    """The live block: a heading with the jobs bar, then one line per running job."""
    total = snapshot.total or 0
    filled = BAR * snapshot.done // total if total else 0
    bar = paint("#" * filled, GREEN, colour) + "." * (BAR - filled)
    failed = paint(f"  {len(snapshot.failed)} failed", RED, colour) if snapshot.failed else ""
    head = (f"{paint(name, BOLD, colour)} [{bar}] {jobs_text(snapshot)}  {len(snapshot.running)} running{failed}  "
            f"{duration(snapshot.elapsed_s)} elapsed")
    width = max((len(j.job) for j in snapshot.running), default=0)
    return [head, *(job_line(j, width) for j in snapshot.running)]


def event_line(event: Event, snapshot: Snapshot, took: float | None, colour: bool) -> str:
    """The plain line of a job's start or end."""
    if event.what == "start":
        return f"mixc: start  {event.job} ({event.rule})"
    if event.what == "done":
        return f"mixc: {paint('done', GREEN, colour)}   {jobs_text(snapshot)}  {event.job} in {duration(took)}"
    return f"mixc: {paint('FAILED', RED, colour)} {event.job} after {duration(took)}"


def fit(line: str, columns: int) -> str:
    """A line cut to the terminal's width (colour codes make it look longer than it is: only
    uncoloured lines, the job lines, are ever cut)."""
    return line if "\x1b" in line or len(line) <= columns else line[: columns - 1] + "\u2026"


class Display:
    """Shows a Watch on `stream`: `tick` while the run goes, `close` when it has ended."""

    def __init__(self, name: str, watch: Watch, stream: TextIO, live: bool | None = None):
        self.name, self.watch, self.stream = name, watch, stream
        self.live = stream.isatty() if live is None else live
        self.colour = use_colour(stream)
        self._drawn = 0  # lines of the live block now on screen
        self._last_draw = float("-inf")

    def tick(self) -> None:
        events = self.watch.poll()
        if not events and (not self.live or time.monotonic() - self._last_draw < REDRAW_S):
            return
        snapshot = self.watch.snapshot()
        lines = [self._said(e, snapshot) for e in events]
        lines = [line for line in lines if line is not None]
        if self.live:
            self._redraw(lines, live_lines(self.name, snapshot, self.colour))
        elif lines:
            self.stream.write("".join(f"{line}\n" for line in lines))
            self.stream.flush()

    def close(self) -> None:
        """The last events, and the block replaced by one line saying where the run ended."""
        self.tick()
        if self.live:
            snapshot = self.watch.snapshot()
            self._redraw([f"mixc: {jobs_text(snapshot)} done in {duration(snapshot.elapsed_s)}"], [])

    def _said(self, event: Event, snapshot: Snapshot) -> str | None:
        if self.live and event.what != "failed":  # the block shows starts and ends
            return None
        job = self.watch.state.jobs.get(event.job)
        took = event.at - job.started if job and event.at is not None and job.started is not None else None
        return event_line(event, snapshot, took, self.colour)

    def _redraw(self, above: list[str], block: list[str]) -> None:
        columns = shutil.get_terminal_size().columns
        erase = f"\x1b[{self._drawn}F\x1b[J" if self._drawn else ""
        text = "".join(f"{fit(line, columns)}\n" for line in above + block)
        self.stream.write(erase + text)
        self.stream.flush()
        self._drawn, self._last_draw = len(block), time.monotonic()
