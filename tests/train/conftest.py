"""Fixtures for the train/eval tests: a byte-level token store of two real example sources
(job builders: tests.helpers.jobs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.jobs import run_job, source, tokenize_job, tokenizer_job
from tests.helpers.paths import EXAMPLES


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    tok = root / "tok"
    assert run_job(root, tokenizer_job(tok, sample_bytes=1024)) == 0
    for name, file in [("legal", "legal/us_founding_docs.txt.gz"), ("literature", "literature/milton.txt.gz")]:
        job = tokenize_job(source(name, EXAMPLES / file), tok, root / "s", holdout=0.1, seed=0)
        assert run_job(root, job, f"{name}.json") == 0
    return {"store": root / "s", "tokenizer": tok}
