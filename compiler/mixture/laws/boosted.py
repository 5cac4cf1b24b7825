"""Gradient-boosted trees (LightGBM), the regressor RegMix uses (Liu et al. 2024, sec. 3.3):
1000 trees, learning rate 0.01. Not convex: the solve samples the polytope instead.
lightgbm is an optional extra (`pip install mixc[lightgbm]`), imported only when used."""

from __future__ import annotations

import numpy as np

from mixc.compiler.mixture.laws.base import Law

TREES = 1000
LEARNING_RATE = 0.01


def _lightgbm():
    try:
        import lightgbm
    except ImportError:
        raise ValueError("the lightgbm law needs the lightgbm package: pip install 'mixc[lightgbm]'") from None
    return lightgbm


class BoostedLaw(Law):
    name = "lightgbm"
    convex = False

    @classmethod
    def fit(cls, X, Y, sources, targets, seed=0):
        lgb = _lightgbm()
        params = {"objective": "regression", "learning_rate": LEARNING_RATE, "verbose": -1,
                  "seed": seed, "deterministic": True, "num_threads": 1,
                  "min_data_in_leaf": 20 if len(X) >= 40 else max(2, len(X) // 4)}
        models = [lgb.train(params, lgb.Dataset(X, Y[:, j]), num_boost_round=TREES).model_to_string()
                  for j in range(Y.shape[1])]
        return cls(tuple(sources), tuple(targets), {"models": models})

    def effective_parameters(self, n_runs: int) -> float:
        # A thousand trees can fit every run: no law is more flexible, so none ranks after it.
        return float(n_runs)

    def predict(self, W):
        lgb = _lightgbm()
        W = np.atleast_2d(np.asarray(W, dtype=float))
        return np.stack([lgb.Booster(model_str=m).predict(W) for m in self.params["models"]], axis=1)
