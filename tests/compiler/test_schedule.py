"""The schedule: jobs side by side up to the devices, a job on all of them alone, bookkeeping
that needs no device never waiting for one, and the longest chain of work first."""

from __future__ import annotations

from mixc.compiler.schedule import Task, schedule


def search(proxies: int = 5) -> list[Task]:
    tasks = [Task("design", (), 1.0, 0)] + [Task(f"p{i}", ("design",), 10.0, 1) for i in range(proxies)]
    return tasks + [Task("fit", tuple(f"p{i}" for i in range(proxies)), 1.0, 0), Task("final", ("fit",), 100.0, 8)]


def test_side_by_side_up_to_the_slots_then_the_final_on_all():
    assert schedule(search(), 8).seconds == 1 + 10 + 1 + 100  # five proxies at once, then the final on all
    assert schedule(search(), 2).seconds == 1 + 30 + 1 + 100  # two at a time; the final on both
    one = schedule(search(), 1)
    assert all(one.start[f"p{i + 1}"] >= one.end[f"p{i}"] for i in range(4))


def test_jobs_without_devices_start_when_their_inputs_are_done():
    tasks = search() + [Task("report", ("final",), 1.0, 0), Task("note", ("design",), 5.0, 0)]
    when = schedule(tasks, 1)
    assert when.start["note"] == when.end["design"]  # beside the proxies, not after them
    assert when.start["report"] == when.end["final"] == when.seconds - 1


def test_the_longest_chain_first_and_big_jobs_get_their_devices():
    # A short side job and the proxies are ready together: the proxies (which the final waits
    # for) go first; the final, on all 4 devices, is not starved by 1-device jobs.
    tasks = [Task("side", (), 10.0, 1)] + [Task(f"p{i}", (), 10.0, 1) for i in range(4)]
    tasks += [Task("final", tuple(f"p{i}" for i in range(4)), 50.0, 4)]
    when = schedule(tasks, 4)
    assert all(when.start[f"p{i}"] == 0 for i in range(4))
    assert when.start["final"] == 10 and when.start["side"] == 60  # the side job does not hold the final up
