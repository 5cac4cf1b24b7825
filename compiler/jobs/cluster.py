"""Job kind `cluster`: one source's documents split into k discovered domains.

Two passes over the files (runtime.corpus_io): the first draws a seeded sample of `sample`
distinct units, on which compiler.clusters fits the embedding and k-means; the second
assigns every unit, batch by batch, so memory depends on the sample, not on the source.
Writes `members.npz` (each unit's cluster by its key: runtime.cluster_members, which the
tokenize job of each cluster reads) and `clusters.json` (each cluster's name, size and the
opening lines of the sampled documents nearest its centre, for the report). Same files, k,
embedding and seed: the same clusters. This module must not tokenize anything.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mixc.jobfile import JobError
from mixc.jobs import ClusterJob

EXAMPLES = 3  # documents shown for each cluster
EXAMPLE_CHARS = 120  # of each, its first non-blank line


def _units(job: ClusterJob) -> Iterator[tuple[int, str, int]]:
    """(key, split key's text, bytes of the unit so far) for each unit's first piece; later
    pieces of a unit (unit: file) add their bytes to it under the same key."""
    from mixc.runtime.cluster_members import unit_key
    from mixc.runtime.corpus_io import iter_units

    last = None
    for key, doc in iter_units(job.source):
        yield (unit_key(key), key, len(doc.encode("utf-8"))) if key != last else (-1, "", len(doc.encode("utf-8")))
        last = key


def _sample(job: ClusterJob) -> tuple[list[str], int]:
    """A seeded reservoir sample (Vitter's algorithm R) of distinct units' texts, and the units seen."""
    rng = random.Random(job.seed)
    seen: set[int] = set()
    sample: list[str] = []
    for key, text, _ in _units(job):
        if key < 0 or key in seen:
            continue
        seen.add(key)
        if len(sample) < job.sample:
            sample.append(text)
        else:
            j = rng.randrange(len(seen))
            if j < job.sample:
                sample[j] = text
    return sample, len(seen)


def _examples(sample: list[str], distances: np.ndarray) -> list[list[str]]:
    """Each cluster's sampled documents nearest its centre (`distances`: the sample's to each
    centre, (n, k)): their first non-blank lines."""
    labels = distances.argmin(axis=1)  # as Clustering.assign
    out = []
    for c in range(distances.shape[1]):
        members = np.flatnonzero(labels == c)
        nearest = members[np.argsort(distances[members, c], kind="stable")][:EXAMPLES]
        out.append([_first_line(sample[i]) for i in nearest])
    return out


def _first_line(text: str) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= EXAMPLE_CHARS else line[:EXAMPLE_CHARS - 3] + "..."


def run(job: ClusterJob) -> None:
    from mixc import atomic
    from mixc.compiler import clusters
    from mixc.runtime import cluster_members

    k, name = len(job.names), job.source.name
    sample, units = _sample(job)
    print(f"cluster '{name}': {units} distinct documents, fitting {job.embedding} embeddings and k-means "
          f"(k = {k}) on {len(sample)} of them", flush=True)
    try:
        fitted = clusters.fit(sample, k, job.seed, job.embedding)
    except ValueError as exc:
        raise JobError(f"source '{name}': cannot split into {k} clusters: {exc}; lower k") from None
    keys: list[int] = []  # each distinct unit's, in the order first seen
    texts: list[str] = []  # the batch of distinct units waiting to be assigned
    labels: list[np.ndarray] = []
    position: dict[int, int] = {}  # a distinct unit's key -> its index in `keys`
    pieces, piece_bytes, firsts = array("q"), array("q"), array("b")  # every piece: its unit, bytes, first?
    for key, text, size in _units(job):
        if key >= 0:
            current = position.get(key)
            if current is None:  # copies of a unit share its cluster
                current = position[key] = len(keys)
                keys.append(key)
                texts.append(text)
                if len(texts) >= clusters.BATCH:
                    labels.append(fitted.assign(texts))
                    texts.clear()
        pieces.append(current)
        piece_bytes.append(size)
        firsts.append(key >= 0)
    if texts:
        labels.append(fitted.assign(texts))
    assigned = np.concatenate(labels)
    of_piece = assigned[np.frombuffer(pieces, dtype=np.int64)]
    sizes = np.stack([np.bincount(of_piece[np.frombuffer(firsts, dtype=np.int8) == 1], minlength=k),
                      np.bincount(of_piece, weights=np.frombuffer(piece_bytes, dtype=np.int64), minlength=k)],
                     axis=1).astype(np.int64)
    empty = [job.names[c] for c in range(k) if sizes[c, 0] == 0]
    if empty:
        raise JobError(f"source '{name}': cluster(s) {', '.join(empty)} hold no documents; lower k")
    examples = _examples(sample, fitted.distances_to(sample))
    summary = {
        "source": name, "k": k, "embedding": job.embedding, "seed": job.seed, "sample": len(sample),
        "documents": int(sizes[:, 0].sum()),
        "clusters": [{"name": job.names[c], "documents": int(sizes[c, 0]), "bytes": int(sizes[c, 1]),
                      "examples": examples[c]} for c in range(k)],
    }
    with atomic.atomic_directory(job.output) as tmp:
        cluster_members.write(Path(tmp), cluster_members.members(keys, assigned, k))
        atomic.write_json(Path(tmp) / "clusters.json", summary)
    for c in summary["clusters"]:
        example = f"; e.g. {c['examples'][0]!r}" if c["examples"] else ""
        print(f"cluster '{c['name']}': {c['documents']} documents, {c['bytes'] / 1e6:.2f} MB{example}")
