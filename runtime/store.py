"""Zarr v3 token stores: one group per source, written atomically, read back with checks.

Layout (a store is a directory; sources may share one or live in stores of their own):

    <store>/zarr.json                       root group
    <store>/<source>/zarr.json              group; its attributes are the source's record
    <store>/<source>/{train,valid}/tokens   1-D uint16/uint32: documents, each + end-of-text
    <store>/<source>/{train,valid}/doc_offsets  1-D uint64: where each document starts

The source record (attributes of `<store>/<source>`) is plain JSON, readable without this
module: `splits.<split>.tokens` and `.documents` are the counts, `dtype`, `tokenizer`
(vocab size, end-of-text id, sha256), `holdout`, `seed`, `files`, and `complete: true`,
written last. Document offsets are an array, not an attribute: attributes are read whole,
and a large source has millions of documents.

The record also lists the size of every file of the group when it was written, so a
truncated or missing chunk is caught when the source is opened, by `stat` alone
(runtime.store_record, which `mixc run` uses too). Chunks are zstd with its checksum on, so
any other damage fails to decode instead of yielding wrong tokens; the reader then leaves a
note in the group, so that the next `mixc run` rebuilds it. Every failure names the file and
the fix. This module must not tokenize.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, NoReturn

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from mixc.atomic import atomic_directory, write_text
from mixc.runtime.store_record import SCHEMA, SPLITS, StoreError, file_sizes, mark_damaged, read_record, rebuild_hint

TOKENS_CHUNK = 1 << 20  # 2 MiB of uint16: one decode per chunk, many windows per decode
OFFSETS_CHUNK = 1 << 16

# A store root holding every source, or a map from source name to the store root holding it.
StorePath = str | os.PathLike | Mapping[str, str | os.PathLike]


def source_path(store: StorePath, source: str) -> Path:
    """The directory of `source`'s group."""
    if isinstance(store, Mapping):
        if source not in store:
            raise StoreError(f"no store given for source '{source}' (given: {', '.join(store)})")
        return Path(store[source]) / source
    return Path(store) / source


def _codecs() -> dict[str, Any]:
    return {"compressors": [ZstdCodec(level=3, checksum=True)]}


def _ensure_root(root: Path) -> None:
    meta = root / "zarr.json"
    if meta.exists():
        return
    write_text(meta, json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}}) + "\n")


class _SplitWriter:
    """Appends documents to one split, writing whole chunks only (no read-modify-write)."""

    def __init__(self, group: zarr.Group, dtype: str):
        self.tokens_array = group.create_array("tokens", shape=(0,), chunks=(TOKENS_CHUNK,), dtype=dtype, **_codecs())
        self.offsets_array = group.create_array("doc_offsets", shape=(0,), chunks=(OFFSETS_CHUNK,),
                                                dtype="uint64", **_codecs())
        self.pending: list[np.ndarray] = []
        self.pending_tokens = 0
        self.offsets: list[int] = []
        self.tokens = 0  # total, written or pending
        self.documents = 0

    def add(self, ids: np.ndarray) -> None:
        self.offsets.append(self.tokens)
        self.pending.append(ids)
        self.pending_tokens += len(ids)
        self.tokens += len(ids)
        self.documents += 1
        if self.pending_tokens >= TOKENS_CHUNK:
            self._flush(final=False)
        if len(self.offsets) >= OFFSETS_CHUNK:
            self._flush_offsets(final=False)

    def _flush(self, final: bool) -> None:
        if not self.pending:
            return
        block = np.concatenate(self.pending)
        cut = len(block) if final else len(block) - len(block) % TOKENS_CHUNK
        self.tokens_array.append(block[:cut])
        self.pending = [block[cut:]] if cut < len(block) else []
        self.pending_tokens = len(block) - cut

    def _flush_offsets(self, final: bool) -> None:
        cut = len(self.offsets) if final else len(self.offsets) - len(self.offsets) % OFFSETS_CHUNK
        if cut:
            self.offsets_array.append(np.asarray(self.offsets[:cut], dtype=np.uint64))
            del self.offsets[:cut]

    def close(self) -> dict[str, int]:
        self._flush(final=True)
        self._flush_offsets(final=True)
        return {"tokens": self.tokens, "documents": self.documents}


