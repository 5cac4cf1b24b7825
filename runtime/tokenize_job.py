"""Job kind `tokenize`: one source's files -> its group in a zarr token store.

Documents stream from the files (runtime.corpus_io), are tokenized in batches (the
`tokenizers` library spreads a batch over the cores), get an end-of-text id appended, and
go to `train` or `valid` by a keyed hash of the document's text: a document keeps its split
when files are added or reordered, and copies of a document land on the same side.
Memory is bounded by the batch size and one store chunk per split, whatever the input size.
This module must not train tokenizers or sample batches.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Iterator

from mixc.jobfile import JobError
from mixc.jobs import TokenizeJob
from mixc.runtime.corpus_io import ReadStats, expand_files, iter_units
from mixc.runtime.split import in_valid
from mixc.runtime.store import SourceWriter
from mixc.runtime.tokenizer import encode_batch
from mixc.runtime.tokenizer import load as load_tokenizer

# Text per encode_batch call: enough to keep the cores busy, small because the encodings of a
# batch cost ~40x its text in memory while they exist (4 MiB batches peaked ~170 MiB higher).
BATCH_BYTES = 1 << 20


def run(job: TokenizeJob) -> None:
    """Tokenize the source and write its store group atomically; errors name file and place."""
    tok = load_tokenizer(job.tokenizer)
    files = expand_files(job.source)
    stats = ReadStats()
    record = {
        "tokenizer": {"path": str(Path(job.tokenizer).resolve()), "vocab_size": tok.vocab_size,
                      "eos_id": tok.eos_id, "sha256": tok.sha256},
        "holdout": job.holdout,
        "seed": job.seed,
        "format": job.source.format,
        "field": job.source.field,
        "files": [str(f) for f in files],
    }
    with SourceWriter(job.store, job.source.name, tok.dtype, record) as writer:
        for units in _batches(iter_units(job.source, stats)):
            docs = [doc for _, doc in units]
            for (key, _), ids in zip(units, encode_batch(tok, docs)):
                writer.add("valid" if in_valid(key, job.holdout, job.seed) else "train", ids)
        if stats.documents == 0:
            raise JobError(f"source '{job.source.name}': no documents in {len(files)} file(s) "
                           f"({', '.join(job.source.files)})")
        writer.record["read"] = asdict(stats)
    if stats.skipped_empty:
        print(f"source '{job.source.name}': skipped {stats.skipped_empty} empty document(s)")
    print(f"source '{job.source.name}': {stats.documents} documents, {stats.bytes} bytes from "
          f"{stats.files} file(s) -> {job.store}/{job.source.name}")


def _batches(units: Iterator[tuple[str, str]]) -> Iterator[list[tuple[str, str]]]:
    batch: list[tuple[str, str]] = []
    size = 0
    for unit in units:
        batch.append(unit)
        size += len(unit[1])
        if size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch
