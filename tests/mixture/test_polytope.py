"""The polytope: closed-form and LP feasibility, conflicting subsets by label, centre, sampling."""

import subprocess
import sys
from statistics import NormalDist

import numpy as np
import pytest

from mixc.compiler.mixture.polytope import (Constraint, Polytope, bound, chebyshev_centre, check, epoch_cap,
                                            from_quantities, group_sum, ratio, sample)

SRC = ("a", "b", "c", "d")


def test_plain_bounds_feasible_and_conflict_names_the_smallest_set():
    p = Polytope(SRC, (*bound("L1", "a", lo=0.5), *bound("L2", "b", lo=0.4), *bound("L3", "c", lo=0.3),
                       *bound("L4", "d", hi=0.9)))
    res = check(p)
    assert not res.feasible
    # 0.5 + 0.4 + 0.3 > 1; any two of them fit, so all three are needed; L4 plays no part.
    assert set(res.conflict) == {"L1", "L2", "L3"}
    assert check(p.with_constraints(p.constraints[:2] + p.constraints[3:])).feasible


def test_upper_bounds_below_one_conflict_and_lo_above_hi():
    caps = [c for i, s in enumerate(SRC) for c in bound(f"cap{i}", s, hi=0.2)]
    assert set(check(Polytope(SRC, tuple(caps))).conflict) == {"cap0", "cap1", "cap2", "cap3"}
    p = Polytope(SRC, (*bound("low", "a", lo=0.6), *bound("high", "a", hi=0.4), *bound("other", "b", hi=0.5)))
    assert check(p).conflict == ("low", "high")


