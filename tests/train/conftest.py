"""Fixtures for the train/eval tests: a byte-level token store of two real example sources,
and a builder for tiny train job files (models of a few thousand parameters)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mixc.runtime.__main__ import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "data"


def run_job(folder: Path, job: dict, name: str = "job.json") -> int:
    path = folder / name
    path.write_text(json.dumps(job))
    return main([str(path)])


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    tok = root / "tok"
    job = {"schema": 1, "kind": "tokenizer", "type": "byte", "vocab": None, "path": None, "sources": [],
           "sample_bytes": 1024, "seed": 0, "output": str(tok)}
    assert run_job(root, job) == 0
    for name, file in [("legal", "legal/us_founding_docs.txt.gz"), ("literature", "literature/milton.txt.gz")]:
        src = {"name": name, "format": "text", "field": None, "files": [str(EXAMPLES / file)]}
        job = {"schema": 1, "kind": "tokenize", "source": src, "tokenizer": str(tok), "store": str(root / "s"),
               "holdout": 0.1, "seed": 0}
        assert run_job(root, job, f"{name}.json") == 0
    return {"store": root / "s", "tokenizer": tok}


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
           "sources": ["legal", "literature"], "weights": [0.3, 0.7], "weights_file": None,
           "seed": 0, "steps": 12, "batch_size": 4, "micro_batch": 2, "lr": 3e-3, "min_lr": 3e-4,
           "schedule": "cosine", "warmup_steps": 2, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.95,
           "grad_clip": 1.0, "checkpoint_every": 5, "log_every": 4, "eval_sources": ["legal", "literature"],
           "eval_tokens": 256, "device": "cpu", "compile": False, "export": False, "output": str(output)}
    return job | change
