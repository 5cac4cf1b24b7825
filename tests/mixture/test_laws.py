"""Laws: fit quality on known data, gradients, JSON round trips, auto, row limits."""

import json

import numpy as np
import pytest

from mixc.compiler.mixture.laws import LAWS, best_rank, fit_law, load_law, spearman
from tests.helpers.mixtures import SOURCES, true_loss

TARGETS = ("web", "code")


@pytest.mark.parametrize("name", ["linear", "loglinear", "powerlaw"])
def test_convex_laws_fit_and_round_trip(runs, name):
    W, Y = runs
    law = fit_law(name, W[:60], Y[:60], SOURCES, TARGETS, cv_folds=0)
    pred = law.predict(W[60:])
    assert pred.shape == (20, 2)
    rho = spearman(pred[:, 0], Y[60:, 0])
    assert rho > {"linear": 0.8, "loglinear": 0.9, "powerlaw": 0.99}[name]
    again = load_law(json.loads(json.dumps(law.to_json())))
    assert np.allclose(again.predict(W[60:]), pred)
    w = np.array([0.4, 0.3, 0.2, 0.1])
    eps = 1e-6
    fd = np.stack([(law.predict(w + eps * e) - law.predict(w - eps * e))[0] / (2 * eps) for e in np.eye(4)], axis=1)
    assert np.allclose(law.grad(w), fd, rtol=1e-4, atol=1e-6)


def test_powerlaw_beats_loglinear_on_power_law_data(runs):
    W, Y = runs
    errs = {n: np.abs(fit_law(n, W[:60], Y[:60], SOURCES, TARGETS, cv_folds=0).predict(W[60:])[:, 0] - Y[60:, 0]).mean()
            for n in ("loglinear", "powerlaw")}
    assert errs["powerlaw"] < 0.5 * errs["loglinear"]


def test_lightgbm_law_when_installed(runs):
    pytest.importorskip("lightgbm")
    W, Y = runs
    law = fit_law("lightgbm", W[:60], Y[:60], SOURCES, TARGETS, cv_folds=0)
    assert spearman(law.predict(W[60:])[:, 1], Y[60:, 1]) > 0.7
    assert np.allclose(load_law(json.loads(json.dumps(law.to_json()))).predict(W[60:]), law.predict(W[60:]))
    with pytest.raises(NotImplementedError):
        law.grad(W[0])


def test_auto_chooses_by_cross_validation_and_records_it(runs):
    W, Y = runs
    law = fit_law("auto", W, Y[:, :1], SOURCES, TARGETS[:1], cv_folds=4)
    assert law.cv["chosen_by"] == "auto" and law.cv["folds"] == 4
    scores = law.cv["candidates"]
    assert law.name == max(scores, key=scores.get) == "powerlaw"
    assert set(scores) >= {"linear", "loglinear", "powerlaw"}


def test_cv_figures_and_best_rank(runs):
    W, Y = runs
    law = fit_law("loglinear", W, Y, SOURCES, TARGETS, cv_folds=5)
    per = law.cv["targets"]["code"]
    assert law.cv["folds"] == 5 and per["spearman"] > 0.9 and per["rmse"] > 0
    assert best_rank(np.array([3.0, 1.0, 2.0]), np.array([0.3, 0.2, 0.1])) == 2


def test_too_few_runs_and_unknown_law(runs):
    W, Y = runs
    with pytest.raises(ValueError, match="at least 12 runs"):
        fit_law("powerlaw", W[:8], Y[:8], SOURCES, TARGETS)
    with pytest.raises(ValueError, match="unknown law"):
        fit_law("cubic", W, Y, SOURCES, TARGETS)
    with pytest.raises(ValueError, match="not a mixing law"):
        load_law({"law": "linear", "sources": ["a"]})
    assert set(LAWS) == {"linear", "loglinear", "powerlaw", "lightgbm"}


def test_true_loss_is_what_the_fixture_uses(runs):
    W, Y = runs
    assert np.abs(true_loss(W) - Y).max() < 0.02
