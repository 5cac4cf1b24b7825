"""The held-out split: which documents are kept out of training, decided by content alone.

A document is held out when its keyed 64-bit blake2b hash (key: the seed), as a fraction of
2^64, is below `holdout`: it keeps its side when files are added or reordered, and copies of
one document land on the same side. The tokenize job splits by it, and the BPE trainer uses
it to leave held-out documents out of its sample. Pure standard library; reads nothing.
"""

from __future__ import annotations

import hashlib


def in_valid(doc: str, holdout: float, seed: int) -> bool:
    """Whether a document is held out: its keyed 64-bit hash, as a fraction, is below `holdout`."""
    key = seed.to_bytes(16, "little", signed=True)
    digest = hashlib.blake2b(doc.encode("utf-8"), key=key, digest_size=8, person=b"mixc-split").digest()
    return int.from_bytes(digest, "little") < holdout * 2.0**64
