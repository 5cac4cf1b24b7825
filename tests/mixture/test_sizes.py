"""How many runs each law needs (compiler/mixture/sizes.py), and `mixc check` saying so (E104)."""

import subprocess
import sys

import numpy as np
import pytest

from mixc.compiler.mixture import sizes
from mixc.compiler.mixture.laws import LAWS, NAMES
from mixc.compiler.pipeline import hooks
from mixc.spec.check import check
from mixc.spec.load import load_bytes
from tests.helpers.paths import ROOT

# law -> (parameters, runs needed) for 2 and for 6 sources
EXPECTED = {
    "linear": ((2, 6), (6, 14)),
    "loglinear": ((3, 8), (7, 16)),
    "powerlaw": ((7, 16), (15, 32)),
    "lightgbm": ((7, 16), (7, 16)),
    "powerlaw_tied": ((6, 14), (10, 22)),
    "gp": ((5, 12), (9, 20)),
    "bimix": ((5, 12), (13, 28)),
    "quadratic": ((3, 8), (21, 44)),
    "auto": ((2, 6), (6, 14)),
}


@pytest.mark.parametrize("name", NAMES)
def test_parameters_and_runs_for_two_and_six_sources(name):
    for d, (p, runs) in zip((2, 6), EXPECTED[name]):
        assert (sizes.parameters(name, d), sizes.runs_needed(name, d)) == (p, runs)


def test_every_law_declares_its_parameters_in_one_place():
    assert set(sizes.PARAMETERS) == set(LAWS) and set(sizes.CANDIDATES) <= set(LAWS)
    assert all(sizes.simplest("auto", d) == "linear" for d in range(1, 50))


@pytest.mark.parametrize("n,folds", [(n, k) for n in range(2, 40) for k in (2, 3, 5)])
def test_smallest_training_fold_is_numpys_split(n, folds):
    parts = np.array_split(np.arange(n), min(folds, n))
    assert sizes.smallest_training_fold(n, min(folds, n)) == n - max(len(p) for p in parts)


def test_two_folds_bind_so_more_folds_keep_the_rule():
    for d in range(1, 12):
        for name in NAMES:
            n = sizes.runs_needed(name, d)
            assert sizes.smallest_training_fold(n - 1, 2) < sizes.train_rows(name, d)
            assert all(sizes.smallest_training_fold(n, k) >= sizes.train_rows(name, d) for k in range(2, n + 1))


SPEC = """experiment six {{
  source a = text("a")
  source b = text("b")
  source c = text("c")
  source d = text("d")
  source e = text("e")
  source f = text("f")
  model m = dense(layers: 2, d_model: 64, heads: 4, seq_len: 128)
  train r {{ model: m, tokens: 1k }}
  search regmix {{
    runs: {runs}
    train: r{law}
  }}
  minimize loss(a)
}}
"""


def _e104(runs: int, law: str | None = None) -> list:
    text = SPEC.format(runs=runs, law=f"\n    law: {law}" if law else "")
    return [d for d in check(load_bytes(text.encode(), "six.mix"), hooks=hooks())[1] if d.code == "E104"]


def test_check_rejects_too_few_runs_at_the_runs_line():
    (d,) = _e104(8, "loglinear")
    assert (d.span.line, d.span.col) == (11, 5)
    assert d.message == ("the loglinear law needs at least 16 runs for 6 sources (2-fold cross-validation with a "
                         "spare degree of freedom: 8 rows per training fold > 7 parameters); the search has 8")
    assert d.help == "raise runs: to 16, or choose a law with fewer parameters (law: linear needs 14)"


def test_check_names_each_law_and_auto_by_its_simplest_candidate():
    (powerlaw,) = _e104(31, "powerlaw")
    assert "at least 32 runs" in powerlaw.message
    assert powerlaw.help.endswith("(law: linear needs 14, law: loglinear needs 16, law: powerlaw_tied needs 22, "
                                  "law: gp needs 20, law: bimix needs 28)")
    (auto,) = _e104(13)
    assert auto.message.startswith("the auto law (its simplest candidate, linear) needs at least 14 runs")
    assert auto.help == "raise runs: to 14"
    assert not _e104(14) and not _e104(16, "loglinear") and not _e104(32, "powerlaw")


def test_the_checker_alone_does_not_judge_runs():
    _, diags = check(load_bytes(SPEC.format(runs=2, law="").encode(), "six.mix"))
    assert not [d for d in diags if d.code == "E104"]


def test_check_decides_it_without_numpy():
    code = (
        "import sys\n"
        "from mixc.compiler.cli import main\n"
        "rc = main(['check', 'tests/spec/golden/E104_too_few_runs.mix'])\n"
        "assert rc == 1 and 'numpy' not in sys.modules, (rc, 'numpy' in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True)
