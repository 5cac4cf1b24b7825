"""The next round's mixtures, proposed from every run measured so far: a search in rounds.

A one-shot search draws its proxy mixtures once, so its solve can only reach as far as that
draw did. A search in rounds trains a first design, then asks `propose` for each later round's
mixtures (and, with several fidelities, the proxy recipe each is trained at), from all runs
of all earlier rounds. Three methods, all on one surrogate, the Gaussian-process law
(`laws/gp.py`: it fits from two runs and says how sure it is), so that they differ only in
how they propose:

- "climb", after CLIMB (Diao et al. 2025, arXiv:2504.13161, sec. 3): many candidates drawn
  from the polytope are scored by the surrogate's mean, the best predicted
  (ELITE_SHARE of the batch) are kept, and each proposal is an elite moved towards another
  point of the polytope by a share `spread` that shrinks geometrically from CLIMB_SPREAD[0]
  at the first round to CLIMB_SPREAD[1] at the last: exploration first, then refinement
  around what the law believes best. CLIMB's own predictor is LightGBM, which cannot fit
  two runs. Climb always trains at the target (last) fidelity, as CLIMB trains each
  iteration at one proxy size; its surrogate still reads the runs of every fidelity.
- "ei": expected improvement over the incumbent (Jones, Schonlau & Welch 1998, J. Global
  Optim. 13), the incumbent being the least posterior mean at the runs' mixtures, the
  plug-in that noisy runs need (Picheny et al. 2013, Struct. Multidiscip. Optim. 48).
- "ucb": the lower confidence bound mu - UCB_KAPPA sigma (GP-UCB, Srinivas et al. 2010,
  with a constant kappa), scored as the optimistic improvement incumbent - (mu - kappa sigma).

The acquisition is maximised over CANDIDATES polytope samples, refined by local draws
around the REFINE_TOP best, all inside the polytope (convex combinations of its points). A
round's batch is chosen greedily by the constant liar (Ginsbourger, Le Riche & Carraro 2010,
"Kriging is well-suited to parallelize optimization"): after each pick the surrogate is
conditioned on the lie that the pick measured the incumbent, which raises the mean and
shrinks the variance around it by the posterior covariance, so that the next pick goes
elsewhere. The kriging believer (the lie = the prediction itself) was tried first: it lowers
the incumbent to the believed value, and after one optimistic pick every other candidate's
improvement was near zero, so the rest of the batch fell anywhere. Either needs no refit,
only the pool's posterior covariance and one rank-one update per pick, and spreads a batch
without a Lipschitz constant, which local penalisation (Gonzalez et al. 2016) would have to
estimate on a simplex.

Several fidelities (`costs`, one per fidelity, cheapest first, the last the target): each
fidelity's objective is standardised by its own runs' mean and spread (a smaller proxy's loss
sits higher, an offset a stationary kernel would take for unrelated fidelities), the
surrogate takes the fidelity as one more input (the GP's ARD lengthscale learns how far the
standardised fidelities still disagree), and each pick chooses mixture and fidelity together, cost-aware in the
manner of ADMIRE-BayesOpt (Chen et al. 2025, arXiv:2508.11551), by the augmented expected
improvement of Huang et al. (2006, "Sequential kriging optimization using multiple-fidelity
evaluations", Struct. Multidiscip. Optim. 32): the improvement at the target times the
posterior correlation between the fidelity's loss and the target's at that mixture, times the
cost ratio c_target / c_fidelity. (Huang's term for a fidelity's own noise is left out: the
law's noise is one for all fidelities.) A cheap run is chosen where it still tells about the
target; the liar lowers that correlation where cheap runs were already placed.
Every batch keeps at least one run at the target fidelity, so the target's level is measured.

This module proposes mixtures only: it reads and writes no files and trains nothing. Bad
input is a ValueError that says what is wrong; it never lets a numerical traceback out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mixc.compiler.mixture.laws.base import NUMERICAL_ERRORS, fit_checked
from mixc.compiler.mixture.laws.gp import GaussianProcessLaw
from mixc.compiler.mixture.polytope import Polytope
from mixc.compiler.mixture.solve import candidates

METHODS = ("climb", "ei", "ucb")
CANDIDATES = 4096  # polytope samples scored per round
ELITE_SHARE = 0.25  # climb: the best predicted kept, as a share of the batch (at least one)
CLIMB_SPREAD = (0.5, 0.05)  # climb: how far towards another candidate proposals move, first round and last
UCB_KAPPA = 2.0
REFINE_TOP, REFINE_EACH, REFINE_SPREAD = 32, 16, 0.05  # local draws around the best candidates
POOL = 512  # candidates the batch is chosen from (at least 8 per proposal)
FIDELITY = "fidelity"  # the surrogate's extra input with several fidelities


@dataclass(frozen=True)
class RunsSoFar:
    mixtures: np.ndarray  # (n, d) weights of every run measured so far, all rounds
    objective: np.ndarray  # (n,) the objective's value at each run, lower is better
    fidelity: np.ndarray  # (n,) int: index into the search's fidelities, 0 = cheapest; the last is the target

    def __post_init__(self) -> None:
        W, y, f = (np.asarray(a) for a in (self.mixtures, self.objective, self.fidelity))
        if W.ndim != 2 or y.shape != (len(W),) or f.shape != (len(W),):
            raise ValueError(f"the runs so far need mixtures (n, sources), objective (n,) and fidelity (n,); "
                             f"got shapes {W.shape}, {y.shape} and {f.shape}")


@dataclass(frozen=True)
class Proposal:
    mixtures: np.ndarray  # (m, d), each inside the polytope
    fidelity: tuple[int, ...]  # (m,) the fidelity each proposal is to be trained at
    scores: tuple[float, ...]  # (m,) what chose it: predicted objective (climb) or acquisition value (ei, ucb)


def propose(method: str, poly: Polytope, runs: RunsSoFar, n: int, *, round: int, rounds: int,
            costs: tuple[float, ...] = (1.0,), seed: int) -> Proposal:
    """n mixtures (and their fidelities) for round `round` of `rounds`, from all runs so far.

    `round` counts the proposed rounds from 1 (the first design is round 0 and is not proposed
    here); climb's spread shrinks with round / rounds. `costs` holds one cost per fidelity,
    cheapest first; runs' fidelities index it. Seeded: the same arguments give the same proposal.
    """
    from threadpoolctl import threadpool_limits

    _check(method, poly, runs, n, round, rounds, costs)
    rng = np.random.default_rng(seed)
    with threadpool_limits(limits=1, user_api="blas"):  # small matrices; and the same sums every time
        law = _surrogate(runs, len(costs), int(rng.integers(2**31)))
        try:
            with np.errstate(all="ignore"):
                if method == "climb":
                    return _climb(law, poly, runs, n, round / rounds, len(costs), rng)
                return _acquire(method, law, poly, runs, n, costs, rng)
        except NUMERICAL_ERRORS as exc:
            raise ValueError(f"the {method} proposal failed on these runs: {exc}") from None


def _check(method: str, poly: Polytope, runs: RunsSoFar, n: int, round: int, rounds: int,
           costs: tuple[float, ...]) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown proposal method {method!r} (one of {', '.join(METHODS)})")
    if n < 1:
        raise ValueError(f"a round needs at least one proposal, not {n}")
    if rounds < 1 or not 1 <= round <= rounds:
        raise ValueError(f"round {round} of {rounds}: rounds count from 1 up to the number of rounds")
    if len(costs) < 1 or not all(math.isfinite(c) and c > 0 for c in costs):
        raise ValueError(f"fidelity costs must be positive numbers, one per fidelity; got {tuple(costs)}")
    W, y, f = (np.asarray(a) for a in (runs.mixtures, runs.objective, runs.fidelity))
    if W.shape[1] != poly.dim:
        raise ValueError(f"the runs' mixtures have {W.shape[1]} weights, the polytope {poly.dim} sources")
    if len(W) < 2:
        raise ValueError(f"proposing needs at least 2 measured runs, got {len(W)}")
    if not (np.all(np.isfinite(W.astype(float))) and np.all(np.isfinite(y.astype(float)))):
        bad = sorted(set(np.flatnonzero(~np.isfinite(W.astype(float)).all(1) | ~np.isfinite(y.astype(float)))))
        raise ValueError(f"runs {', '.join(map(str, bad[:5]))} have non-finite mixtures or objectives")
    if not np.all(np.equal(np.mod(f, 1), 0)) or f.min() < 0 or f.max() >= len(costs):
        raise ValueError(f"run fidelities must be integers from 0 to {len(costs) - 1} "
                         f"({len(costs)} fidelities); got {sorted(set(f.tolist()))}")


def _inputs(W: np.ndarray, fidelity: np.ndarray | int, fidelities: int) -> np.ndarray:
    """The surrogate's inputs: the mixture, and with several fidelities the fidelity as one more
    column, squared so that the GP's sqrt warp spaces fidelities evenly from 0 to 1."""
    if fidelities == 1:
        return W
    f = np.broadcast_to(np.asarray(fidelity, dtype=float), (len(W),)) / (fidelities - 1)
    return np.column_stack([W, f * f])


