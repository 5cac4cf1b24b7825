"""Before Snakemake starts: finished jobs whose outputs are gone or damaged lose their marker.

Snakemake counts a job as done when its marker `done/<id>` exists, whatever became of the
outputs since. `mixc run` therefore looks, before each run, at every finished job of the
experiment: its output folder (named by its id) must exist and hold the file the job writes
last; a tokenize job's folder is a token store group, checked as its readers check it
(runtime.store_record: the record, a damage note left by a reader, the size of every chunk
file). A job that fails loses its marker, and so does every job that reads from it, directly
or not: Snakemake does not rerun a job whose output is missing when what reads it is done,
so the markers after it go too, and the whole chain runs again (deterministic jobs: a train
job resumes from its last checkpoint, so a finished one only evaluates again). Every check is
a `stat` or a small JSON read: nothing is decoded. This module removes markers only; it
never deletes or repairs an output (the job's rerun replaces it).

After a failed run, `failed` names the jobs that ran and did not finish, from their logs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

from mixc.runtime.store_record import StoreError, read_record

# The file each kind writes last, inside its folder: present means the job got to its end.
LAST_WRITTEN = {
    "tokenizer": "mixc_tokenizer.json",
    "design": "mixtures.json",
    "propose": "mixtures.json",
    "train": "metrics.json",
    "eval": "eval.json",
    "fit": "law.json",
    "cluster": "clusters.json",
    "solve": "mixtures.json",
    "report": "summary.json",
}


def problem(workdir: Path, job_id: str, kind: str) -> str | None:
    """What is wrong with a finished job's output, or None when it looks whole."""
    folder = workdir / job_id
    if not folder.is_dir():
        return f"its output folder {folder} is missing"
    if kind == "tokenize":
        try:
            read_record(folder)
        except StoreError as exc:
            return str(exc)
        return None
    last = LAST_WRITTEN.get(kind)
    if last is not None and not (folder / last).is_file():
        return f"{folder / last} is missing"
    return None


def damaged(workdir: Path, jobs: Mapping[str, Mapping]) -> dict[str, str]:
    """The finished jobs of an index's `jobs` whose output fails its check: {id: problem}
    (a pack's outputs are its members' train-job folders)."""
    found = {}
    for job_id, info in jobs.items():
        if (workdir / "done" / job_id).is_file():
            if info["kind"] == "pack":
                why = next(filter(None, (problem(workdir, o, "train") for o in info["outputs"])), None)
            else:
                why = problem(workdir, job_id, info["kind"])
            if why is not None:
                found[job_id] = why
    return found


def downstream(jobs: Mapping[str, Mapping], ids: Iterable[str]) -> set[str]:
    """The jobs that read from any of `ids`, directly or through others (`ids` excluded)."""
    readers: dict[str, list[str]] = {}
    for job_id, info in jobs.items():
        for before in info["after"]:
            readers.setdefault(before, []).append(job_id)
    found: set[str] = set()
    frontier = list(ids)
    while frontier:
        for reader in readers.get(frontier.pop(), []):
            if reader not in found:
                found.add(reader)
                frontier.append(reader)
    return found - set(ids)


def invalidate(workdir: Path, ids: Iterable[str]) -> None:
    """Remove the markers of `ids`, so that Snakemake runs those jobs again."""
    for job_id in ids:
        (workdir / "done" / job_id).unlink(missing_ok=True)


def failed(workdir: Path, jobs: Iterable[str], since: float) -> list[tuple[str, Path, str]]:
    """The jobs that wrote their log at or after `since` (a time.time()) and have no marker:
    (id, log, the log's last error line, or its last line), the latest first."""
    found = []
    for job_id in jobs:
        log = workdir / "logs" / f"{job_id}.log"
        try:
            written = log.stat().st_mtime
        except OSError:
            continue
        if written >= since and not (workdir / "done" / job_id).exists():
            found.append((written, job_id, log))
    return [(job_id, log, last_words(log)) for _, job_id, log in sorted(found, reverse=True)]


def last_words(log: Path) -> str:
    """A job log's last `error:` line (what the runtime and compiler jobs print on a failure),
    else its last non-blank line, from the log's final 64 KB."""
    with log.open("rb") as f:
        f.seek(max(0, f.seek(0, 2) - (1 << 16)))
        lines = [line.strip() for line in f.read().decode("utf-8", "replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["(empty)"])[-1]
