"""Proxy designs: seeded, distinct, inside the polytope, with a fallback that always finishes."""

import numpy as np
import pytest

from mixc.compiler.mixture.design import DesignConfig, design, prior_weights
from mixc.compiler.mixture.polytope import Polytope, bound, group_sum

SRC = ("a", "b", "c", "d", "e")


def test_dirichlet_design_is_seeded_distinct_and_inside():
    p = Polytope(SRC, (*bound("cap", "a", hi=0.4),))
    prior = prior_weights(SRC, "natural", {"a": 5e6, "b": 1e6, "c": 1e6, "d": 2e6, "e": 1e6})
    d1 = design(p, DesignConfig(runs=40, seed=3), prior, named={"uniform": np.full(5, 0.2)})
    d2 = design(p, DesignConfig(runs=40, seed=3), prior, named={"uniform": np.full(5, 0.2)})
    assert np.array_equal(d1.mixtures, d2.mixtures)
    assert d1.origin[0] == "uniform" and set(d1.origin[1:]) == {"dirichlet"}
    assert p.contains(d1.mixtures).all()
    assert len({tuple(np.round(w, 4)) for w in d1.mixtures}) == 40
    W = d1.mixtures
    assert np.all((W == 0) | (W >= 1e-3)) and (W == 0).any()  # tiny weights are zeroed
    assert not np.array_equal(W, design(p, DesignConfig(runs=40, seed=4), prior).mixtures)


def test_tight_polytope_falls_back_to_hit_and_run():
    # Dirichlet draws almost never satisfy 0.49 <= a + b <= 0.51 and c >= 0.3 together.
    p = Polytope(SRC, (group_sum("ab", ["a", "b"], ">=", 0.49), group_sum("ab2", ["a", "b"], "<=", 0.51),
                       *bound("c", "c", lo=0.3)))
    d = design(p, DesignConfig(runs=12, seed=0, max_tries=2), np.full(5, 0.2))
    assert len(d.mixtures) == 12 and p.contains(d.mixtures).all() and "hit-and-run" in d.origin


def test_spacefilling_spreads_points():
    p = Polytope(SRC)
    d = design(p, DesignConfig(method="spacefilling", runs=10, seed=0), np.full(5, 0.2))
    dist = np.linalg.norm(d.mixtures[:, None] - d.mixtures[None], axis=2) + np.eye(10)
    assert p.contains(d.mixtures).all() and dist.min() > 0.2


def test_a_single_point_cannot_hold_many_runs():
    p = Polytope(("a", "b"), (*bound("fix", "a", lo=0.3, hi=0.3),))
    with pytest.raises(ValueError, match="only 1 distinct"):
        design(p, DesignConfig(runs=3, seed=0), np.full(2, 0.5))
