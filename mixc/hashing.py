"""Content hashes: of a job (its hashed fields and its inputs' hashes) and of data files.

A job's outputs live under `<kind>/<name>-<hash8>/`, so an unchanged job keeps its folder
(and is not rerun) while any change to it or to anything upstream gives a new one. Which of
a job's fields enter the hash is declared on its dataclass (`mixc.jobfile.unhashed`); data
files enter by the sha256 of their bytes, not by their path or modification time, so a
`touch`, a fresh checkout or a moved project folder changes no hash. Reading large data on
every build would be slow, so `FileDigests` caches each file's digest by (path, size,
modification time) in a JSON file of the work directory.

Pure standard library. This module decides no paths of its own and runs nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

CACHE_SCHEMA = 1
READ_BYTES = 1 << 20


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def job_digest(kind: str, config: Any, inputs: Iterable[str]) -> str:
    """sha256 over the kind, the hashed config and the digests of what the job reads."""
    payload = canonical_json({"kind": kind, "config": config, "inputs": sorted(inputs)})
    return hashlib.sha256(payload.encode()).hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(READ_BYTES):
            h.update(block)
    return h.hexdigest()


class FileDigests:
    """sha256 of files' contents, cached by (absolute path, size, mtime) in `cache` (or in
    memory only, when `cache` is None). `save()` writes the cache back if it changed."""

    def __init__(self, cache: str | os.PathLike | None = None) -> None:
        self.cache = Path(cache) if cache is not None else None
        self.entries: dict[str, list] = self._read()
        self.changed = False

    def _read(self) -> dict[str, list]:
        if self.cache is None:
            return {}
        try:
            data = json.loads(self.cache.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # no cache yet, or a damaged one: digests are simply computed again
        if not isinstance(data, dict) or data.get("schema") != CACHE_SCHEMA or not isinstance(data.get("files"), dict):
            return {}
        return data["files"]

    def digest(self, path: str | os.PathLike) -> str:
        path = os.path.abspath(path)
        st = os.stat(path)
        entry = self.entries.get(path)
        if isinstance(entry, list) and entry[:2] == [st.st_size, st.st_mtime_ns] and len(entry) == 3:
            return entry[2]
        digest = file_sha256(path)
        self.entries[path] = [st.st_size, st.st_mtime_ns, digest]
        self.changed = True
        return digest

    def save(self) -> None:
        if self.cache is None or not self.changed:
            return
        from mixc.atomic import write_text

        write_text(self.cache, canonical_json({"schema": CACHE_SCHEMA, "files": self.entries}) + "\n")
        self.changed = False