def test_plain_bounds_do_not_import_cvxpy():
    code = ("import sys\nfrom mixc.compiler.mixture.polytope import Polytope, bound, check\n"
            "p = Polytope(('a', 'b'), (*bound('x', 'a', lo=0.7), *bound('y', 'b', lo=0.6)))\n"
            "assert check(p).conflict == ('x', 'y')\nprint('cvxpy' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_linear_constraints_use_the_lp_and_name_their_conflict():
    p = Polytope(SRC, (ratio("r", "a", "b", 2.0, ">="),          # a >= 2b
                       group_sum("g", ["a", "c"], "<=", 0.2),    # a + c <= 0.2
                       *bound("bmin", "b", lo=0.15),             # so a >= 0.3: conflicts with g
                       *bound("dmax", "d", hi=0.9)))
    res = check(p)
    assert not res.feasible and set(res.conflict) == {"r", "g", "bmin"}


def test_epochs_are_scaled_into_weight_space():
    c = from_quantities("e", "epochs", [("a", 1.0)], "<=", 2.0, tokens={"a": 1e6}, target_tokens=1e10)
    assert c.coefs == (("a", 1.0),) and c.rhs == pytest.approx(2e-4)
    assert epoch_cap("e", "a", 2.0, 1e6, 1e10).rhs == pytest.approx(2e-4)
    two = from_quantities("e2", "epochs", [("a", 1.0), ("b", 1.0)], "<=", 1.0,
                          tokens={"a": 1e6, "b": 1e9}, target_tokens=1e10)
    assert max(abs(x) for _, x in two.coefs) == 1.0  # rescaled: 1e4 and 10 become 1 and 1e-3
    with pytest.raises(ValueError, match="token count"):
        from_quantities("e3", "epochs", [("c", 1.0)], "<=", 1.0, tokens={"a": 1e6}, target_tokens=1e9)


def test_bad_constraints_are_refused_with_their_label():
    with pytest.raises(ValueError, match="L9"):
        Polytope(SRC, (Constraint("L9", (("zz", 1.0),), "<=", 0.5),))
    with pytest.raises(ValueError, match="L8"):
        Constraint("L8", (("a", 1.0),), "<", 0.5)


def test_centre_and_samples_stay_inside():
    p = Polytope(SRC, (*bound("m", "a", hi=0.3), ratio("r", "b", "c", 1.0, "<="), group_sum("g", ["c", "d"], ">=", 0.4)))
    centre = chebyshev_centre(p)
    assert centre.radius > 0.01 and p.contains(centre.point)[0]
    W = sample(p, 2000, seed=1)
    assert W.shape == (2000, 4) and p.contains(W).all()
    assert np.ptp(W, axis=0).min() > 0.1  # the chains move
    assert np.array_equal(W, sample(p, 2000, seed=1))


def test_sampling_terminates_on_a_flat_polytope():
    p = Polytope(SRC, (*bound("fix", "a", lo=0.25, hi=0.25), group_sum("bc", ["b", "c"], "==", 0.5)))
    W = sample(p, 300, seed=0)
    assert p.contains(W).all() and np.allclose(W[:, 0], 0.25) and np.allclose(W[:, 1] + W[:, 2], 0.5)
    assert p.binding(W[0]) == ("fix", "bc")


CHAINS = 512  # the moment tests group rows as sample() lays them out: row i is from chain i % CHAINS


def _mean_and_error(F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column's mean and standard error, from the spread of the chains' means.

    Chains are independent and their points are not, so the chains are the independent units;
    exact draws are independent throughout, and grouping them changes nothing.
    """
    means = F.reshape(-1, CHAINS, F.shape[1]).mean(axis=0)
    return means.mean(axis=0), means.std(axis=0, ddof=1) / np.sqrt(CHAINS)


def _limit(tests: int, alpha: float = 1e-3) -> float:
    """The |z| that any of `tests` z-scores of a correct sampler exceeds with probability about alpha (Bonferroni)."""
    return NormalDist().inv_cdf(1 - alpha / (2 * tests))


def _features(W: np.ndarray) -> np.ndarray:
    """Each weight, each squared deviation from 1/d, and the largest weight."""
    return np.hstack([W, (W - 1.0 / W.shape[1]) ** 2, W.max(axis=1, keepdims=True)])


@pytest.mark.parametrize("exact", [True, False], ids=["exact", "hit-and-run"])
@pytest.mark.parametrize("d", [5, 15, 30])
def test_samples_of_the_simplex_have_the_moments_of_dirichlet_1(d, exact):
    p = Polytope(tuple(f"s{i}" for i in range(d)))
    W = sample(p, CHAINS * 40, seed=d, chains=CHAINS, exact=exact)
    harmonic = sum(1.0 / j for j in range(1, d + 1))
    # Dirichlet(1): w_i ~ Beta(1, d - 1), so E w_i = 1/d and var w_i = (d-1) / (d^2 (d+1)); the
    # largest weight is the largest of d Exp(1) over their sum, with mean H_d / d.
    expected = np.r_[np.full(d, 1.0 / d), np.full(d, (d - 1) / (d * d * (d + 1.0))), harmonic / d]
    mean, error = _mean_and_error(_features(W))
    z = (mean - expected) / error
    assert np.abs(z).max() <= _limit(len(z)), z


@pytest.mark.parametrize("exact", [True, False], ids=["exact", "hit-and-run"])
@pytest.mark.parametrize("cuts", [bound("cap", "s0", hi=0.2),
                                  (*bound("floor", "s0", lo=0.3), group_sum("pair", ["s1", "s2"], "<=", 0.3))],
                         ids=["cap", "floor-and-group"])
def test_samples_of_a_cut_simplex_match_dirichlet_1_draws_kept_inside(cuts, exact):
    p = Polytope(tuple(f"s{i}" for i in range(5)), tuple(cuts))
    W = sample(p, CHAINS * 40, seed=2, chains=CHAINS, exact=exact)
    assert p.contains(W).all()
    R = np.random.default_rng(3).dirichlet(np.ones(5), 400_000)
    R = R[p.contains(R)]  # uniform on the polytope, by plain rejection
    mean, error = _mean_and_error(_features(W))
    ref_mean, ref_error = _mean_and_error(_features(R[: len(R) // CHAINS * CHAINS]))
    z = (mean - ref_mean) / np.hypot(error, ref_error)
    assert np.abs(z).max() <= _limit(len(z)), z


def test_few_draws_inside_hand_over_to_chains_begun_at_them():
    p = Polytope(tuple(f"s{i}" for i in range(5)), bound("tight", "s0", hi=0.01))  # about 4% of draws inside
    W = sample(p, 5000, seed=0)
    assert W.shape == (5000, 5) and p.contains(W).all()
    assert len(np.unique(W[:, 1])) == 5000  # no chain sat still at a start
