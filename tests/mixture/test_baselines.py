"""Baselines inside the constraints: the KL-closest allowed mixture (checked against closed forms
and a brute-force search), the exact test of a fixed mixture, and E106 without numpy."""

import subprocess
import sys

import numpy as np
import pytest

from mixc.compiler.mixture.constraints import Constraint, bound, group_sum, ratio, violated
from mixc.compiler.mixture.design import nearest
from mixc.compiler.mixture.polytope import Polytope
from tests.helpers.paths import ROOT
from tests.helpers.specs import check_text


def _kl(w: np.ndarray, p: np.ndarray) -> np.ndarray:
    """KL(w || p) row-wise, 0 log 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sum(np.where(w > 0, w * np.log(w / p), 0.0), axis=-1)


def test_an_allowed_mixture_is_not_moved():
    poly = Polytope(("a", "b", "c"), (*bound("t.mix:3", "a", hi=0.4),))
    got = nearest(poly, np.array([0.4, 0.35, 0.25]))  # exactly on the bound: allowed
    assert not got.moved and got.kl == 0 and got.binding == () and np.array_equal(got.weights, [0.4, 0.35, 0.25])


def test_a_capped_share_moves_to_the_cap_and_the_rest_scale_in_proportion():
    # min KL(w || p) with w_a <= c: w_a = c, w_j = p_j (1 - c) / (1 - p_a) (Lagrange, one active bound).
    p = np.array([0.7, 0.2, 0.1])
    got = nearest(Polytope(("a", "b", "c"), (*bound("t.mix:3", "a", hi=0.4),)), p)
    want = np.array([0.4, 0.2 * 0.6 / 0.3, 0.1 * 0.6 / 0.3])
    assert got.moved and got.binding == ("t.mix:3",)
    assert np.allclose(got.weights, want, atol=1e-5) and got.kl == pytest.approx(_kl(want, p), abs=1e-6)
    assert np.allclose(got.wanted, p, rtol=0, atol=1e-15)


def test_the_closest_point_beats_a_dense_grid_of_allowed_mixtures():
    sources = ("a", "b", "c")
    poly = Polytope(sources, (*bound("t.mix:3", "a", hi=0.3), ratio("t.mix:4", "b", "c", 1.0, "<="),
                              group_sum("t.mix:5", ["a", "c"], ">=", 0.5)))
    p = np.array([0.6, 0.3, 0.1])
    got = nearest(poly, p)
    step = np.linspace(0.0, 1.0, 801)
    A, B = np.meshgrid(step, step, indexing="ij")
    W = np.stack([A.ravel(), B.ravel(), 1.0 - A.ravel() - B.ravel()], axis=1)
    W = W[(W[:, 2] >= -1e-12) & poly.contains(W, tol=1e-12)]
    best = W[np.argmin(_kl(W, p))]
    assert poly.contains(got.weights)[0]
    assert got.kl <= _kl(best, p) + 1e-7  # no grid point is closer
    assert np.abs(got.weights - best).max() < 5e-3  # and the grid's best is next to it
    assert set(got.binding) == {"t.mix:3", "t.mix:4"}  # a at its cap, b held to c; a + c = 65% is slack


def test_a_source_without_share_stays_out_or_the_move_is_refused():
    poly = Polytope(("a", "b", "c"), (*bound("t.mix:3", "a", hi=0.5),))
    got = nearest(poly, np.array([0.8, 0.2, 0.0]))
    assert got.weights[2] == 0 and np.allclose(got.weights, [0.5, 0.5, 0.0], atol=1e-5)
    with pytest.raises(ValueError, match="no allowed mixture leaves out c"):
        nearest(Polytope(("a", "b", "c"), (*bound("t.mix:4", "c", lo=0.1),)), np.array([0.8, 0.2, 0.0]))


def test_a_fixed_mixture_is_tested_exactly():
    src = ("a", "b", "c")
    cs = [*bound("t.mix:3", "a", hi=0.4), ratio("t.mix:4", "b", "c", 2.0, "<="),
          Constraint("t.mix:5", (("a", 1.0), ("b", 1.0)), "==", 0.7)]
    assert violated(src, cs, [0.4, 0.3, 0.3]) == ()  # on every bound: 0.4 <= 40%, a + b = 70%
    assert violated(src, cs, [0.4000001, 0.2999999, 0.3]) == ("t.mix:3",)  # 1e-7 over: far beyond the 1e-9 slack
    assert violated(src, cs, [0.1, 0.7, 0.2]) == ("t.mix:4", "t.mix:5")
    with pytest.raises(ValueError, match="2 weights for 3 sources"):
        violated(src, cs, [0.5, 0.5])


SPEC = """experiment e {{
  source a = text("a/*")
  source b = text("b/*")
  model m = dense(layers: 2, d_model: 64, heads: 4, seq_len: 64)
  train r {{ model: m, tokens: 100k }}
  search regmix {{ runs: 16, train: r }}
  minimize loss(a)
  subject to {{
    weight(a) <= 40%
    epochs(b) <= 1
  }}
  baselines natural, uniform, {baseline}
}}
"""


def test_fixed_baselines_against_weight_constraints_at_check_time():
    from mixc.compiler.feasibility import feasibility_diagnostics

    inside, _ = check_text(SPEC.format(baseline="mixture(a: 40%, b: 60%)"))
    assert feasibility_diagnostics(inside) == []  # the epoch cap waits for the token counts
    outside, _ = check_text(SPEC.format(baseline="mixture(a: 50%, b: 50%)"))
    [d] = feasibility_diagnostics(outside)
    assert d.code == "E106" and d.span.line == 12 and [n.span.line for n in d.notes] == [9]
    assert "weight(a) is 50%" in d.notes[0].message


def test_e106_imports_no_numpy():
    code = ("import sys\nfrom mixc.compiler.cli import main\n"
            "rc = main(['check', 'tests/spec/golden/E106_baseline_outside_constraints.mix'])\n"
            "heavy = [m for m in ('numpy', 'scipy', 'cvxpy') if m in sys.modules]\n"
            "assert rc == 1 and not heavy, (rc, heavy)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "error[E106]: this baseline breaks the constraints on lines 10, 11" in r.stdout
