"""Synthetic runs with a known answer: losses from a power law in effective data, plus noise."""

import numpy as np

SOURCES = ("web", "code", "books", "math")


def true_loss(W: np.ndarray) -> np.ndarray:
    W = np.atleast_2d(W)
    a, beta = np.array([8.0, 1.0, 3.0, 0.5]), np.array([0.6, 1.0, 0.5, 0.8])
    web = 3.0 + 2.0 * (1 + (np.where(W > 0, W, 0) ** beta) @ a) ** -0.4
    code = 2.5 + 1.5 * np.exp(-2.0 * W[:, 1] - 0.3 * W[:, 3])
    return np.stack([web, code], axis=1)


def make_runs(n: int = 80, seed: int = 0):
    rng = np.random.default_rng(seed)
    W = rng.dirichlet(np.full(4, 0.7), size=n)
    return W, true_loss(W) + rng.normal(0, 0.002, size=(n, 2))
