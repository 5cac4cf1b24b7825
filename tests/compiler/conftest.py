"""The small experiment the compiler's tests build and run: two text sources, a tiny proxy and target."""

from __future__ import annotations

from pathlib import Path

import pytest

SPEC = """experiment tiny {{
  seed = 1
  tokenizer = byte
  holdout = 10%
  source alpha = text("{alpha}")
  source beta  = text("{beta}")
  model proxy  = dense(layers: 1, d_model: 32, heads: 2, seq_len: 32)
  model target = dense(layers: 2, d_model: 32, heads: 2, seq_len: 32)
  train proxy_run {{ model: proxy, tokens: {proxy_tokens}, batch: 4 }}
  train final_run {{ model: target, tokens: {final_tokens}, batch: 4 }}
  search regmix {{ runs: {runs}, train: proxy_run }}
  minimize loss(alpha) + loss(beta)
  subject to {{
    weight(alpha) <= 80%
  }}
  final final_run
  baselines uniform, natural
}}
"""


def write_data(folder: Path) -> None:
    """The two small text sources the spec reads, in `folder`/data."""
    data = folder / "data"
    data.mkdir(exist_ok=True)
    words = "the quick brown fox jumps over the lazy dog and keeps running far away".split()
    for name, shift in (("alpha", 0), ("beta", 3)):
        docs = [" ".join(words[(i + shift) % len(words):] + words[:(i + shift) % len(words)]) * 4 for i in range(40)]
        (data / f"{name}.txt").write_text("\n\n".join(docs) + "\n")


def write_spec(folder: Path, name: str = "tiny.mix", runs: int = 6, proxy_tokens: str = "2k", final_tokens: str = "4k",
               alpha: str = "data/alpha.txt", beta: str = "data/beta.txt") -> Path:
    """Write the small spec into `folder` (beside its data); returns its path."""
    path = folder / name
    path.write_text(SPEC.format(runs=runs, proxy_tokens=proxy_tokens, final_tokens=final_tokens, alpha=alpha, beta=beta))
    return path


@pytest.fixture
def make_spec(tmp_path):
    """Write a small spec (and its two text sources) into tmp_path; returns its path."""
    write_data(tmp_path)

    def make(name: str = "tiny.mix", **kwargs: object) -> Path:
        return write_spec(tmp_path, name, **kwargs)

    return make
