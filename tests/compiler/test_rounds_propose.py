"""Proposing a round's mixtures: inside the polytope, seeded, climb narrowing, EI beating random
draws on known functions, fidelities that follow their costs, and clear errors on bad input."""

import numpy as np
import pytest

from mixc.compiler.mixture.polytope import Polytope, bound, group_sum, ratio, sample
from mixc.compiler.mixture.rounds import METHODS, RunsSoFar, propose

SIX = tuple("abcdef")
BEST = np.array([0.4, 0.3, 0.1, 0.1, 0.05, 0.05])


def bowl(W: np.ndarray, centre: np.ndarray = BEST) -> np.ndarray:
    return ((np.atleast_2d(W) - centre) ** 2).sum(1)


def first_runs(poly: Polytope, n: int, seed: int, fidelity: int = 0) -> RunsSoFar:
    W = sample(poly, n, seed=seed)
    return RunsSoFar(W, bowl(W), np.full(n, fidelity))


CONSTRAINED = Polytope(SIX, (*bound("cap", "a", hi=0.3), group_sum("pair", ["b", "c"], ">=", 0.4),
                             ratio("ratio", "d", "e", 2.0)))
FLAT = Polytope(SIX, (group_sum("half", ["a", "b"], "==", 0.5), *bound("floor", "f", lo=0.1)))


@pytest.mark.parametrize("poly", [CONSTRAINED, FLAT], ids=["constrained", "flat"])
@pytest.mark.parametrize("method", METHODS)
def test_proposals_lie_inside_the_polytope(method, poly):
    runs = first_runs(poly, 6, seed=1)
    for costs in [(1.0,), (1.0, 4.0)]:
        p = propose(method, poly, runs, 12, round=1, rounds=3, costs=costs, seed=0)
        assert p.mixtures.shape == (12, 6) and len(p.fidelity) == len(p.scores) == 12
        assert poly.contains(p.mixtures).all()
        assert np.allclose(p.mixtures.sum(1), 1.0)
        assert set(p.fidelity) <= set(range(len(costs))) and np.isfinite(p.scores).all()


@pytest.mark.parametrize("method", METHODS)
def test_the_same_seed_gives_the_same_proposal_and_another_seed_another(method):
    runs = first_runs(CONSTRAINED, 8, seed=2)
    a, b, c = (propose(method, CONSTRAINED, runs, 8, round=2, rounds=3, seed=s) for s in (5, 5, 6))
    assert np.array_equal(a.mixtures, b.mixtures) and a.fidelity == b.fidelity and a.scores == b.scores
    assert not np.allclose(a.mixtures, c.mixtures)


def test_two_runs_are_enough_and_a_flat_objective_does_not_fail():
    poly = Polytope(SIX)
    W = sample(poly, 2, seed=3)
    for y in (bowl(W), np.array([3.0, 3.0])):
        for method in METHODS:
            p = propose(method, poly, RunsSoFar(W, y, np.zeros(2, int)), 4, round=1, rounds=2, seed=0)
            assert poly.contains(p.mixtures).all()


def test_climb_spread_shrinks_over_the_rounds():
    # Four proposals keep one elite; the same seed draws the same elite and the same directions,
    # so only the round changes how far the proposals stray from it.
    poly = Polytope(SIX)
    runs = first_runs(poly, 10, seed=4)

    def spread(r: int) -> float:
        W = propose("climb", poly, runs, 4, round=r, rounds=4, seed=0).mixtures
        return float(np.linalg.norm(W - W.mean(0), axis=1).mean())

    s = [spread(r) for r in (1, 2, 3, 4)]
    assert s[0] > s[1] > s[2] > s[3]
    assert s[3] < 0.25 * s[0]


def test_climb_proposes_near_the_predicted_best():
    poly = Polytope(SIX)
    runs = first_runs(poly, 24, seed=5)
    p = propose("climb", poly, runs, 8, round=3, rounds=3, seed=0)
    assert bowl(p.mixtures).mean() < 0.2 * bowl(sample(poly, 1000, seed=0)).mean()
    assert np.mean(p.scores) < min(runs.objective)  # the law predicts them better than every run so far
    assert p.fidelity == (0,) * 8


