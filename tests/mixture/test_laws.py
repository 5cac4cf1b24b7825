"""Laws: fit quality on known data, gradients, JSON round trips, auto, row limits, out-of-fold predictions."""

import json
from typing import Callable

import numpy as np
import pytest

from mixc.compiler.mixture import sizes
from mixc.compiler.mixture.laws import LAWS, best_rank, cross_validate, fit_and_validate, fit_law, load_law, spearman
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
    assert set(scores) >= {"linear", "loglinear", "powerlaw"} and law.name in scores
    # The rule: the chosen one is within a standard error of the best, and nothing simpler is.
    chosen = scores[law.name]
    assert chosen["excess_mse"] <= chosen["excess_se"]
    simpler = [c for c in scores.values() if c["effective_parameters"] < chosen["effective_parameters"]]
    assert simpler and all(c["excess_mse"] > c["excess_se"] for c in simpler)
    assert law.name in ("powerlaw", "stack")  # the data come from a power law; linear and loglinear miss it
    assert sum(law.cv["picks"].values()) == 4


def test_cv_figures_and_best_rank(runs):
    W, Y = runs
    law = fit_law("loglinear", W, Y, SOURCES, TARGETS, cv_folds=5)
    per = law.cv["targets"]["code"]
    assert law.cv["folds"] == 5 and per["spearman"] > 0.9 and per["rmse"] > 0
    assert best_rank(np.array([3.0, 1.0, 2.0]), np.array([0.3, 0.2, 0.1])) == 2


def test_too_few_runs_and_unknown_law(runs):
    W, Y = runs
    with pytest.raises(ValueError, match=r"at least 24 runs for 4 sources \(2-fold .* 12 rows per training "
                                         r"fold > 11 parameters\); got 8"):
        fit_law("powerlaw", W[:8], Y[:8], SOURCES, TARGETS)
    with pytest.raises(ValueError, match=r"at least 12 runs for 4 sources to fit without cross-validation"):
        fit_law("powerlaw", W[:11], Y[:11], SOURCES, TARGETS, cv_folds=0)
    with pytest.raises(ValueError, match="cv_folds must be 0"):
        fit_law("linear", W, Y, SOURCES, TARGETS, cv_folds=1)
    with pytest.raises(ValueError, match="unknown law"):
        fit_law("cubic", W, Y, SOURCES, TARGETS)
    with pytest.raises(ValueError, match="not a mixing law"):
        load_law({"law": "linear", "sources": ["a"]})
    assert set(LAWS) == {"linear", "loglinear", "powerlaw", "powerlaw_tied", "lightgbm", "gp", "bimix", "quadratic"}


def test_true_loss_is_what_the_fixture_uses(runs):
    W, Y = runs
    assert np.abs(true_loss(W) - Y).max() < 0.02


@pytest.mark.parametrize("name", ["linear", "loglinear", "auto", "powerlaw"])
def test_the_fewest_runs_are_cross_validated_with_a_spare_row(runs, name):
    """At exactly the runs the rule asks for, the fit is cross-validated (never silently not) and every
    training fold has more runs than the law has parameters; one run fewer is an error."""
    W, Y = runs
    need = sizes.runs_needed(name, len(SOURCES))
    law = fit_law(name, W[:need], Y[:need], SOURCES, TARGETS)
    cv = law.cv
    assert cv["folds"] >= 2 and cv["train_rows"] >= cv["min_train_rows"] == cv["parameters"] + 1
    assert cv["parameters"] == sizes.parameters(law.name, len(SOURCES)) and cv["rule"] == sizes.RULE
    with pytest.raises(ValueError, match=f"needs at least {need} runs"):
        fit_law(name, W[:need - 1], Y[:need - 1], SOURCES, TARGETS)


def test_out_of_fold_predictions_come_from_the_folds_that_left_each_run_out(runs):
    W, Y = runs
    law, oof = fit_and_validate("linear", W[:30], Y[:30], SOURCES, TARGETS)
    assert oof.predictions.shape == (30, 2) and sorted(set(oof.fold.tolist())) == list(range(law.cv["folds"]))
    for i in range(law.cv["folds"]):
        held = oof.fold == i
        alone = fit_law("linear", W[:30][~held], Y[:30][~held], SOURCES, TARGETS, cv_folds=0)
        assert np.allclose(alone.predict(W[:30][held]), oof.predictions[held])
    rmse = np.sqrt(np.mean((oof.predictions[:, 1] - Y[:30, 1]) ** 2))
    assert rmse == pytest.approx(law.cv["targets"]["code"]["rmse"])
    assert fit_and_validate("linear", W, Y, SOURCES, TARGETS, cv_folds=0)[1] is None


def test_auto_reports_its_chosen_candidates_out_of_fold_predictions(runs):
    W, Y = runs
    n = sizes.runs_needed("loglinear", len(SOURCES))  # too few for powerlaw's training folds
    law, oof = fit_and_validate("auto", W[:n], Y[:n], SOURCES, TARGETS)
    assert "powerlaw" in law.cv["skipped"] and "powerlaw" not in law.cv["candidates"]
    own = cross_validate(LAWS[law.name], W[:n], Y[:n], SOURCES, TARGETS, law.cv["folds"])
    assert np.allclose(own.out_of_fold.predictions, oof.predictions)
    assert law.cv["parameters"] == sizes.parameters(law.name, len(SOURCES))


def _flat(params: dict) -> tuple[np.ndarray, Callable[[np.ndarray], dict]]:
    """A law's parameters as one vector, and the inverse: the params dict of a vector."""
    leaves = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    vec = np.concatenate([v.ravel() for v in leaves.values()])

    def back(x: np.ndarray) -> dict:
        out, at = {}, 0
        for k, v in leaves.items():
            out[k] = x[at:at + v.size].reshape(v.shape).tolist()
            at += v.size
        return out

    return vec, back


@pytest.mark.parametrize("name", ["linear", "loglinear", "powerlaw"])
def test_declared_parameters_are_the_identifiable_ones(runs, name):
    """The count sizes.py declares is the rank of the predictions' Jacobian in the law's raw
    parameters: what the runs can pin down (the weights sum to one, so constants fold in)."""
    W, Y = runs
    law = fit_law(name, W, Y[:, :1], SOURCES, TARGETS[:1], cv_folds=0)
    vec, back = _flat(law.params)
    eps = 1e-6 * np.maximum(1.0, np.abs(vec))
    cols = []
    for i in range(len(vec)):
        step = np.zeros_like(vec)
        step[i] = eps[i]
        hi, lo = (load_law({**law.to_json(), "params": back(vec + s)}).predict(W)[:, 0] for s in (step, -step))
        cols.append((hi - lo) / (2 * eps[i]))
    J = np.stack(cols, axis=1)
    J = J / np.maximum(np.linalg.norm(J, axis=0), 1e-300)
    assert np.linalg.matrix_rank(J, tol=1e-6) == sizes.parameters(name, len(SOURCES))
