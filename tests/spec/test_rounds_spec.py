"""Searches in rounds and at several fidelities, as the checker reads them: the keys, their
defaults, what each refuses (with its code, where, and a fix), and the layout `mixc fmt` keeps."""

from __future__ import annotations

import pytest

from mixc.spec.experiment import PROPOSE
from mixc.spec.fmt import format_text
from tests.helpers.specs import check_text

SPEC = """experiment r {{
  tokenizer = byte
  source a = text("a/*.txt")
  source b = text("b/*.txt")
  model small = dense(layers: 1, d_model: 32, heads: 2, seq_len: 32)
  model large = dense(layers: 2, d_model: 64, heads: 2, seq_len: 32)
  train tiny_run {{ model: small, tokens: 2k, batch: 4 }}
  train proxy_run {{ model: large, tokens: 2k, batch: 4 }}
  search regmix {{ {search} }}
  minimize loss(a) + loss(b)
}}
"""
FIDELITIES = "runs: 4, rounds: 3, propose: ei, fidelities: [tiny_run, proxy_run]"


def _search(search: str):
    x, diags = check_text(SPEC.format(search=search))
    return x, [(d.code, d.message, d.help) for d in diags]


def test_rounds_and_fidelities_are_read():
    x, diags = _search(FIDELITIES)
    assert diags == []
    s = x.search
    assert (s.runs, s.rounds, s.propose, s.fidelities) == (4, 3, "ei", ("tiny_run", "proxy_run"))
    assert s.recipe == "proxy_run" and s.proxy_recipes == ("tiny_run", "proxy_run")
    assert s.proxy_runs == 4 * 3 * 2
    assert s.fidelities_span.line == 9


def test_one_shot_defaults_are_one_round_of_the_train_recipe():
    x, diags = _search("runs: 8, train: tiny_run")
    assert [d[0] for d in diags] == ["W001"]  # proxy_run is unused
    s = x.search
    assert (s.rounds, s.propose, s.fidelities, s.proxy_recipes, s.proxy_runs) == (1, "climb", (), ("tiny_run",), 8)


@pytest.mark.parametrize("method", PROPOSE)
def test_every_proposal_method_is_accepted(method):
    x, diags = _search(f"runs: 4, rounds: 2, propose: {method}, train: proxy_run")
    assert x.search.propose == method and [d[0] for d in diags] == ["W001"]


def test_train_may_repeat_the_last_fidelity():
    x, diags = _search("runs: 4, train: proxy_run, fidelities: [tiny_run, proxy_run]")
    assert diags == [] and x.search.recipe == "proxy_run"


@pytest.mark.parametrize("search, code, words", [
    ("runs: 4, train: tiny_run, fidelities: [tiny_run, proxy_run]", "E035", "is not the last of `fidelities`"),
    ("runs: 4", "E023", "needs `train`"),
    ("runs: 4, fidelities: [proxy_run]", "E026", "at least two recipes"),
    ("runs: 4, fidelities: [tiny_run, tiny_run]", "E020", "named twice"),
    ("runs: 4, fidelities: [tiny_run, proxy]", "E021", "unknown train recipe `proxy`"),
    ("runs: 4, fidelities: proxy_run", "E024", "expects a list of names, got a name"),
    ("runs: 4, fidelities: [tiny_run, 3]", "E024", "got a number in the list"),
    ("runs: 1, rounds: 2, train: proxy_run", "E026", "at least 2 runs in its first round"),
    ("runs: 4, rounds: 0, train: proxy_run", "E026", "`rounds` must be >= 1"),
    ("runs: 4, rounds: 2, propose: bayes, train: proxy_run", "E021", "unknown propose `bayes`"),
    ("runs: 4, propose: ei, train: proxy_run", "W003", "`propose` has no effect"),
])
def test_bad_rounds_and_fidelities_are_named(search, code, words):
    x, diags = _search(search)
    found = [d for d in diags if d[0] == code]
    assert found and words in found[0][1], diags
    assert found[0][2] or "must be" in words  # a fix, except for a key's plain range
    assert (x is None) == code.startswith("E")


def test_a_misspelt_train_is_reported_once():
    _, diags = _search("runs: 4, trian: proxy_run")
    assert [d[0] for d in diags if d[0].startswith("E")] == ["E022"]


def test_aioli_keeps_its_own_rounds():
    x, diags = check_text(SPEC.format(search="").replace("search regmix {  }", "search aioli { proxy: tiny_run, "
                                                         "rounds: 3 }").replace("  minimize loss(a) + loss(b)\n", ""))
    assert x is not None, diags
    assert x.search.online.rounds == 3 and x.search.rounds == 1 and x.search.fidelities == ()


def test_fmt_keeps_rounds_and_fidelities():
    text = SPEC.format(search=FIDELITIES)
    once, diags = format_text(text, "r.mix")
    assert diags == [] and "fidelities: [tiny_run, proxy_run]" in once and "rounds: 3" in once
    assert format_text(once, "r.mix")[0] == once
    x, _ = check_text(once)
    assert x.search.fidelities == ("tiny_run", "proxy_run") and x.search.rounds == 3
