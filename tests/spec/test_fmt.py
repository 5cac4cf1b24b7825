"""`mixc fmt`: one canonical layout, idempotent, comments kept; --check and stdin."""

from __future__ import annotations

import io
import re
import sys

import pytest

from mixc.compiler.cli import main
from mixc.spec.fmt import format_text
from mixc.spec.parse import parse
from tests.helpers.paths import ROOT

EXAMPLES = sorted(p for p in ROOT.glob("examples/**/*.mix")) + [ROOT / "tests/spec/data/north_star.mix"]


def _strip_spans(module):
    # Compare trees without positions: formatting may move things, never change them.
    return re.sub(r"span=Span\([^)]*\)", "", repr(module.items))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_idempotent_and_meaning_preserving(path):
    text = path.read_text()
    once, diags = format_text(text, str(path))
    assert diags == []
    twice, _ = format_text(once, str(path))
    assert once == twice
    assert _strip_spans(parse(text, "x")[0]) == _strip_spans(parse(once, "x")[0])
    comments = [line.split("#", 1)[1].strip() for line in text.splitlines() if "#" in line and '"' not in line]
    assert comments and all(any(c in line for line in once.splitlines()) for c in comments)


def test_examples_are_already_canonical():
    for path in EXAMPLES:
        if "tests" not in path.parts:
            assert main(["fmt", "--check", str(path)]) == 0, path


MESSY = """# head comment
experiment   x{seed=1
  # about sources
  source a=text( "a" )   # trailing
  source long_name=text("b")


  model m=dense(layers:2,d_model:64,heads:4,seq_len:64)
  train r{model:m,tokens:1k}
  search regmix{runs:2
    train:r}
  minimize 2*loss(a)+loss(long_name)-(loss(a)-loss(a))
  subject to{weight(a)<=40% , epochs(a)<=2}
  baselines uniform,natural
}
# tail comment
"""

CANONICAL = """# head comment
experiment x {
  seed = 1
  # about sources
  source a         = text("a")  # trailing
  source long_name = text("b")

  model m = dense(layers: 2, d_model: 64, heads: 4, seq_len: 64)
  train r { model: m, tokens: 1k }
  search regmix {
    runs: 2
    train: r
  }
  minimize 2 * loss(a) + loss(long_name) - (loss(a) - loss(a))
  subject to {
    weight(a) <= 40%
    epochs(a) <= 2
  }
  baselines uniform, natural
}
# tail comment
"""


def test_canonical_layout():
    out, diags = format_text(MESSY)
    assert diags == []
    assert out == CANONICAL
    assert format_text(out)[0] == out


def test_check_flag_and_in_place(tmp_path, capsys):
    f = tmp_path / "a.mix"
    f.write_text(MESSY)
    assert main(["fmt", "--check", str(f)]) == 1
    assert f.read_text() == MESSY  # --check writes nothing
    assert main(["fmt", str(f)]) == 0
    assert f.read_text() == CANONICAL
    assert main(["fmt", "--check", str(f)]) == 0
    assert not [p for p in tmp_path.iterdir() if p.name != "a.mix"]  # no temp files left


def test_stdin_to_stdout(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(MESSY.encode())))
    assert main(["fmt", "-"]) == 0
    assert capsys.readouterr().out == CANONICAL


def test_unparsable_file_is_left_untouched(tmp_path, capsys):
    f = tmp_path / "bad.mix"
    f.write_text("experiment x { source = }\n")
    assert main(["fmt", str(f)]) == 1
    assert f.read_text() == "experiment x { source = }\n"
    assert "error[E001]" in capsys.readouterr().err
