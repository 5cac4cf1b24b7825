"""Streaming documents out of a source's files (.txt / .jsonl, gzipped or not).

Text files: documents are separated by one or more blank (whitespace-only) lines.
JSONL files: one JSON object per line; the document is its string field `field`; blank
lines and empty strings are skipped (and counted).

Policy for bytes that are not UTF-8: the job stops with an error naming the file and the
byte offset (in the decompressed stream), because silently dropping text changes the data
a mixture is measured on. Gzip is recognised by its magic bytes, not the file name.

Memory stays bounded: lines are read at most `MAX_LINE_BYTES` at a time and a text
document longer than `MAX_DOC_BYTES` is cut at a line boundary into several documents.
(A JSONL line is necessarily parsed whole.) This module must not tokenize or write anything.
"""

from __future__ import annotations

import codecs
import glob
import gzip
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from mixc.jobfile import JobError
from mixc.jobs import SourceSpec

MAX_LINE_BYTES = 1 << 20
MAX_DOC_BYTES = 1 << 20


@dataclass
class ReadStats:
    """What reading a source saw; filled in while documents stream past."""

    files: int = 0
    bytes: int = 0  # decompressed bytes read
    documents: int = 0
    skipped_empty: int = 0


def expand_files(spec: SourceSpec) -> list[Path]:
    """The source's files, pattern by pattern, each pattern's matches sorted; no duplicates.

    A pattern that matches nothing is an error: a typo must not silently shrink a source.
    """
    seen: dict[Path, None] = {}
    for pattern in spec.files:
        matches = sorted(p for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
        if not matches:
            raise JobError(f"source '{spec.name}': pattern {pattern!r} matches no files")
        seen.update((Path(m), None) for m in matches)
    return list(seen)


def iter_documents(spec: SourceSpec, stats: ReadStats | None = None) -> Iterator[str]:
    """Every document of the source, file after file, in a stable order."""
    return (doc for _, doc in iter_units(spec, stats))


def iter_units(spec: SourceSpec, stats: ReadStats | None = None) -> Iterator[tuple[str, str]]:
    """(split key, document) for every document: the held-out split is decided on the key, so
    all pieces of one unit land on one side. With `unit: "file"` a text file is one unit
    (its key: its first piece, at most MAX_DOC_BYTES); otherwise each document is its own."""
    stats = stats if stats is not None else ReadStats()
    for path in expand_files(spec):
        stats.files += 1
        if spec.format == "jsonl":
            assert spec.field is not None  # SourceSpec guarantees it for jsonl
            yield from ((doc, doc) for doc in _jsonl_documents(path, spec.field, stats))
        elif spec.unit == "file":
            pieces = _text_documents(path, stats, whole_file=True)
            key = next(pieces, None)
            if key is not None:
                yield key, key
                yield from ((key, piece) for piece in pieces)
        else:
            yield from ((doc, doc) for doc in _text_documents(path, stats, whole_file=False))


def _open(path: Path) -> BinaryIO:
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise JobError(f"{path}: cannot open: {exc.strerror}") from None
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    raw.seek(0)
    return raw


def _lines(path: Path, stats: ReadStats) -> Iterator[tuple[int, bytes]]:
    """(offset of the line in the decompressed stream, line bytes), at most MAX_LINE_BYTES each."""
    offset = 0
    with _open(path) as f:
        while True:
            try:
                line = f.readline(MAX_LINE_BYTES)
            except (OSError, EOFError, zlib.error) as exc:
                raise JobError(f"{path}: unreadable after byte {offset} (decompressed): {exc}") from None
            if not line:
                return
            yield offset, line
            offset += len(line)
            stats.bytes += len(line)


def _utf8_error(path: Path, offset: int, exc: UnicodeDecodeError) -> JobError:
    bad = exc.object[exc.start : exc.start + 4]
    return JobError(f"{path}: not UTF-8 at byte {offset} (decompressed stream): bytes {bad!r}; "
                    "convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)")


def _text_documents(path: Path, stats: ReadStats, whole_file: bool) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    parts: list[str] = []
    size = end = 0
    at_line_start = True  # False while a line longer than MAX_LINE_BYTES arrives in pieces
    for offset, line in _lines(path, stats):
        pending = len(decoder.getstate()[0])  # bytes of a character cut by the line cap
        try:
            text = decoder.decode(line)
        except UnicodeDecodeError as exc:
            raise _utf8_error(path, offset - pending + exc.start, exc) from None
        end = offset + len(line)
        whole_line, at_line_start = at_line_start, line.endswith(b"\n")
        if whole_line and at_line_start and not text.strip() and not whole_file:  # a blank line ends a document
            if parts:
                stats.documents += 1
                yield _join(parts)
                parts, size = [], 0
            continue
        parts.append(text)
        size += len(line)
        if size >= MAX_DOC_BYTES and at_line_start:
            stats.documents += 1
            yield _join(parts)
            parts, size = [], 0
    try:
        parts.append(decoder.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        raise _utf8_error(path, end - len(exc.object) + exc.start, exc) from None
    if "".join(parts).strip():
        stats.documents += 1
        yield _join(parts)


def _join(parts: list[str]) -> str:
    return "".join(parts).removesuffix("\n").removesuffix("\r")


def _jsonl_documents(path: Path, field: str, stats: ReadStats) -> Iterator[str]:
    for line_no, (offset, raw) in enumerate(_whole_lines(path, stats), start=1):
        doc = _jsonl_document(path, line_no, offset, raw, field)
        if doc is None:
            continue
        if not doc:
            stats.skipped_empty += 1
            continue
        stats.documents += 1
        yield doc


def _whole_lines(path: Path, stats: ReadStats) -> Iterator[tuple[int, bytes]]:
    """Lines joined back from the capped pieces `_lines` reads (JSON needs a whole line)."""
    pieces: list[bytes] = []
    start = 0
    for offset, piece in _lines(path, stats):
        if not pieces:
            start = offset
        pieces.append(piece)
        if piece.endswith(b"\n"):
            yield start, b"".join(pieces)
            pieces = []
    if pieces:
        yield start, b"".join(pieces)


def _jsonl_document(path: Path, line_no: int, offset: int, raw: bytes, field: str) -> str | None:
    """The document on one JSONL line; None for a blank line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _utf8_error(path, offset + exc.start, exc) from None
    if not text.strip():
        return None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JobError(f"{path}:{line_no}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if not isinstance(record, dict):
        raise JobError(f"{path}:{line_no}: expected a JSON object, got {type(record).__name__}")
    if field not in record:
        raise JobError(f"{path}:{line_no}: no field {field!r} (fields: {', '.join(list(record)[:8])})")
    doc = record[field]
    if not isinstance(doc, str):
        raise JobError(f"{path}:{line_no}: field {field!r} must be a string, got {type(doc).__name__}")
    return doc
