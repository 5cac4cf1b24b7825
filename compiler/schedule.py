"""The schedule: when each job of a graph would start and end on a fixed number of devices.

A list schedule (Graham 1969) with critical-path priorities: whenever devices free up, the
ready jobs start in the order of the longest chain of work still ahead of them (ties: the
order given), each as soon as the devices it needs are free; a job that needs none (the
bookkeeping beside GPU jobs) starts when its inputs are done. Snakemake schedules by its own
rules, so this is an estimate of the wall time, not a prediction of the order.
Pure Python: `mixc check` uses it for the budget. It knows nothing of job kinds.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    id: str
    after: tuple[str, ...]  # ids of the tasks it waits for
    seconds: float
    slots: int  # devices (or lanes) it holds while it runs


@dataclass(frozen=True)
class Schedule:
    start: dict[str, float]
    end: dict[str, float]

    @property
    def seconds(self) -> float:
        """The makespan: when the last task ends."""
        return max(self.end.values(), default=0.0)


def _ahead(tasks: list[Task]) -> dict[str, float]:
    """Each task's seconds plus the longest chain of tasks that wait on it."""
    consumers: dict[str, list[Task]] = {t.id: [] for t in tasks}
    for t in tasks:
        for a in t.after:
            consumers[a].append(t)
    ahead: dict[str, float] = {}

    def visit(t: Task) -> float:
        if t.id not in ahead:
            ahead[t.id] = t.seconds + max((visit(c) for c in consumers[t.id]), default=0.0)
        return ahead[t.id]

    for t in reversed(tasks):  # tasks come in a dependency order: consumers are visited first
        visit(t)
    return ahead


def schedule(tasks: list[Task], slots: int) -> Schedule:
    """Start and end of every task on `slots` devices; `tasks` in a dependency order. A task
    that asks for more than `slots` gets them all."""
    ahead = _ahead(tasks)
    by_id = {t.id: t for t in tasks}
    need = {t.id: min(t.slots, slots) for t in tasks}
    key = {t.id: (-ahead[t.id], i, t.id) for i, t in enumerate(tasks)}  # the ready queue's order
    waiting = {t.id: len(t.after) for t in tasks}
    consumers: dict[str, list[str]] = {t.id: [] for t in tasks}
    for t in tasks:
        for a in t.after:
            consumers[a].append(t.id)
    start: dict[str, float] = {}
    end: dict[str, float] = {}
    ready: list[tuple[float, int, str]] = []
    running: list[tuple[float, tuple[float, int, str]]] = []  # (end, key)
    free, now = slots, 0.0

    def run(i: str) -> None:
        start[i], end[i] = now, now + by_id[i].seconds
        heapq.heappush(running, (end[i], key[i]))

    def release(i: str) -> None:
        if need[i] == 0:
            run(i)
        else:
            heapq.heappush(ready, key[i])

    for t in tasks:
        if not t.after:
            release(t.id)
    while running or ready:
        skipped = []
        while ready and free:
            k = heapq.heappop(ready)
            if need[k[2]] > free:
                skipped.append(k)
            else:
                free -= need[k[2]]
                run(k[2])
        for k in skipped:
            heapq.heappush(ready, k)
        now = running[0][0]
        while running and running[0][0] == now:  # every task that ends now, before any starts
            _, (_, _, done) = heapq.heappop(running)
            free += need[done]
            for c in consumers[done]:
                waiting[c] -= 1
                if not waiting[c]:
                    release(c)
    return Schedule(start, end)
