"""Discovered domains as the checker reads them: `source web = clusters(text(...), k: K)` is K
sources web_0 ... web_{K-1} that weights, constraints and objectives name; what it refuses,
each with its code, place and fix; and the layout `mixc fmt` keeps."""

from __future__ import annotations

import pytest

from mixc.spec.fmt import format_text
from tests.helpers.specs import check_text

SPEC = """experiment c {{
  tokenizer = byte
  source books = text("books/*.txt")
  source web = {web}
{more}  model m = dense(layers: 1, d_model: 32, heads: 2, seq_len: 32)
  train r {{ model: m, tokens: 4k, batch: 4 }}
  search regmix {{ runs: 16, train: r }}
  minimize {objective}
  subject to {{
    {constraint}
  }}
}}
"""
WEB = 'clusters(text("web/*.txt"), k: 3)'


def _check(web: str = WEB, objective: str = "loss(web_0) + loss(books)", constraint: str = "weight(web_2) <= 40%",
           more: str = ""):
    x, diags = check_text(SPEC.format(web=web, objective=objective, constraint=constraint, more=more))
    return x, [(d.code, d.message, d.help, d.span.line) for d in diags]


def test_a_clustered_source_is_k_sources_in_its_place():
    x, diags = _check()
    assert diags == []
    assert [s.name for s in x.sources] == ["books", "web_0", "web_1", "web_2"]
    books, *web = x.sources
    assert books.cluster is None
    assert [(c.cluster.group, c.cluster.index, c.cluster.k) for c in web] == [("web", i, 3) for i in range(3)]
    assert all(c.patterns == ("web/*.txt",) and c.format == "text" for c in web)
    assert {(c.cluster.embedding, c.cluster.sample, c.cluster.seed) for c in web} == {("chars", 10000, 0)}
    assert [t.target for t in x.objective.terms] == ["web_0", "books"]
    assert x.constraints[0].coefs == (("web_2", 1.0),)


def test_keys_and_defaults():
    x, diags = _check(web='clusters(jsonl("web/*.jsonl", field: "body"), k: 2, embedding: words, sample: 500, '
                          'seed: 7)', objective="loss(web_1)", constraint="weight(web_0) <= 40%")
    assert diags == []
    web = x.sources[1:]
    assert [s.name for s in web] == ["web_0", "web_1"] and web[0].field == "body" and web[0].format == "jsonl"
    assert {(s.cluster.embedding, s.cluster.sample, s.cluster.seed) for s in web} == {("words", 500, 7)}


@pytest.mark.parametrize("web, code, words", [
    ('clusters(text("web/*.txt"))', "E023", "k"),
    ('clusters(text("web/*.txt"), k: 1)', "E026", "k"),
    ('clusters(text("web/*.txt"), k: 2.5)', "E024", "k"),
    ('clusters(text("web/*.txt"), k: 3, embedding: bert)', "E021", "chars, words"),
    ('clusters(text("web/*.txt"), k: 3, sample: 2)', "E026", "sample"),
    ('clusters(text("web/*.txt"), k: 3, colour: red)', "E022", "colour"),
    ("clusters(k: 3)", "E023", "source format"),
    ('clusters(clusters(text("web/*.txt"), k: 2), k: 3)', "E024", "not other clusters"),
    ('clusters(csv("web/*.csv"), k: 3)', "E028", "csv"),
])
def test_what_clusters_refuses(web, code, words):
    _, diags = _check(web=web, objective="loss(books)", constraint="weight(books) <= 90%")
    found = [d for d in diags if d[0] == code]
    assert found, diags
    assert words in found[0][1] + (found[0][2] or ""), found[0]
    assert found[0][3] == 4  # at the clustered source's line


def test_the_unsplit_name_is_no_source():
    _, diags = _check(objective="loss(web)")
    [d] = [d for d in diags if d[0] == "E021"]
    assert "split into 3 clusters" in d[1] and d[2] == "web_0 ... web_2" and d[3] == 8


def test_a_generated_name_that_is_taken_is_refused():
    _, diags = _check(more='  source web_1 = text("other/*.txt")\n')
    [d] = [d for d in diags if d[0] == "E020"]
    assert "web_1" in d[1] and d[3] == 5 and "rename" in d[2]


def test_an_evaluation_set_is_not_clustered():
    _, diags = _check(more=f"  eval held = {WEB}\n")
    [d] = [d for d in diags if d[0] == "E028"]
    assert "splits sources only" in d[1] and d[3] == 5


def test_fmt_keeps_a_clustered_source():
    text = SPEC.format(web=WEB, objective="loss(web_0)", constraint="weight(web_2) <= 40%", more="")
    formatted, diags = format_text(text)
    assert diags == [] and f"source web   = {WEB}\n" in formatted  # names aligned, the call as written
    assert format_text(formatted) == (formatted, [])
