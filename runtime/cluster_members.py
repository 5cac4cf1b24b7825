"""Which documents belong to which discovered domain: the `cluster` job's members file.

A document's cluster is keyed by its text, as the held-out split is (runtime.split): a keyed
64-bit blake2b hash of the unit's split key (runtime.corpus_io.iter_units), so every piece of
a unit, and every copy of a document, lands in the same cluster. The file holds the sorted
keys and each key's cluster. The cluster job writes it (compiler/jobs/cluster.py); the
tokenize job of each cluster reads it to keep that cluster's documents. Numpy and the
standard library only; this module must not embed or cluster anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mixc.jobfile import JobError

MEMBERS = "members.npz"


def unit_key(text: str) -> int:
    """A unit's 64-bit key, from its split key's text."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8, person=b"mixc-cluster").digest()
    return int.from_bytes(digest, "little")


@dataclass(frozen=True)
class Members:
    """Every unit's cluster: `keys` sorted (uint64, distinct), `clusters` beside them (uint16)."""

    keys: np.ndarray
    clusters: np.ndarray
    k: int

    def cluster_of(self, key: int) -> int | None:
        """The key's cluster, or None for a unit the cluster job never saw."""
        i = int(np.searchsorted(self.keys, np.uint64(key)))
        return int(self.clusters[i]) if i < len(self.keys) and int(self.keys[i]) == key else None


def members(keys: Iterable[int], clusters: Iterable[int], k: int) -> Members:
    """Members from each unit's key and cluster (copies of a unit give one entry)."""
    key_array = np.fromiter(keys, dtype=np.uint64)
    cluster_array = np.fromiter(clusters, dtype=np.uint16)
    order = np.argsort(key_array, kind="stable")
    key_array, cluster_array = key_array[order], cluster_array[order]
    keep = np.ones(len(key_array), dtype=bool)
    keep[1:] = key_array[1:] != key_array[:-1]
    return Members(key_array[keep], cluster_array[keep], k)


def write(folder: Path, found: Members) -> None:
    """`<folder>/members.npz` (the folder: the cluster job's, built whole by atomic_directory)."""
    np.savez(folder / MEMBERS, keys=found.keys, clusters=found.clusters, k=np.int64(found.k))


def read(folder: str | Path) -> Members:
    path = Path(folder) / MEMBERS
    try:
        with np.load(path) as data:
            return Members(data["keys"], data["clusters"], int(data["k"]))
    except (OSError, KeyError, ValueError) as exc:
        raise JobError(f"{path}: not a cluster job's members file ({exc}); rerun its cluster job") from None


def in_cluster(units: Iterable[tuple[str, str]], found: Members, index: int, source: str) -> Iterator[tuple[str, str]]:
    """The (split key, document) units of cluster `index`. A unit the cluster job never saw
    means the files changed under it: an error, since the clusters would no longer cover them."""
    last_key, last_cluster = None, None
    for key, doc in units:
        if key != last_key:  # the pieces of one unit arrive together
            last_key, last_cluster = key, found.cluster_of(unit_key(key))
            if last_cluster is None:
                raise JobError(f"source '{source}': a document ({key[:60]!r}...) was not there when its files "
                               "were clustered; the files changed since: run `mixc run` again to recluster them")
        if last_cluster == index:
            yield key, doc
