"""Job kind `tokenize`: one source's files -> its group in a zarr token store.

Documents stream from the files (runtime.corpus_io), are tokenized in batches, get an
end-of-text id appended, and go to `train` or `valid` by a keyed hash of the document's text:
a document keeps its split when files are added or reordered, and copies of a document land
on the same side. Batches are encoded on worker threads (OMP_NUM_THREADS of them, else one a
core) while this thread reads the next ones and writes the finished ones, in input order:
the store does not depend on the thread count. A discovered domain (a source whose `cluster`
is set) keeps the documents its cluster job put in its cluster (runtime.cluster_members).
`MIXC_BPE_ENCODER=hf` encodes with `tokenizers` even where runtime.fast_bpe reproduces it
(to compare the two).
Memory is bounded by the batches in flight and one store chunk per split, whatever the input size.
This module must not train tokenizers or sample batches.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np

from mixc.jobfile import JobError
from mixc.jobs import TokenizeJob
from mixc.runtime import cluster_members
from mixc.runtime.corpus_io import ReadStats, expand_files, iter_units
from mixc.runtime.split import in_valid
from mixc.runtime.store import SourceWriter
from mixc.runtime.tokenizer import LoadedTokenizer, encode_batch
from mixc.runtime.tokenizer import load as load_tokenizer

# Text per encode_batch call: enough to keep the cores busy, small because the encodings of a
# batch cost ~40x its text in memory while they exist (4 MiB batches peaked ~170 MiB higher).
BATCH_BYTES = 1 << 20


def run(job: TokenizeJob) -> None:
    """Tokenize the source and write its store group atomically; errors name file and place."""
    tok = load_tokenizer(job.tokenizer, fast=os.environ.get("MIXC_BPE_ENCODER", "auto") != "hf")
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
    units = iter_units(job.source, stats)
    cluster = job.source.cluster
    if cluster is not None:
        record["cluster"] = {"folder": str(Path(cluster.folder).resolve()), "index": cluster.index}
        units = cluster_members.in_cluster(units, cluster_members.read(cluster.folder), cluster.index, job.source.name)
    kept = 0  # documents written: all of them, or a cluster's
    with SourceWriter(job.store, job.source.name, tok.dtype, record) as writer:
        for batch, encoded in _encoded(tok, _batches(units), _threads()):
            for (key, _), ids in zip(batch, encoded):
                writer.add("valid" if in_valid(key, job.holdout, job.seed) else "train", ids)
            kept += len(batch)
        if kept == 0:
            where = f" in cluster {cluster.index}" if cluster is not None and stats.documents else ""
            raise JobError(f"source '{job.source.name}': no documents{where} in {len(files)} file(s) "
                           f"({', '.join(job.source.files)})")
        writer.record["read"] = asdict(stats) | {"kept": kept}
    if stats.skipped_empty:
        print(f"source '{job.source.name}': skipped {stats.skipped_empty} empty document(s)")
    encoder = "runtime.fast_bpe" if tok.fast is not None else f"tokenizers ({tok.fast_refused})"
    print(f"source '{job.source.name}': encoded with {encoder}")
    of = f" (cluster {cluster.index} of {stats.documents})" if cluster is not None else ""
    print(f"source '{job.source.name}': {kept} documents{of}, {stats.bytes} bytes from "
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


def _threads() -> int:
    """The threads this job may use: what the workflow gave it (OMP_NUM_THREADS), else every core."""
    try:  # OpenMP also allows a list per nesting level, "4,2": the first is this level's
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "").split(",")[0]))
    except ValueError:
        return os.cpu_count() or 1


def _encoded(tok: LoadedTokenizer, batches: Iterator[list[tuple[str, str]]],
             threads: int) -> Iterator[tuple[list[tuple[str, str]], list[np.ndarray]]]:
    """(batch, its documents' ids) in input order, `threads` batches encoding at a time while
    the caller reads and writes; at most `threads + 1` batches are held."""
    with ThreadPoolExecutor(threads) as pool:
        pending: deque[tuple[list[tuple[str, str]], Future[list[np.ndarray]]]] = deque()
        for units in batches:
            pending.append((units, pool.submit(encode_batch, tok, [doc for _, doc in units])))
            if len(pending) > threads:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
