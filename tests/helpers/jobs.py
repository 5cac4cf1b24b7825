"""Runtime job files for the tests: builders for tokenizer, tokenize and tiny train jobs, and runners
(in this process, as `python -m mixc.runtime` would, or as that subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from mixc.runtime.__main__ import main
from tests.helpers.paths import ROOT


def source(name: str, *files: str | Path, fmt: str = "text", field: str | None = None,
           unit: str | None = None) -> dict[str, Any]:
    return {"name": name, "format": fmt, "field": field, "files": [str(f) for f in files], "unit": unit, "cluster": None}


def tokenize_job(src: dict[str, Any], tokenizer: Path, store: Path, holdout: float = 0.1, seed: int = 0) -> dict:
    return {"schema": 1, "kind": "tokenize", "source": src, "tokenizer": str(tokenizer), "store": str(store),
            "holdout": holdout, "seed": seed}


def tokenizer_job(output: Path, type_: str = "byte", vocab: int | None = None, path: str | None = None,
                  sources: list[dict] | None = None, sample_bytes: int = 200_000, seed: int = 0,
                  holdout: float = 0.0) -> dict:
    return {"schema": 1, "kind": "tokenizer", "type": type_, "vocab": vocab, "path": path,
            "sources": sources or [], "sample_bytes": sample_bytes, "seed": seed, "holdout": holdout,
            "output": str(output)}


def write_job(folder: Path, job: dict, name: str = "job.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(job))
    return path


def run_job(folder: Path, job: dict, name: str = "job.json") -> int:
    """Run a job in this process, as `python -m mixc.runtime` would."""
    return main([str(write_job(folder, job, name))])


def run_job_process(job_file: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mixc.runtime", str(job_file)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def model(kind: str = "dense", **change) -> dict:
    shape = {"kind": kind, "layers": 1, "d_model": 16, "heads": 2, "vocab": 257, "seq_len": 16, "kv_heads": 2,
             "ffn_hidden": 32, "experts": 0, "top_k": 0, "shared_expert": False, "rank": 0,
             "tie_embeddings": True}
    if kind != "dense":
        shape |= {"experts": 4, "top_k": 2}
    if kind == "mole":
        shape["rank"] = 8
    return shape | change


def train_job(store: dict[str, Path], output: Path, **change) -> dict:
    job = {"schema": 1, "kind": "train", "model": model(), "rope_theta": 10000.0, "load_balance_coef": 0.01,
           "z_loss_coef": 0.001, "store": str(store["store"]), "tokenizer": str(store["tokenizer"]),
           "sources": ["legal", "literature"], "weights": [0.3, 0.7], "weights_file": None, "control": None,
           "seed": 0, "steps": 12, "batch_size": 4, "micro_batch": 2, "lr": 3e-3, "min_lr": 3e-4,
           "schedule": "cosine", "warmup_steps": 2, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.95,
           "grad_clip": 1.0, "checkpoint_every": 5, "log_every": 4, "eval_sources": ["legal", "literature"],
           "eval_tokens": 256, "eval_seq_len": 16, "device": "cpu", "compile": False, "export": False, "output": str(output)}
    return job | change
