"""How a run's progress is shown: a live block redrawn in place on a terminal, plain lines
elsewhere (CI, redirected output), from `progress.Watch`'s events and snapshots.

On a terminal (redrawn at most once a second):

    quickstart [########............]  9/25 jobs  2 running  3:41 elapsed
      pack/regmix_p0-1a2b3c4d   step  84/147  loss 6.4489   2,951 tok/s  ETA 0:21
      tokenize/code-81c89026    0:12

and a failed job stays as a line above it. Off a terminal, plain lines naming every start
and end, nothing in between: a line per job end, and on it the jobs Snakemake starts as that
one ends (`mixc: done 3/25 tokenize/code-81c89026 in 0:12; start design/quickstart-387c3296`),
so that a run takes about a line per job.
Colours only on a terminal, and never when NO_COLOR is set (https://no-color.org). This
module writes to the stream it is given and reads no file.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Callable, Sequence, TextIO

from mixc.compiler.progress import Running, Snapshot, Watch
from mixc.compiler.progress_log import Event

REDRAW_S = 1.0  # the live block's refresh period
HOLD_S = 1.0  # off a terminal, how long events wait for more (Snakemake starts jobs ms after an end)
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


def plain_lines(events: Sequence[Event], done: int, total: int | None, took: Callable[[Event], float | None],
                colour: bool) -> list[str]:
    """Off a terminal, the lines of a batch of events (`done`: jobs done before it): one per job
    end, with the jobs Snakemake started right after it added (`; start ...`: it starts jobs as
    one ends); starts that follow no end of the batch share a line of their own."""
    lines: list[str] = []
    last = None  # what the last line ends with: "end", or "start" (a list of started jobs)
    for event in events:
        if event.what == "start":
            if last is None:
                lines.append(f"mixc: start {event.job}")
            else:
                lines[-1] += ("; start " if last == "end" else ", ") + event.job
            last = "start"
            continue
        if event.what == "done":
            done += 1
            lines.append(f"mixc: {paint('done', GREEN, colour)} {done}/{'?' if total is None else total} "
                         f"{event.job} in {duration(took(event))}")
        else:
            lines.append(f"mixc: {paint('FAILED', RED, colour)} {event.job} after {duration(took(event))}")
        last = "end"
    return lines


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
        self._held: list[Event] = []  # off a terminal: events not yet printed
        self._held_since = 0.0

    def tick(self, last: bool = False) -> None:
        """Show what happened since the last tick (`last`: the run has ended, hold nothing back)."""
        events = self.watch.poll()
        if self.live:
            if events or time.monotonic() - self._last_draw >= REDRAW_S:
                self._draw_live(events)
            return
        if events:
            self._held_since = time.monotonic()
        self._held += events
        # Printed once the log has been quiet for HOLD_S: an end's line then names the jobs Snakemake
        # started after it, however its writes fell between polls.
        if self._held and (last or time.monotonic() - self._held_since >= HOLD_S):
            snapshot = self.watch.snapshot()
            before = snapshot.done - sum(e.what == "done" for e in self._held)
            lines = plain_lines(self._held, before, snapshot.total, self._took, self.colour)
            self._held = []
            self.stream.write("".join(f"{line}\n" for line in lines))
            self.stream.flush()

    def close(self) -> None:
        """The last events, and the block replaced by one line saying where the run ended."""
        self.tick(last=True)
        if self.live:
            snapshot = self.watch.snapshot()
            self._redraw([f"mixc: {jobs_text(snapshot)} done in {duration(snapshot.elapsed_s)}"], [])

    def _draw_live(self, events: list[Event]) -> None:
        """The block redrawn; a failure stays above it (the block shows starts and ends)."""
        snapshot = self.watch.snapshot()
        failed = [e for e in events if e.what == "failed"]
        before = snapshot.done - sum(e.what == "done" for e in events)
        self._redraw(plain_lines(failed, before, snapshot.total, self._took, self.colour),
                     live_lines(self.name, snapshot, self.colour))

    def _took(self, event: Event) -> float | None:
        """How long a job ran, by Snakemake's timestamps."""
        job = self.watch.state.jobs.get(event.job)
        return event.at - job.started if job and event.at is not None and job.started is not None else None

    def _redraw(self, above: list[str], block: list[str]) -> None:
        columns = shutil.get_terminal_size().columns
        erase = f"\x1b[{self._drawn}F\x1b[J" if self._drawn else ""
        text = "".join(f"{fit(line, columns)}\n" for line in above + block)
        self.stream.write(erase + text)
        self.stream.flush()
        self._drawn, self._last_draw = len(block), time.monotonic()
