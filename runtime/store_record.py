"""A token store group's record, checked from the file system alone, and its damage note.

Pure standard library (no zarr, numpy or torch), so that `mixc run` can check the groups of
finished tokenize jobs before it starts Snakemake, as cheaply as a few `stat` calls.

The record (the attributes of `<group>/zarr.json`) lists, besides the counts, the size in
bytes of every other file of the group at the time it was written (`sizes`), so a truncated,
grown or missing chunk is found without decoding anything. What only decoding can find (a
flipped bit: zstd's checksum) is found by the reader, which then leaves a note,
`<group>/damaged.json`, so that every later reader and the next `mixc run` know the group
must be rebuilt. Rebuilding (the tokenize job, which replaces the whole group) is the only
fix; this module never repairs, and writes nothing but that note.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mixc.atomic import write_json
from mixc.jobfile import JobError

SCHEMA = 1
SPLITS = ("train", "valid")
RECORD = "zarr.json"
DAMAGED = "damaged.json"


class StoreError(JobError):
    """A token store is missing, incomplete or damaged; the message names the file."""


def rebuild_hint(group: Path) -> str:
    """The fix for a damaged group. In a mixc work directory the group's folder is the id of the
    tokenize job that wrote it, and `mixc run` rebuilds a damaged group before it runs anything."""
    return f"rerun the tokenize job that wrote {group} (in a mixc work directory, the next `mixc run` does)"


def file_sizes(group: Path) -> dict[str, int]:
    """Every file of the group but its record, by path relative to the group, with its size."""
    sizes = {}
    for dirpath, _, names in os.walk(group):
        for name in names:
            path = Path(dirpath) / name
            rel = path.relative_to(group).as_posix()
            if rel not in (RECORD, DAMAGED):
                sizes[rel] = path.stat().st_size
    return dict(sorted(sizes.items()))


def read_record(group: Path) -> dict[str, Any]:
    """The group's record after every check that needs no decoding: it exists, is complete and
    of this schema, holds counts for both splits, carries no damage note, and every file it
    lists has the size it had when written. Raises StoreError naming the file and the fix."""
    meta = group / RECORD
    if not meta.exists():
        raise StoreError(f"{group}: no token store for source '{group.name}' (run its tokenize job)")
    try:
        record = json.loads(meta.read_text(encoding="utf-8"))["attributes"]
        complete = record.get("complete") is True and record.get("schema") == SCHEMA
        if not all(isinstance(record["splits"][s][n], int) for s in SPLITS for n in ("tokens", "documents")):
            raise TypeError("split counts must be integers")
        sizes = {str(k): int(v) for k, v in record.get("sizes", {}).items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StoreError(f"{meta}: corrupt store record ({exc}); {rebuild_hint(group)}") from None
    if not complete:
        raise StoreError(f"{group}: incomplete token store; {rebuild_hint(group)}")
    note = group / DAMAGED
    if note.exists():
        raise StoreError(f"{group}: marked damaged by an earlier read ({_noted(note)}); {rebuild_hint(group)}")
    for rel, expected in sizes.items():
        path = group / rel
        try:
            actual = path.stat().st_size
        except FileNotFoundError:
            raise StoreError(f"{path}: chunk missing (the record lists {expected} bytes); {rebuild_hint(group)}") from None
        if actual != expected:
            raise StoreError(f"{path}: truncated or damaged chunk ({actual} bytes, the record lists {expected}); "
                             f"{rebuild_hint(group)}")
    return record


def mark_damaged(group: Path, file: Path, problem: str) -> None:
    """Leave the damage note a reader found (best effort: a read-only store keeps none)."""
    try:
        write_json(group / DAMAGED, {"file": str(file), "problem": problem})
    except OSError:
        pass


def _noted(note: Path) -> str:
    try:
        found = json.loads(note.read_text(encoding="utf-8"))
        return f"{found['file']}: {found['problem']}"
    except (OSError, ValueError, KeyError, TypeError):
        return f"see {note}"
