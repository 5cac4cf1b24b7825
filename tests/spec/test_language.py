"""The language accepts what it should, with the values it should; malformed input gets diagnostics."""

from __future__ import annotations

import pytest

from tests.helpers.specs import check_text


def codes(diags):
    return [d.code for d in diags]


def test_north_star_checks_clean_verbatim(north_star):
    experiment, diags = check_text(north_star, "north_star.mix")
    assert diags == []
    assert experiment.source_names == ("literature", "code", "legal", "dictionary", "email", "docs")
    assert experiment.holdout == pytest.approx(0.02)
    assert experiment.tokenizer.kind == "bpe" and experiment.tokenizer.vocab == 4096
    target = experiment.model("target")
    assert (target.kind, target.experts, target.top_k, target.kv_heads) == ("moe", 8, 2, 4)
    assert experiment.recipe("proxy_run").tokens == 300_000
    assert experiment.recipe("target_run").schedule == "cosine"
    assert experiment.search.runs == 8 and experiment.search.law == "loglinear"
    assert [(t.coef, t.target) for t in experiment.objective.terms] == [(1.0, "literature"), (1.0, "code")]
    weight, epochs = experiment.constraints
    assert (weight.quantity, weight.coefs, weight.op, weight.rhs) == ("weight", (("code", 1.0),), "<=", pytest.approx(0.4))
    assert (epochs.quantity, epochs.rhs) == ("epochs", 2.0)
    assert experiment.final == "target_run"
    assert [b.name for b in experiment.baselines] == ["uniform", "natural"]
    assert experiment.budget.hours == 0.25


SMALL = """experiment s {{
  source a = text("a/*.txt")
  source b = jsonl("b/*.jsonl.gz", field: "body")
  model m = dense(layers: 2, d_model: 64, heads: 4, seq_len: 64)
  train r {{ model: m, tokens: {tokens} }}
  search regmix {{ runs: 4, train: r }}
  minimize {objective}
  subject to {{
    {constraint}
  }}
}}
"""


def small(tokens="1M", objective="loss(a)", constraint="weight(a) <= 50%"):
    return SMALL.format(tokens=tokens, objective=objective, constraint=constraint)


@pytest.mark.parametrize("text,value", [("400k", 400e3), ("4M", 4e6), ("2B", 2e9), ("1T", 1e12), ("2.5M", 2.5e6),
                                        ("1e6", 1e6), ("12000", 12000)])
def test_si_suffixes(text, value):
    experiment, diags = check_text(small(tokens=text))
    assert diags == [] and experiment.recipe("r").tokens == value


def test_jsonl_field_and_defaults():
    experiment, diags = check_text(small())
    assert diags == []
    assert experiment.sources[1].format == "jsonl" and experiment.sources[1].field == "body"
    assert experiment.sources[0].field is None
    assert experiment.seed == 0 and experiment.tokenizer.kind == "byte"
    r = experiment.recipe("r")
    assert (r.batch, r.lr, r.schedule) == (16, 3e-3, "cosine")


@pytest.mark.parametrize("constraint,expected", [
    ("weight(a) <= 2 * weight(b)", ("weight", (("a", 1.0), ("b", -2.0)), "<=", 0.0)),
    ("weight(a) + weight(b) >= 30%", ("weight", (("a", 1.0), ("b", 1.0)), ">=", 0.3)),
    ("0.4 >= weight(a)", ("weight", (("a", -1.0),), ">=", -0.4)),
    ("epochs(b) <= 3", ("epochs", (("b", 1.0),), "<=", 3.0)),
])
def test_constraint_forms(constraint, expected):
    experiment, diags = check_text(small(constraint=constraint))
    assert diags == []
    (c,) = experiment.constraints
    got = (c.quantity, c.coefs, c.op, c.rhs)
    if expected[1] == (("a", -1.0),):  # a single negative term is normalised to a positive one
        expected = ("weight", (("a", 1.0),), "<=", 0.4)
    assert got[:3] == expected[:3] and got[3] == pytest.approx(expected[3])


def test_constraint_chain_becomes_two_bounds():
    experiment, diags = check_text(small(constraint="10% <= weight(a) <= 60%"))
    assert diags == []
    lo, hi = experiment.constraints
    assert (lo.op, lo.rhs) == (">=", pytest.approx(0.1)) and (hi.op, hi.rhs) == ("<=", pytest.approx(0.6))


def test_max_objective_with_kl():
    experiment, diags = check_text(small(objective="max(loss(a), 2 * loss(b)) + 0.1 * kl(natural)"))
    assert diags == []
    o = experiment.objective
    assert o.kind == "max" and [(t.coef, t.target) for t in o.terms] == [(1.0, "a"), (2.0, "b")]
    assert o.kl == pytest.approx(0.1) and o.kl_prior == "natural"


def test_string_escapes():
    experiment, diags = check_text(small().replace('"a/*.txt"', r'"a/\"q\"\\\u00e9*.txt"'))
    assert diags == []
    assert experiment.sources[0].patterns == ('a/"q"\\é*.txt',)


def test_keywords_are_keys_inside_blocks():
    # `train` and `model` are keywords at statement level and keys inside blocks.
    experiment, diags = check_text(small())
    assert diags == [] and experiment.search.recipe == "r"


def test_all_errors_reported_at_once():
    text = small(tokens="10%", constraint="weight(zz) <= 40%").replace("heads: 4", "heads: 3")
    _, diags = check_text(text)
    assert sorted(set(codes(diags))) == ["E021", "E025", "E027"]
    assert {d.span.line for d in diags} == {4, 5, 9}


