"""The laws from the field (gp, bimix, quadratic): each recovers data of its own form out of
sample, round-trips through JSON, has the gradient it claims, takes losses of either sign
and survives degenerate runs; bimix solves to the simplex's optimum; the GP knows where it is unsure."""

import json

import numpy as np
import pytest

from mixc.compiler.mixture import sizes
from mixc.compiler.mixture.laws import cross_validate, spearman
from mixc.compiler.mixture.laws import gp
from mixc.compiler.mixture.laws.bimix import EPS, BiMixLaw
from mixc.compiler.mixture.laws.gp import GaussianProcessLaw
from mixc.compiler.mixture.laws.quadratic import QuadraticLaw
from mixc.compiler.mixture.polytope import Polytope
from mixc.compiler.mixture.solve import Objective, solve

SOURCES = ("web", "code", "books", "math")
TARGETS = ("held_out", "code_eval")
CLASSES = (GaussianProcessLaw, BiMixLaw, QuadraticLaw)


def _mixtures(n: int, seed: int, concentration: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.full(len(SOURCES), concentration), size=n)


def bimix_losses(W: np.ndarray) -> np.ndarray:
    """The bimix form, one target nearly log-like and one steep."""
    def one(c, k, a):
        return c + ((np.clip(W, 0, None) + EPS) ** -a - 1) / a @ k
    return np.stack([one(2.5, np.array([0.3, 0.05, 0.2, 0.0]), np.array([0.05, 0.3, 0.1, 0.5])),
                     one(1.8, np.array([0.0, 0.4, 0.0, 0.1]), np.array([0.2, 0.4, 0.2, 0.2]))], axis=1)