def best_found(method: str, poly: Polytope, centre: np.ndarray, seed: int) -> float:
    """The lowest value met by 4 first runs and three rounds of 4 (16 evaluations)."""
    X = sample(poly, 4, seed=seed)
    for r in (1, 2, 3):
        runs = RunsSoFar(X, bowl(X, centre), np.zeros(len(X), int))
        X = np.vstack([X, propose(method, poly, runs, 4, round=r, rounds=3, seed=seed).mixtures])
    return float(bowl(X, centre).min())


@pytest.mark.parametrize("sources,centre", [("ab", [0.8, 0.2]), ("abc", [0.6, 0.3, 0.1])], ids=["1-d", "2-d"])
def test_expected_improvement_finds_the_minimum_sooner_than_random_draws(sources, centre):
    poly, centre = Polytope(tuple(sources)), np.array(centre)
    seeds = range(5)
    ei = [best_found("ei", poly, centre, s) for s in seeds]
    rand = [float(bowl(sample(poly, 16, seed=s), centre).min()) for s in seeds]
    assert np.mean(ei) < np.mean(rand) / 2.5
    assert sum(e < r for e, r in zip(ei, rand)) >= 4


def two_fidelity_runs(n: int, seed: int) -> RunsSoFar:
    """Half the runs cheap (a shifted, scaled copy of the target's bowl), half at the target."""
    W = sample(Polytope(SIX), n, seed=seed)
    f = np.arange(n) % 2
    return RunsSoFar(W, np.where(f == 0, 3.0 + 2.0 * bowl(W), 2.5 + bowl(W)), f)


def test_fidelity_choice_follows_the_costs():
    runs = two_fidelity_runs(16, seed=6)
    at_target = {}
    for cost in (1.0, 20.0):
        p = propose("ei", Polytope(SIX), runs, 16, round=1, rounds=3, costs=(1.0, cost), seed=0)
        at_target[cost] = sum(l == 1 for l in p.fidelity)
        assert at_target[cost] >= 1  # every batch measures the target at least once
    assert at_target[1.0] >= 12  # at equal cost nothing beats measuring the target itself
    assert at_target[20.0] <= 4  # a twentieth of the cost: cheap runs where they agree with it


def test_climb_trains_at_the_target_fidelity():
    p = propose("climb", Polytope(SIX), two_fidelity_runs(12, seed=7), 6, round=1, rounds=2, costs=(1.0, 9.0),
                seed=0)
    assert p.fidelity == (1,) * 6


@pytest.mark.parametrize("change,message", [
    ({"method": "random"}, "unknown proposal method 'random'"),
    ({"n": 0}, "at least one proposal"),
    ({"round": 0}, "round 0 of 3"),
    ({"round": 4}, "round 4 of 3"),
    ({"costs": (1.0, -2.0)}, "costs must be positive"),
    ({"costs": (1.0, float("nan"))}, "costs must be positive"),
    ({"runs": RunsSoFar(np.full((1, 6), 1 / 6), np.ones(1), np.zeros(1, int))}, "at least 2 measured runs"),
    ({"runs": RunsSoFar(np.full((3, 5), 0.2), np.ones(3), np.zeros(3, int))}, "5 weights, the polytope 6"),
    ({"runs": RunsSoFar(np.full((3, 6), 1 / 6), np.array([1.0, np.nan, 2.0]), np.zeros(3, int))},
     "runs 1 have non-finite"),
    ({"runs": RunsSoFar(np.full((3, 6), 1 / 6), np.ones(3), np.array([0, 1, 2]))}, "from 0 to 1"),
])
def test_bad_input_is_a_clear_error(change, message):
    args = {"method": "ei", "runs": two_fidelity_runs(6, seed=8), "n": 4, "round": 1, "costs": (1.0, 2.0)}
    args.update(change)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        propose(args["method"], Polytope(SIX), args["runs"], args["n"], round=args["round"], rounds=3,
                costs=args["costs"], seed=0)


def test_runs_of_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="shapes"):
        RunsSoFar(np.full((3, 6), 1 / 6), np.ones(2), np.zeros(3, int))
