"""Searching in rounds against one shot, on a simulated oracle made from the public RegMix runs.

Training a proxy is simulated: the oracle is a mixing law fitted on all 768 RegMix runs
(../shared/data/regmix, MIT; Liu et al. 2024; 17 Pile domains, target Pile-CC validation loss),
chosen among ORACLES by its 5-fold out-of-fold RMSE, and an "evaluation" of a mixture is the
oracle's loss there plus Gaussian noise. The noise level is measured: the noise standard
deviation of the Gaussian-process law fitted on all the runs (its nugget, what the runs scatter
about a smooth surface). The search space is the simplex capped at each domain's largest
weight in the runs, where the oracle has seen data.

At equal numbers of evaluations n (16, 32, 64), each method spends them its own way:
  oneshot  the project's design (RegMix Dirichlet draws around the runs' mean mixture), n at once
  climb    a first design of n/4, then 3 rounds of n/4 proposed by compiler.mixture.rounds
  ei       the same schedule, proposals by expected improvement
  ucb      the same schedule, proposals by the lower confidence bound
Every method's mixture is chosen by one rule, the project's solve job: the Gaussian-process
law fitted on the method's runs, solved inside the search space and the runs' range. Its
regret is the oracle's loss at the chosen mixture minus the least oracle loss known inside the
space (the oracle solved, a dense sample, and every mixture any method met or chose), in nats.

Figures, over SEEDS seeds (each seed its own designs and noise):
  regret_<method>_<n>      mean regret of the chosen mixture
  regret_sd_<method>_<n>   its standard deviation over the seeds
  found_<method>_<n>       mean regret of the best measured run (noise and all), for comparison
  oracle_oof_rmse, oracle_oof_spearman, oracle_noise_sd   what the oracle is
A method that does no better than one shot is reported as measured. The RegMix runs are all of
one model size, so there is no multi-fidelity variant here. The GP law is the oracle by its
fit, and the proposals' surrogate too; `--oracle powerlaw` (a law of another family, second by
its fit) checks that this does not decide the ranking. About 2 minutes on one core; --quick:
n of 16 and 32, 3 seeds. Run: python benchmarks/search_sim.py [--quick] [--oracle LAW] [--data DIR]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mixc.compiler.mixture.design import DesignConfig, design
from mixc.compiler.mixture.laws import fit_law
from mixc.compiler.mixture.laws.base import Law, fit_checked
from mixc.compiler.mixture.laws.gp import GaussianProcessLaw
from mixc.compiler.mixture.polytope import Polytope, sample
from mixc.compiler.mixture.rounds import RunsSoFar, propose
from mixc.compiler.mixture.runs_csv import load_runs
from mixc.compiler.mixture.solve import Objective, solve, within_support

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "regmix"
TARGET = "metric/the_pile_pile_cc_val_loss"
ORACLES = ("gp", "powerlaw", "powerlaw_tied", "lightgbm")
METHODS = ("oneshot", "climb", "ei", "ucb")
SIZES, QUICK_SIZES = (16, 32, 64), (16, 32)
SEEDS, QUICK_SEEDS = 10, 3
ROUNDS = 3  # proposed rounds after the first design; each round and the design a quarter of n
DENSE = 200_000  # oracle evaluations for the least loss known


@dataclass(frozen=True)
class Oracle:
    law: Law
    noise_sd: float
    space: Polytope  # the simplex capped at the runs' range
    prior: np.ndarray  # the runs' mean mixture, the one-shot design's centre

    def loss(self, W: np.ndarray) -> np.ndarray:
        return self.law.predict(np.atleast_2d(W))[:, 0]


def make_oracle(data: Path, name: str | None = None) -> Oracle:
    """The law of ORACLES with the least out-of-fold RMSE on all the runs, or the one named."""
    train = load_runs(data / "train_mixture_1m.csv", data / "train_pile_loss_1m.csv", [TARGET], "index")
    test = load_runs(data / "test_mixture_1m.csv", data / "test_pile_loss_1m.csv", [TARGET], "index",
                     sources=train.sources)
    X, Y = np.vstack([train.mixtures, test.mixtures]), np.vstack([train.losses, test.losses])
    laws = {name: fit_law(name, X, Y, train.sources, train.targets, cv_folds=5) for name in ORACLES}
    for candidate, law in laws.items():
        print(f"oracle candidate {candidate}: out-of-fold RMSE {law.cv['targets'][TARGET]['rmse']:.4f}, "
              f"Spearman {100 * law.cv['spearman']:.2f}")
    best = name or min(laws, key=lambda k: laws[k].cv["targets"][TARGET]["rmse"])
    gp = laws["gp"].params
    noise = float(np.sqrt(np.exp(gp["theta"][0][-1])) * gp["y_scale"][0])
    print(f"oracle: {best} on {len(X)} runs x {len(train.sources)} domains")
    print(f"figure oracle_oof_rmse {laws[best].cv['targets'][TARGET]['rmse']:.4f} nats")
    print(f"figure oracle_oof_spearman {100 * laws[best].cv['spearman']:.2f}")
    print(f"figure oracle_noise_sd {noise:.4f} nats")
    return Oracle(laws[best], noise, within_support(laws[best], Polytope(train.sources)), X.mean(0))


def search(method: str, oracle: Oracle, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The mixtures a method evaluates with n evaluations, and their noisy losses."""
    noise = np.random.default_rng([seed, n, METHODS.index(method)])

    def evaluate(W: np.ndarray) -> np.ndarray:
        return oracle.loss(W) + oracle.noise_sd * noise.standard_normal(len(W))

    first = n if method == "oneshot" else n // (ROUNDS + 1)
    W = design(oracle.space, DesignConfig("dirichlet", runs=first, seed=seed), oracle.prior).mixtures
    y = evaluate(W)
    for r in range(1, ROUNDS + 1) if method != "oneshot" else ():
        runs = RunsSoFar(W, y, np.zeros(len(W), dtype=int))
        new = propose(method, oracle.space, runs, n // (ROUNDS + 1), round=r, rounds=ROUNDS, seed=seed).mixtures
        W, y = np.vstack([W, new]), np.concatenate([y, evaluate(new)])
    return W, y


def chosen(oracle: Oracle, W: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The solve job's rule: the GP law on the runs, solved inside the space and the runs' range.

    Fitted directly, as the rounds fit it: `fit_law`'s size rule refuses gp below 21 runs at
    17 sources (a spare degree of freedom per parameter), which would leave n = 16 unjudged."""
    law = fit_checked(GaussianProcessLaw, W, y[:, None], oracle.space.sources, ("loss",))
    law = replace(law, support=tuple(float(x) for x in W.max(axis=0)))
    return solve(law, within_support(law, oracle.space), Objective(((1.0, "loss"),))).weights


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="n of 16 and 32, 3 seeds")
    parser.add_argument("--data", type=Path, default=DATA, help="the RegMix runs")
    parser.add_argument("--oracle", choices=ORACLES, default=None,
                        help="this oracle instead of the best cross-validated one (a check that a GP oracle "
                             "does not favour the GP-based proposals)")
    args = parser.parse_args()
    sizes, seeds = (QUICK_SIZES, QUICK_SEEDS) if args.quick else (SIZES, SEEDS)
    t0 = time.perf_counter()
    oracle = make_oracle(args.data, args.oracle)
    met = [sample(oracle.space, DENSE, seed=0)]
    picks, found = {}, {}
    for n in sizes:
        for method in METHODS:
            t = time.perf_counter()
            for seed in range(seeds):
                W, y = search(method, oracle, n, seed)
                picks[method, n, seed] = chosen(oracle, W, y)
                found[method, n, seed] = W[np.argmin(y)]
                met.append(W)
            print(f"{method} at {n} evaluations: {time.perf_counter() - t:.1f} s for {seeds} seeds")
    solved = solve(oracle.law, oracle.space, Objective(((1.0, TARGET),))).weights
    least = float(oracle.loss(np.vstack(met + [solved[None, :], np.array(list(picks.values()))])).min())
    print(f"least oracle loss known in the space: {least:.4f} nats")
    for n in sizes:
        for method in METHODS:
            regret = np.array([oracle.loss(picks[method, n, s])[0] - least for s in range(seeds)])
            best_run = np.array([oracle.loss(found[method, n, s])[0] - least for s in range(seeds)])
            print(f"figure regret_{method}_{n} {regret.mean():.4f} nats")
            print(f"figure regret_sd_{method}_{n} {regret.std(ddof=1):.4f} nats")
            print(f"figure found_{method}_{n} {best_run.mean():.4f} nats")
    print(f"figure search_sim_s {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