def quadratic_losses(W: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(7)
    t = rng.uniform(2.0, 4.0, size=(2, 4))
    Q = rng.normal(0.0, 1.0, size=(2, 4, 4))
    Q = (Q + Q.transpose(0, 2, 1)) / 2
    return np.stack([W @ t[k] + ((W @ Q[k]) * W).sum(1) for k in range(2)], axis=1)


def gp_losses(W: np.ndarray, seed: int = 3) -> np.ndarray:
    """A draw from the GP prior the law assumes (Matern 5/2 on standardised sqrt(w)), jointly at every row."""
    Z = np.sqrt(W)
    Z = (Z - Z.mean(0)) / Z.std(0)
    theta = np.r_[np.full(4, np.log(2.0)), np.log(1.0), np.log(1e-6)]
    K = gp._kernel(Z, Z, theta)[0] + 1e-8 * np.eye(len(Z))
    f = np.linalg.cholesky(K) @ np.random.default_rng(seed).normal(size=(len(Z), 2))
    return 3.0 + 0.1 * f


OWN_FORM = {GaussianProcessLaw: gp_losses, BiMixLaw: bimix_losses, QuadraticLaw: quadratic_losses}


def _fit(cls, X, Y, seed=0):
    return cls.fit(X, Y, SOURCES, TARGETS, seed=seed)


@pytest.mark.parametrize("cls", CLASSES)
def test_recovers_its_own_form_out_of_sample(cls):
    W = _mixtures(140, seed=1)
    Y = OWN_FORM[cls](W)
    law = _fit(cls, W[:100], Y[:100])
    pred = law.predict(W[100:])
    assert pred.shape == (40, 2) and np.isfinite(pred).all()
    err = np.abs(pred - Y[100:]).max(axis=0) / Y[100:].std(axis=0)
    assert (err < {GaussianProcessLaw: 0.5, BiMixLaw: 1e-2, QuadraticLaw: 1e-2}[cls]).all(), err
    assert min(spearman(pred[:, j], Y[100:, j]) for j in range(2)) > 0.97


@pytest.mark.parametrize("cls", CLASSES)
def test_json_round_trip_predicts_the_same(cls):
    W = _mixtures(60, seed=2)
    law = _fit(cls, W[:40], OWN_FORM[cls](W)[:40])
    data = json.loads(json.dumps(law.to_json()))
    again = cls(tuple(data["sources"]), tuple(data["targets"]), dict(data["params"]), {}, ())
    assert np.array_equal(again.predict(W[40:]), law.predict(W[40:]))
    assert np.array_equal(again.grad(W[45]), law.grad(W[45]))


@pytest.mark.parametrize("cls", CLASSES)
def test_gradient_matches_finite_differences(cls):
    W = _mixtures(60, seed=4)
    law = _fit(cls, W, OWN_FORM[cls](W))
    w, h = np.array([0.4, 0.3, 0.2, 0.1]), 1e-6
    fd = np.stack([(law.predict(w + h * e) - law.predict(w - h * e))[0] / (2 * h) for e in np.eye(4)], axis=1)
    assert np.allclose(law.grad(w), fd, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("cls", CLASSES)
def test_losses_of_either_sign(cls):
    """Negative losses (negated accuracies) fit as well as positive ones: shifting or negating the
    target shifts or negates the prediction, for a law whose form allows it."""
    W = _mixtures(80, seed=5)
    Y = OWN_FORM[cls](W)
    base = _fit(cls, W[:60], Y[:60]).predict(W[60:])
    shifted = _fit(cls, W[:60], Y[:60] - 10.0).predict(W[60:])
    assert np.allclose(shifted, base - 10.0, atol=1e-3 * Y.std())
    if cls is not BiMixLaw:  # bimix is decreasing in every weight: -Y is not of its form
        negated = _fit(cls, W[:60], -Y[:60]).predict(W[60:])
        assert np.allclose(negated, -base, atol=1e-3 * Y.std())


@pytest.mark.parametrize("cls", CLASSES)
def test_degenerate_runs_give_finite_predictions(cls):
    W = _mixtures(30, seed=6)
    same = np.tile(W[:1], (30, 1))
    noisy = 3.0 + np.random.default_rng(0).normal(0, 0.01, size=(30, 2))
    pred = _fit(cls, same, noisy).predict(W)
    assert np.isfinite(pred).all()
    flat = _fit(cls, W, np.full((30, 2), 2.5)).predict(_mixtures(10, seed=9))
    assert np.allclose(flat, 2.5, atol=1e-6)


@pytest.mark.parametrize("cls", CLASSES)
def test_cross_validates_with_its_parameter_count(cls):
    W = _mixtures(60, seed=8)
    cv = cross_validate(cls, W, OWN_FORM[cls](W), SOURCES, TARGETS, folds=3)
    assert cv.figures["parameters"] == sizes.parameters(cls.name, 4)
    assert cv.figures["spearman"] > 0.8  # 40 runs per training fold; a GP draw is the hardest


@pytest.mark.parametrize("cls", (GaussianProcessLaw, QuadraticLaw))
def test_smoothers_count_effective_parameters(cls):
    """What auto's simplicity rule sees: between 1 and the runs, and fewer on pure noise than on signal."""
    W = _mixtures(60, seed=13)
    signal = _fit(cls, W, OWN_FORM[cls](W)).effective_parameters(60)
    noise = _fit(cls, W, np.random.default_rng(1).normal(size=(60, 2))).effective_parameters(60)
    assert 1.0 <= noise < signal <= 60


def test_parameter_counts():
    assert [sizes.parameters(n, 17) for n in ("gp", "bimix", "quadratic")] == [20, 35, 153]
    assert [sizes.runs_needed(n, 4) for n in ("gp", "bimix", "quadratic")] == [16, 20, 22]


def test_bimix_solve_matches_a_brute_force_sample_of_the_simplex():
    W = _mixtures(60, seed=10)
    law = _fit(BiMixLaw, W, bimix_losses(W))
    objective = Objective(((1.0, "held_out"), (0.5, "code_eval")))
    sol = solve(law, Polytope(SOURCES), objective)
    assert sol.method == "cvxpy"
    grid = _mixtures(200_000, seed=11, concentration=0.7)
    values = law.predict(grid) @ np.array([1.0, 0.5])
    assert sol.objective <= values.min() + 1e-6
    assert values.min() - sol.objective < 1e-3
    assert np.abs(grid[np.argmin(values)] - sol.weights).max() < 0.05


def test_gp_is_sure_at_its_runs_and_unsure_far_away(monkeypatch):
    W = _mixtures(40, seed=12, concentration=8.0)  # runs near the centre of the simplex
    law = _fit(GaussianProcessLaw, W, gp_losses(W))
    near, far = law.predict_std(W), law.predict_std(np.eye(4))  # the corners are far from every run
    assert near.shape == (40, 2) and far.shape == (4, 2)
    assert np.median(near) < 0.1 * np.median(far)
    whole = law.predict(W), near
    monkeypatch.setattr(gp, "CHUNK", 7)  # predictions come in blocks; the blocks must not show
    assert np.allclose(law.predict(W), whole[0]) and np.allclose(law.predict_std(W), whole[1])
