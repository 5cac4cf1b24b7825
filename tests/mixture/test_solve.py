"""Solve: exact convex optima, binding constraints, max objective, KL pull, sampled top-k."""

import numpy as np
import pytest

from mixc.compiler.mixture.laws import fit_law
from mixc.compiler.mixture.polytope import Polytope, bound, ratio
from mixc.compiler.mixture.solve import Objective, candidates, solve
from tests.helpers.mixtures import SOURCES, true_loss

TARGETS = ("web", "code")


def test_linear_law_solves_to_the_lp_vertex_and_names_binding_constraints():
    W = np.random.default_rng(1).dirichlet(np.ones(4), size=30)
    Y = np.c_[1.0 - W @ np.array([0.5, 0.1, 0.3, 0.2])]  # web helps most
    law = fit_law("linear", W, Y, SOURCES, ("web",), cv_folds=0)
    poly = Polytope(SOURCES, (*bound("file.mix:7", "web", hi=0.6), ratio("file.mix:8", "books", "web", 0.5)))
    sol = solve(law, poly, Objective(((1.0, "web"),)))
    # web capped at 0.6, books at half of it (0.3), the rest to math.
    assert np.allclose(sol.weights, [0.6, 0.0, 0.3, 0.1], atol=1e-5)
    assert sol.method == "cvxpy" and set(sol.binding) == {"file.mix:7", "file.mix:8"}
    assert sol.predicted["web"] == pytest.approx(1 - 0.3 - 0.09 - 0.02, abs=1e-4)


def test_powerlaw_optimum_beats_every_sample_and_max_objective(runs):
    W, Y = runs
    law = fit_law("powerlaw", W, Y, SOURCES, TARGETS, cv_folds=0)
    poly = Polytope(SOURCES, (*bound("cap", "web", hi=0.7),))
    sol = solve(law, poly, Objective(((1.0, "web"),)))
    pts = candidates(poly, 20000, seed=0)
    assert sol.method == "cvxpy" and poly.contains(sol.weights)[0]
    assert sol.objective <= law.predict(pts)[:, 0].min() + 1e-6
    assert 0 < sol.weights[2] < 0.5  # concave returns: books join web, not a corner
    worst = solve(law, poly, Objective(((1.0, "web"), (1.0, "code")), kind="max"))
    assert worst.objective <= law.predict(pts).max(axis=1).min() + 1e-6
    assert worst.objective == pytest.approx(max(worst.predicted.values()), abs=1e-5)


def test_kl_pull_moves_toward_the_prior(runs):
    W, Y = runs
    law = fit_law("loglinear", W, Y, SOURCES, TARGETS, cv_folds=0)
    poly = Polytope(SOURCES)
    prior = (0.1, 0.4, 0.1, 0.4)
    free = solve(law, poly, Objective(((1.0, "web"),), kl=1e-4, prior=prior))
    pulled = solve(law, poly, Objective(((1.0, "web"),), kl=1.0, prior=prior))
    assert pulled.kl_from_prior < free.kl_from_prior and pulled.tv_from_prior < free.tv_from_prior


def test_nonconvex_law_averages_the_best_samples(runs):
    pytest.importorskip("lightgbm")
    W, Y = runs
    law = fit_law("lightgbm", W, Y, SOURCES, TARGETS, cv_folds=0)
    poly = Polytope(SOURCES, (*bound("cap", "code", hi=0.3),))
    sol = solve(law, poly, Objective(((1.0, "web"),)), samples=5000, top_k=50)
    assert sol.method == "sampling" and poly.contains(sol.weights)[0]
    assert true_loss(sol.weights)[0, 0] < np.median(true_loss(W)[:, 0])


def test_objective_and_sources_are_checked(runs):
    W, Y = runs
    law = fit_law("linear", W, Y, SOURCES, TARGETS, cv_folds=0)
    with pytest.raises(ValueError, match="not 'math'"):
        solve(law, Polytope(SOURCES), Objective(((1.0, "math"),)))
    with pytest.raises(ValueError, match="differ"):
        solve(law, Polytope(("a", "b", "c", "d")), Objective(((1.0, "web"),)))
    with pytest.raises(ValueError, match="prior"):
        Objective(((1.0, "web"),), kl=0.5)


def test_an_empty_polytope_raises_infeasible_with_its_conflict(runs):
    from mixc.compiler.mixture.solve import Infeasible, within_support

    W, Y = runs
    law = fit_law("linear", W, Y, SOURCES, TARGETS, cv_folds=0)
    narrow = fit_law("linear", W[W[:, 3] <= 0.2], Y[W[:, 3] <= 0.2], SOURCES, TARGETS, cv_folds=0)
    poly = Polytope(SOURCES, (*bound("file.mix:9", "math", lo=0.3),))
    assert solve(law, within_support(law, poly), Objective(((1.0, "web"),))).weights[3] >= 0.3 - 1e-6
    with pytest.raises(Infeasible) as err:
        solve(narrow, within_support(narrow, poly), Objective(((1.0, "web"),)))
    assert err.value.conflict == ("file.mix:9", "runs' range of math")
