"""Mixtures that change over training: `phases` in a recipe, `search doremi` and `search aioli`,
read with their defaults; every misuse a located diagnostic; the layout `fmt` gives them."""

from __future__ import annotations

import pytest

from mixc.compiler.search_rules import search_diagnostics
from mixc.spec.fmt import format_text
from tests.helpers.specs import check_text

HEAD = """experiment s {{
  source a = text("a/*.txt")
  source b = text("b/*.txt")
  model m = dense(layers: 1, d_model: 32, heads: 2, seq_len: 32)
  model long = dense(layers: 1, d_model: 32, heads: 2, seq_len: 64)
  train ref {{ model: m, tokens: 64k }}
  train prox {{ model: m, tokens: 64k }}
  train big {{ model: long, tokens: 128k{phases} }}
  {search}
  final big
  {rest}
}}
"""
DOREMI = "search doremi { reference: ref, proxy: prox }"


def spec(search: str = DOREMI, phases: str = "", rest: str = "") -> str:
    return HEAD.format(search=search, phases=phases and f", {phases}", rest=rest)


def errors(diags) -> list:
    return [d for d in diags if d.severity == "error"]


def codes(diags) -> list[str]:
    return [d.code for d in errors(diags)]


def test_doremi_reads_with_the_papers_defaults():
    x, diags = check_text(spec())
    assert codes(diags) == []
    s = x.search
    assert (s.method, s.recipe, s.prior, s.runs) == ("doremi", "prox", "uniform", 0)
    assert (s.online.reference, s.online.apply, s.online.step_size, s.online.smoothing) == ("ref", "weights", 1.0, 1e-3)
    assert x.objective is None


def test_aioli_reads_its_parameters():
    x, diags = check_text(spec("search aioli { proxy: prox, rounds: 3, sweeps: 2, learn_fraction: 30%, step_size: 0.5 }"))
    assert codes(diags) == []
    o = x.search.online
    assert (o.reference, o.apply, o.rounds, o.sweeps, o.learn_fraction, o.step_size) == (None, "online", 3, 2, 0.3, 0.5)
    assert search_diagnostics(x) == []


def test_phases_read_in_order_with_their_mixtures():
    x, diags = check_text(spec(phases="phases { 0%: chosen, 50%: natural, 80%: mixture(a: 25%, b: 75%) }"))
    assert codes(diags) == []
    phases = x.recipe("big").phases
    assert [(p.start, p.mixture) for p in phases] == [(0.0, "chosen"), (0.5, "natural"), (0.8, "fixed")]
    assert phases[2].weights == (("a", 0.25), ("b", 0.75))


@pytest.mark.parametrize("search, code, where", [
    ("search doremi { reference: ref, proxy: prox, stepsize: 2 }", "E022", "stepsize"),
    ("search doremi { reference: ref, proxy: prox, smoothing: 100% }", "E026", "100%"),
    ("search doremi { reference: nothing, proxy: prox }", "E021", "nothing"),
    ("search doremi { proxy: prox }", "E023", "search doremi"),
    ("search aioli { proxy: prox, rounds: 0 }", "E026", "0"),
    ("search aioli { proxy: prox, apply: later }", "E021", "later"),
    ("search aioli { proxy: prox, phases { 0%: natural } }", "E022", "phases"),
])
def test_search_parameters_are_checked_where_written(search, code, where):
    text = spec(search)
    _, diags = check_text(text)
    assert codes(diags) == [code]
    d = next(d for d in diags if d.code == code)
    line = text.split("\n")[d.span.line - 1]
    assert line[d.span.col - 1:].startswith(where)


@pytest.mark.parametrize("phases, code", [
    ("phases { 10%: natural }", "E026"),  # the first phase starts at 0%
    ("phases { 0%: natural, 50%: uniform, 40%: chosen }", "E026"),  # starts rise
    ("phases { 0%: natural, 100%: uniform }", "E026"),
    ("phases { 0%: natrual }", "E021"),
    ("phases { 0%: 3 }", "E024"),
    ("phases { 0%: mixture(a: 60%, b: 60%) }", "E026"),
    ("phases { 0%: natural, 20k: uniform }", "E025"),
    ("phases { }", "E023"),
    ("phases { 0%: natural }, phases { 0%: uniform }", "E020"),
])
def test_bad_phases_are_located_diagnostics(phases, code):
    _, diags = check_text(spec(phases=phases))
    assert codes(diags) == [code]


def test_online_searches_take_no_objective_constraints_or_phases_on_their_own_runs():
    _, diags = check_text(spec(rest="minimize loss(a)\n  subject to { weight(a) <= 50% }"))
    assert codes(diags) == ["E034", "E034"]
    _, diags = check_text(spec("search aioli { proxy: prox }", phases="phases { 0%: chosen, 80%: uniform }"))
    assert codes(diags) == ["E034"] and "apply: online" in errors(diags)[0].message
    text = spec().replace("train prox { model: m, tokens: 64k }", "train prox { model: m, tokens: 64k, phases { 0%: uniform } }")
    _, diags = check_text(text)
    assert codes(diags) == ["E034"] and "own recipe" in errors(diags)[0].message


def test_online_doremi_final_runs_in_one_process():
    text = spec("search doremi { reference: ref, proxy: prox, apply: online }",
                rest="budget { device: h100, gpus: 8, hours: 1 }")
    _, diags = check_text(text)
    assert codes(diags) == ["E034"] and "one process" in errors(diags)[0].message
    _, diags = check_text(text.replace("apply: online", "apply: weights"))
    assert codes(diags) == []


def test_doremi_reference_must_score_the_proxys_windows():
    _, diags = check_text(spec("search doremi { reference: ref, proxy: big }").replace("final big", "final prox"))
    assert codes(diags) == ["E026"] and "seq_len 32" in errors(diags)[0].message


def test_chosen_phase_needs_a_search():
    text = spec(phases="phases { 0%: chosen }").replace(DOREMI, "").replace("final big", "")
    _, diags = check_text(text)
    assert "E030" in codes(diags)


def test_aioli_rounds_must_hold_their_probes():
    x, diags = check_text(spec("search aioli { proxy: prox, rounds: 40, sweeps: 4 }"))
    assert codes(diags) == []
    found = search_diagnostics(x)
    assert [d.code for d in found] == ["E026", "E026"]  # the proxy's run and the online final run
    assert "train prox has 125 steps" in found[0].message


def test_fmt_lays_out_phases_and_keeps_one_liners():
    text = spec(phases="phases {0%: chosen,80%:  mixture(a: 50%, b: 50%)}")
    out, diags = format_text(text)
    assert diags == [] and "phases { 0%: chosen, 80%: mixture(a: 50%, b: 50%) }" in out
    nested = "experiment s {\n  train t {\n    tokens: 1k\n    phases {\n      0%: natural  # warm\n      90%: uniform\n    }\n  }\n}\n"
    assert format_text(nested)[0] == nested
    assert format_text(out)[0] == out