class SourceWriter:
    """Write one source's group atomically: `with SourceWriter(...) as w: w.add(split, ids)`.

    Nothing appears at `<store>/<source>` until the block ends without error; then the
    record (with `complete: true`) is written and the directory renamed into place,
    replacing any earlier version.
    """

    def __init__(self, store: str | os.PathLike, source: str, dtype: str, record: dict[str, Any]):
        self.root = Path(store)
        self.source = source
        self.dtype = dtype
        self.record = record
        self._atomic = atomic_directory(self.root / source)
        self._splits: dict[str, _SplitWriter] = {}

    def __enter__(self) -> "SourceWriter":
        _ensure_root(self.root)
        self._tmp = self._atomic.__enter__()
        self._group = zarr.open_group(str(self._tmp), mode="w", zarr_format=3)
        self._splits = {s: _SplitWriter(self._group.create_group(s), self.dtype) for s in SPLITS}
        return self

    def add(self, split: str, ids: np.ndarray) -> None:
        """Append one document (its ids, end-of-text included) to `split`."""
        self._splits[split].add(ids)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool | None:
        if exc_type is None:
            counts = {s: w.close() for s, w in self._splits.items()}
            for s, c in counts.items():
                self._group[s].attrs.update(c)
            self._group.attrs.update({**self.record, "schema": SCHEMA, "source": self.source, "dtype": self.dtype,
                                      "splits": counts, "sizes": file_sizes(self._tmp), "complete": True})
        return self._atomic.__exit__(exc_type, exc, tb)


@dataclass(frozen=True)
class SourceInfo:
    """A complete source group: where it is and its record."""

    path: Path
    record: dict[str, Any]

    def tokens(self, split: str) -> int:
        return int(self.record["splits"][split]["tokens"])

    def documents(self, split: str) -> int:
        return int(self.record["splits"][split]["documents"])


def open_source(store: StorePath, source: str) -> SourceInfo:
    """Check that `source`'s group is complete and whole (runtime.store_record), and return its record."""
    path = source_path(store, source)
    return SourceInfo(path, read_record(path))


def token_counts(store: str | os.PathLike) -> dict[str, dict[str, int]]:
    """Tokens per split of every complete source in a store root: {source: {split: n}}."""
    root = Path(store)
    out = {}
    for child in sorted(root.iterdir()) if root.is_dir() else []:
        if child.is_dir() and not child.name.startswith(".") and (child / "zarr.json").exists():
            info = open_source(root, child.name)
            out[child.name] = {s: info.tokens(s) for s in SPLITS}
    return out


class TokenReader:
    """Reads ranges of one split's tokens a chunk at a time; damaged chunks name their file."""

    def __init__(self, info: SourceInfo, split: str):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        self.group = info.path
        self.path = info.path / split / "tokens"
        self.length = info.tokens(split)
        try:
            self.array = zarr.open_array(str(self.path), mode="r", zarr_format=3)
        except Exception as exc:  # zarr raises several types for unreadable metadata
            self._damaged(self.path / "zarr.json", f"unreadable token array ({exc})")
        if self.array.shape != (self.length,):
            self._damaged(self.path, f"holds {self.array.shape[0]} tokens, its record says {self.length}")
        self.chunk = int(self.array.chunks[0])
        self.nchunks = math.ceil(self.length / self.chunk)
        for i in range(self.nchunks):  # a record without sizes (an older store) has not checked them
            if not self.chunk_file(i).is_file():
                raise StoreError(f"{self.chunk_file(i)}: chunk missing; {rebuild_hint(self.group)}")
        self._cache: dict[int, np.ndarray] = {}

    def _damaged(self, file: Path, problem: str) -> NoReturn:
        """Note the damage in the group (so the next `mixc run` rebuilds it) and fail, naming both."""
        mark_damaged(self.group, file, problem)
        raise StoreError(f"{file}: {problem}; {self.group} is marked damaged: {rebuild_hint(self.group)}")

    def chunk_file(self, i: int) -> Path:
        return self.path / "c" / str(i)

    def read_chunk(self, i: int) -> np.ndarray:
        """Chunk `i`, decoded (the last one may be short)."""
        if i in self._cache:
            return self._cache[i]
        try:
            data = np.asarray(self.array[i * self.chunk : min((i + 1) * self.chunk, self.length)])
        except Exception as exc:  # codec errors come in several types; all mean a damaged file
            self._damaged(self.chunk_file(i), f"corrupt or truncated chunk ({exc})")
        self._cache = {i: data}  # windows are read in order: one chunk of cache is enough
        return data

    def read(self, start: int, stop: int) -> np.ndarray:
        """Tokens [start, stop), in the store's dtype."""
        out = np.empty(stop - start, dtype=self.array.dtype)
        for i, lo, hi in self._spans(start, stop):
            base = i * self.chunk
            out[lo - start : hi - start] = self.read_chunk(i)[lo - base : hi - base]
        return out

    def _spans(self, start: int, stop: int) -> Iterator[tuple[int, int, int]]:
        if not 0 <= start <= stop <= self.length:
            raise IndexError(f"range [{start}, {stop}) outside {self.path} of {self.length} tokens")
        for i in range(start // self.chunk, math.ceil(stop / self.chunk)):
            yield i, max(start, i * self.chunk), min(stop, (i + 1) * self.chunk)