def _levels(runs: RunsSoFar, fidelities: int) -> tuple[np.ndarray, np.ndarray]:
    """Each fidelity's mean and standard deviation of the objective over its runs (the pooled
    ones for a fidelity with no runs, or no spread)."""
    y, f = np.asarray(runs.objective, dtype=float), np.asarray(runs.fidelity).astype(int)
    mean, sd = np.full(fidelities, y.mean()), np.full(fidelities, y.std() if y.std() > 0 else 1.0)
    for l in range(fidelities):
        if np.any(f == l):
            mean[l] = y[f == l].mean()
            sd[l] = y[f == l].std() if y[f == l].std() > 0 else sd[l]
    return mean, sd


def _surrogate(runs: RunsSoFar, fidelities: int, seed: int) -> GaussianProcessLaw:
    """The GP law on the runs, each fidelity's objective standardised by its own level and spread:
    a smaller proxy's loss sits higher, and a stationary kernel could follow that offset only by
    declaring the fidelities unrelated. What is left, the fidelity input models."""
    W = np.asarray(runs.mixtures, dtype=float)
    f = np.asarray(runs.fidelity).astype(int)
    mean, sd = _levels(runs, fidelities)
    y = (np.asarray(runs.objective, dtype=float) - mean[f]) / sd[f]
    names = tuple(f"w{i}" for i in range(W.shape[1])) + ((FIDELITY,) if fidelities > 1 else ())
    return fit_checked(GaussianProcessLaw, _inputs(W, f, fidelities), y[:, None], names, ("objective",), seed=seed)


