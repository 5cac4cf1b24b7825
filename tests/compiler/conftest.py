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


@pytest.fixture
def make_spec(tmp_path):
    """Write a small spec (and its two text sources) into tmp_path; returns its path."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    words = "the quick brown fox jumps over the lazy dog and keeps running far away".split()
    for name, shift in (("alpha", 0), ("beta", 3)):
        docs = [" ".join(words[(i + shift) % len(words):] + words[:(i + shift) % len(words)]) * 4 for i in range(40)]
        (data / f"{name}.txt").write_text("\n\n".join(docs) + "\n")

    def make(name="tiny.mix", runs=4, proxy_tokens="2k", final_tokens="4k", alpha="data/alpha.txt", beta="data/beta.txt"):
        path = tmp_path / name
        path.write_text(SPEC.format(runs=runs, proxy_tokens=proxy_tokens, final_tokens=final_tokens,
                                    alpha=alpha, beta=beta))
        return path

    return make
