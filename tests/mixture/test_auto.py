"""auto: the one-standard-error rule, honest figures, failed candidates, stacks, higher-is-better metrics."""

import json

import numpy as np
import pytest

from mixc.compiler.mixture.laws import LAWS, Aim, LawFitError, fit_and_validate, fit_law, load_law
from mixc.compiler.mixture.laws.auto import choose
from mixc.compiler.mixture.laws.crossval import assign_folds
from mixc.compiler.mixture.laws.linear import LinearLaw
from mixc.compiler.mixture.laws.loglinear import LogLinearLaw
from mixc.compiler.mixture.laws.powerlaw import PowerLaw
from mixc.compiler.mixture.laws.stacked import StackedLaw
from mixc.compiler.mixture.polytope import Polytope, bound, sample
from mixc.compiler.mixture.solve import Objective, solve
from tests.helpers.mixtures import SOURCES

CONVEX = {name: LAWS[name] for name in ("linear", "loglinear", "powerlaw")}


def linear_runs(n: int = 60, noise: float = 0.01, seed: int = 0):
    rng = np.random.default_rng(seed)
    W = rng.dirichlet(np.ones(len(SOURCES)), n)
    return W, (3.0 + W @ np.array([0.5, -0.3, 0.2, 0.1]) + rng.normal(0, noise, n))[:, None]


def test_when_laws_tie_within_noise_the_simplest_is_kept():
    # Linear data: loglinear and powerlaw can bend to it, but their extra parameters buy nothing
    # beyond noise, so the rule keeps the linear law.
    W, Y = linear_runs()
    law = fit_law("auto", W, Y, SOURCES, ("t",))
    cands = law.cv["candidates"]
    assert law.name == "linear", cands
    best = min(cands, key=lambda c: cands[c]["excess_mse"])
    assert cands["linear"]["excess_mse"] <= cands["linear"]["excess_se"]
    assert cands["linear"]["effective_parameters"] < cands[best]["effective_parameters"] or best == "linear"


def test_auto_figures_are_of_its_choice_cross_validated():
    W, Y = linear_runs()
    law = fit_law("auto", W, Y, SOURCES, ("t",), cv_folds=4)
    assert sum(law.cv["picks"].values()) == 4 and "one standard error" in law.cv["choice_rule"]
    if set(law.cv["picks"]) == {law.name}:  # every fold chose alike: its figures are that candidate's
        assert law.cv["objective"]["rmse"] == pytest.approx(law.cv["candidates"][law.name]["rmse"])


class _Singular(PowerLaw):
    """Stands in for a numerical failure deep inside a fit (numpy's, as on some real swarms)."""

    @classmethod
    def fit(cls, X, Y, sources, targets, seed=0):
        raise np.linalg.LinAlgError("SVD did not converge")


def test_a_candidate_that_cannot_fit_is_skipped_with_its_reason():
    W, Y = linear_runs()
    fold = assign_folds(len(W), 5, 0)
    choice = choose(W, Y, SOURCES, ("t",), fold, 0, Aim.mean(1), {**CONVEX, "powerlaw": _Singular})
    assert "SVD did not converge" in choice.figures["skipped"]["powerlaw"]
    assert "fold 1 of 5" in choice.figures["skipped"]["powerlaw"]
    assert "powerlaw" not in choice.figures["candidates"]
    with pytest.raises(LawFitError, match="no candidate law could be fitted"):
        choose(W, Y, SOURCES, ("t",), fold, 0, Aim.mean(1), {"powerlaw": _Singular})


def test_a_stack_predicts_solves_and_round_trips():
    W, Y = linear_runs(noise=0.0)
    Y = np.c_[Y, 2.0 + np.exp(-W @ np.array([1.0, 2.0, 0.5, 0.3]))]
    a = fit_law("linear", W, Y, SOURCES, ("t", "u"), cv_folds=0)
    b = fit_law("loglinear", W, Y, SOURCES, ("t", "u"), cv_folds=0)
    weights = np.array([[0.7, 0.3], [0.2, 0.8]])
    stack = StackedLaw.of([a, b], weights)
    probe = sample(Polytope(SOURCES, ()), 50, seed=1)
    expect = np.stack([0.7 * a.predict(probe)[:, 0] + 0.3 * b.predict(probe)[:, 0],
                       0.2 * a.predict(probe)[:, 1] + 0.8 * b.predict(probe)[:, 1]], axis=1)
    assert np.allclose(stack.predict(probe), expect)
    again = load_law(json.loads(json.dumps(stack.to_json())))
    assert isinstance(again, StackedLaw) and np.allclose(again.predict(probe), expect)
    assert again.convex and again.effective_parameters(60) == 4 + 5
    poly = Polytope(SOURCES, tuple(bound("cap", SOURCES[1], hi=0.5)))
    exact = solve(again, poly, Objective(((1.0, "u"),)))
    assert exact.method == "cvxpy"  # a stack of convex laws is convex: one exact solve
    many = sample(poly, 20_000, seed=2)
    assert exact.predicted["u"] <= again.predict(many)[:, 1].min() + 1e-6


def test_maximize_fits_the_negated_metric():
    W, Y = linear_runs()
    loss, _ = fit_and_validate("loglinear", W, Y, SOURCES, ("t",))
    accuracy, oof = fit_and_validate("loglinear", W, -Y, SOURCES, ("t",), maximize=True)
    assert accuracy.maximize and not loss.maximize
    assert np.allclose(accuracy.predict(W), loss.predict(W), atol=1e-6)
    assert np.allclose(accuracy.metric(W), -loss.predict(W), atol=1e-6)
    assert accuracy.cv["targets"]["t"]["best_rank"] == loss.cv["targets"]["t"]["best_rank"]
    assert load_law(accuracy.to_json()).maximize


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_targets_of_either_sign_and_any_scale_fit(sign):
    rng = np.random.default_rng(3)
    W = rng.dirichlet(np.ones(len(SOURCES)), 40)
    for scale in (1e-3, 1.0, 1e3):
        Y = sign * scale * (1.0 + np.exp(-W @ np.array([2.0, 0.5, 1.0, 0.2])))[:, None]
        for name, cls in (("loglinear", LogLinearLaw), ("powerlaw", PowerLaw), ("linear", LinearLaw)):
            law = fit_law(name, W, Y, SOURCES, ("t",), cv_folds=0)
            assert np.all(np.isfinite(law.predict(W))) and law.name == cls.name