def _around(centres: np.ndarray, spread: float, poly: Polytope, rng: np.random.Generator) -> np.ndarray:
    """Each centre moved a share `spread` of the way to a point of the polytope (`_candidates`'
    kind): inside it, since both ends are (the polytope is convex), and equality constraints hold."""
    U = candidates(poly, len(centres), seed=int(rng.integers(2**31)))
    return centres + spread * (U - centres)


def _candidates(poly: Polytope, runs: RunsSoFar, rng: np.random.Generator) -> np.ndarray:
    """The solve's candidates (half sparse Dirichlet draws, half uniform samples of the polytope),
    and the runs' own mixtures that lie inside it. Uniform samples alone never come near a corner
    in many dimensions (at 17 sources their largest weight is about 0.2), and the best mixture for
    one domain's loss often lies there: on the RegMix runs, 94.5% Pile-CC for Pile-CC's loss."""
    W = np.asarray(runs.mixtures, dtype=float)
    return np.vstack([candidates(poly, CANDIDATES, seed=int(rng.integers(2**31))), W[poly.contains(W)]])


def _climb(law: GaussianProcessLaw, poly: Polytope, runs: RunsSoFar, n: int, progress: float, fidelities: int,
           rng: np.random.Generator) -> Proposal:
    target = fidelities - 1
    C = _candidates(poly, runs, rng)
    mean = law.predict(_inputs(C, target, fidelities))[:, 0]
    elites = C[np.argsort(mean, kind="stable")[:max(1, math.ceil(ELITE_SHARE * n))]]
    spread = CLIMB_SPREAD[0] * (CLIMB_SPREAD[1] / CLIMB_SPREAD[0]) ** progress
    W = _around(elites[np.arange(n) % len(elites)], spread, poly, rng)
    mean_t, sd_t = (a[target] for a in _levels(runs, fidelities))
    scores = mean_t + sd_t * law.predict(_inputs(W, target, fidelities))[:, 0]
    return Proposal(W, (target,) * n, tuple(float(s) for s in scores))


