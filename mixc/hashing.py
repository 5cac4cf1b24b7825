"""Content hashes of jobs: the hash of a job's resolved config and of its inputs' hashes.

A job's outputs live under `<kind>/<name>-<hash8>/`, so an unchanged job keeps its folder
(and is not rerun) while any change to it or to anything upstream gives a new one.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def job_digest(kind: str, config: Any, inputs: Iterable[str]) -> str:
    """sha256 over the kind, the config and the digests of the jobs it reads from."""
    payload = canonical_json({"kind": kind, "config": config, "inputs": sorted(inputs)})
    return hashlib.sha256(payload.encode()).hexdigest()