@pytest.mark.parametrize("data,code", [
    (b"", "E006"),
    (b"   \n\n", "E006"),
    (b"\x00\x01binary\x00", "E005"),
    (b"experiment x {\n  source a = text(\"\xff\xfe\")\n}\n", "E005"),
    (b"experiment x { seed = 1e400 }", "E007"),
    (b"experiment x { train r { model: m, tokens: 99999999999999999999B } }", "E007"),
    (b"experiment x { seed = " + b"(" * 200 + b"1" + b")" * 200 + b" }", "E008"),
    (b"experiment x { source a = text(\"abc) }", "E003"),
    (b"experiment x {\n  source a = text(\"a\")\n", "E004"),
    (b"experiment x { source a = text(\"a\") } }", "E004"),
    (b"experiment x { source a = $(rm -rf /) }", "E002"),
    (b"experiment x { sorce a = text(\"a\") }", "E001"),
    (b"experiment", "E001"),
])
def test_malformed_input_gets_located_diagnostics(data, code):
    experiment, diags = check_text(data)
    assert experiment is None
    assert code in codes(diags)
    for d in diags:
        assert d.span.line >= 1 and d.span.col >= 1


def test_ten_megabyte_file_is_refused_quickly():
    import time

    data = b"experiment x { " + b"seed = 1 " * (10 * 1024 * 1024 // 9) + b"}"
    start = time.perf_counter()
    _, diags = check_text(data)
    assert codes(diags) == ["E009"]
    assert time.perf_counter() - start < 2


def test_unknown_word_suggests_keyword():
    _, diags = check_text('experiment x {\n  sorce a = text("a")\n}')
    assert diags[0].help and "`source`" in diags[0].help


def test_imports_relative_and_cycles(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "common.mix").write_text('import "more.mix"\nmodel m = dense(layers: 1, d_model: 32, heads: 2, seq_len: 32)\n')
    (tmp_path / "lib" / "more.mix").write_text('source a = text("a/*.txt")\n')
    main = tmp_path / "main.mix"
    main.write_text('import "lib/common.mix"\nexperiment e {\n  train r { model: m, tokens: 1k }\n'
                    '  search regmix { runs: 2, train: r }\n  minimize loss(a)\n}\n')
    from mixc.spec.check import check_file

    experiment, diags, _ = check_file(str(main))
    assert diags == [] and experiment.source_names == ("a",) and experiment.models[0].name == "m"

    (tmp_path / "lib" / "more.mix").write_text('import "common.mix"\nsource a = text("a/*.txt")\n')
    experiment, diags, _ = check_file(str(main))
    assert experiment is None and codes(diags) == ["E011"]
    assert diags[0].span.file.endswith("more.mix") and diags[0].span.line == 1

    (tmp_path / "lib" / "more.mix").write_text('import "nowhere.mix"\n')
    _, diags, _ = check_file(str(main))
    assert codes(diags) == ["E010"] and diags[0].span.file.endswith("more.mix")


def test_duplicate_across_import_points_at_both(tmp_path):
    (tmp_path / "lib.mix").write_text('source a = text("x")\n')
    (tmp_path / "main.mix").write_text('import "lib.mix"\nexperiment e {\n  source a = text("y")\n}\n')
    from mixc.spec.check import check_file

    _, diags, _ = check_file(str(tmp_path / "main.mix"))
    (d,) = [d for d in diags if d.code == "E020"]
    assert d.span.file.endswith("main.mix") and d.notes[0].span.file.endswith("lib.mix")


def test_loss_with_a_keyword_argument_is_reported():
    experiment, diags = check_text(small(objective="loss(a, x: 1)"))
    assert experiment is None
    assert [(d.code, d.message) for d in diags] == [("E031", "loss(...) takes one source or evaluation set name")]


VALIDATED = """experiment v {
  replicates = 3
  source a = text("a/*.txt")
  source b = text("b/*.txt")
  model m = dense(layers: 2, d_model: 64, heads: 4, seq_len: 64)
  train r { model: m, tokens: 100k }
  train f { model: m, tokens: 200k }
  search regmix { runs: 16, train: r, law: linear }
  minimize loss(a)
  final f
  baselines uniform, mixture(a: 70%, b: 30%)
  validate natural, mixture(b: 30%, a: 70%), mixture(a: 10%, b: 90%)
}
"""


def test_validate_and_replicates():
    """Validated baselines are baselines too; fixed mixtures are numbered across statements and
    the same mixture written twice (in any order) is one baseline."""
    experiment, diags = check_text(VALIDATED)
    assert diags == [] and experiment.replicates == 3
    assert [b.name for b in experiment.baselines] == ["uniform", "fixed0", "natural", "fixed1"]
    assert [b.name for b in experiment.validate] == ["natural", "fixed0", "fixed1"]
    assert dict(experiment.baselines[3].weights) == {"a": 0.1, "b": 0.9}
    assert check_text(VALIDATED.replace("replicates = 3", "replicates = 0"))[1][0].code == "E026"


def test_text_unit_is_a_choice():
    experiment, diags = check_text(VALIDATED.replace('text("a/*.txt")', 'text("a/*.txt", unit: file)'))
    assert diags == [] and [s.unit for s in experiment.sources] == ["file", "paragraph"]
    assert codes(check_text(VALIDATED.replace('text("a/*.txt")', 'text("a/*.txt", unit: page)'))[1]) == ["E021"]