def _gain(method: str, mean: np.ndarray, sd: np.ndarray, incumbent: float) -> np.ndarray:
    """Expected improvement, or the optimistic improvement incumbent - LCB, over the incumbent."""
    from scipy.stats import norm

    if method == "ucb":
        return incumbent - (mean - UCB_KAPPA * sd)
    sd = np.maximum(sd, 1e-12 * max(1.0, abs(incumbent)))
    z = (incumbent - mean) / sd
    return (incumbent - mean) * norm.cdf(z) + sd * norm.pdf(z)


def _acquire(method: str, law: GaussianProcessLaw, poly: Polytope, runs: RunsSoFar, n: int,
             costs: tuple[float, ...], rng: np.random.Generator) -> Proposal:
    F = len(costs)
    target = F - 1
    incumbent = float(law.predict(_inputs(np.asarray(runs.mixtures, dtype=float), target, F))[:, 0].min())

    def gain_at_target(C: np.ndarray) -> np.ndarray:
        X = _inputs(C, target, F)
        return _gain(method, law.predict(X)[:, 0], law.predict_std(X)[:, 0], incumbent)

    C = _candidates(poly, runs, rng)
    g = gain_at_target(C)
    best = C[np.argsort(-g, kind="stable")[:REFINE_TOP]]
    local = _around(np.repeat(best, REFINE_EACH, axis=0), REFINE_SPREAD, poly, rng)
    C, g = np.vstack([C, local]), np.concatenate([g, gain_at_target(local)])
    pool = C[np.argsort(-g, kind="stable")[:max(POOL, 8 * n)]]
    P = len(pool)

    # Rows (mixture i, fidelity l) at i * F + l; the batch conditions their joint posterior.
    X = np.vstack([_inputs(pool[i:i + 1], l, F) for i in range(P) for l in range(F)])
    mean, cov = law.predict(X)[:, 0], law.posterior_cov(X, X)
    known = 1e-10 * max(float(np.max(np.diag(cov))), 1e-300)  # a variance this small is already known
    ratio = costs[target] / np.asarray(costs, dtype=float)
    used = np.zeros(P, dtype=bool)
    picks, fids, scores = [], [], []
    for k in range(n):
        var = np.maximum(np.diag(cov), 0.0).reshape(P, F)
        tgt = np.arange(P) * F + target
        gain = _gain(method, mean[tgt], np.sqrt(var[:, target]), incumbent)
        corr = cov[tgt[:, None], np.arange(P)[:, None] * F + np.arange(F)[None, :]]
        corr = np.clip(corr / np.sqrt(np.maximum(var * var[:, target:target + 1], 1e-300)), 0.0, 1.0)
        corr[:, target] = 1.0
        value = np.maximum(gain, 0.0)[:, None] * corr * ratio[None, :]
        if k == n - 1 and target not in fids:
            value[:, :target] = 0.0  # every batch measures the target at least once
        value[used] = -np.inf
        if np.max(value) > 0:
            # the highest fidelity among equal values: reversed columns make argmax prefer it
            flat = int(np.argmax(value[:, ::-1]))
            i, l = flat // F, target - flat % F
            score = float(value[i, l])
        else:  # no improvement expected anywhere: the best gain, at the target
            i = int(np.argmax(np.where(used, -np.inf, gain)))
            l, score = target, float(gain[i])
        picks.append(i)
        fids.append(l)
        scores.append(score)
        used[i] = True
        # Constant liar: condition on f(row) = the incumbent, exactly.
        row = i * F + l
        c = cov[:, row].copy()
        if c[row] > known:
            mean += c * ((incumbent - mean[row]) / c[row])
            cov -= np.outer(c, c) / c[row]
    sd_t = _levels(runs, F)[1][target]  # the gains are in the target's standardised units
    return Proposal(pool[picks], tuple(fids), tuple(float(sd_t * v) for v in scores))
