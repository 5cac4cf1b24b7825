"""Helpers for the runtime tests: job-file builders and job runners (imported by the tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from mixc.runtime.__main__ import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "data"


def source(name: str, *files: str | Path, fmt: str = "text", field: str | None = None) -> dict[str, Any]:
    return {"name": name, "format": fmt, "field": field, "files": [str(f) for f in files]}


def tokenize_job(src: dict[str, Any], tokenizer: Path, store: Path, holdout: float = 0.1, seed: int = 0) -> dict:
    return {"schema": 1, "kind": "tokenize", "source": src, "tokenizer": str(tokenizer), "store": str(store),
            "holdout": holdout, "seed": seed}


def tokenizer_job(output: Path, type_: str = "byte", vocab: int | None = None, path: str | None = None,
                  sources: list[dict] | None = None, sample_bytes: int = 200_000, seed: int = 0) -> dict:
    return {"schema": 1, "kind": "tokenizer", "type": type_, "vocab": vocab, "path": path,
            "sources": sources or [], "sample_bytes": sample_bytes, "seed": seed, "output": str(output)}


def write_job(folder: Path, job: dict, name: str = "job.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(job))
    return path


def run_job(folder: Path, job: dict, name: str = "job.json") -> int:
    """Run a job in this process, as `python -m mixc.runtime` would."""
    return main([str(write_job(folder, job, name))])


def run_job_process(job_file: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mixc.runtime", str(job_file)], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
