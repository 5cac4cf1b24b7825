"""Mixture controllers: the mixture each training step's batch is drawn from, and how it moves.

A controller answers `weights(step)`, the mixture batch `step` is drawn from (the sampler
keeps batches a pure function of (step, weights)), and keeps whatever else it needs as plain
JSON state that goes into every checkpoint, so a resumed run continues exactly:

  Static    one mixture throughout (a job without `control`).
  Phases    piecewise: phase i's mixture from its start step on (pre-training, then annealing).
  DoReMi    Group DRO against a reference model (Xie et al. 2023, "DoReMi: Optimizing Data
            Mixtures Speeds Up Language Model Pretraining", Algorithm 1). Batches are drawn
            from the starting mixture; at step t the per-domain excess loss
            lambda_i = mean over domain i's tokens of max(loss_proxy - loss_ref, 0) (each domain's
            own mean, not a mean over all tokens, which would favour the domains with more
            tokens in the batch) moves the domain weights by exponentiated gradient,
            alpha' = alpha * exp(eta * lambda), then alpha = (1 - c) alpha' / sum(alpha') + c u,
            u uniform; the step's loss is sum_i alpha_i x (domain i's mean loss). The result is
            the average of alpha over the steps. Without enough smoothing c the weights go
            near one-hot; without a reference trained on the starting mixture (uniform, as
            in the paper, not the natural one) the excess loss measures the wrong thing.
  Aioli     the linear dynamic mixing law estimated online (Chen et al. 2024, "Aioli: A
            Unified Optimization Framework for Language Model Data Mixing", Algorithms 1-2):
            the run is cut into T rounds; the first `learn_fraction` of a round probes each
            source j, `sweeps` times, with the mixture (1 - eps) e_j + eps u for an interval
            of steps, measuring every source's loss before and after; the loss drops
            Delta_i = L_i(before) - L_i(after) ~ sum_j A_ij p_j give A by least squares; then
            p <- p * exp(eta * sum_i A_ij), normalised, trains the rest of the round. The
            result is the average of p over the steps trained on it (the probes left out).

`schedule()` is the weights over steps (each change, with its first step), what the report
shows. numpy only: the torch side (the reference model's losses, the loss measurements) is
the train loop's; this module reads no file and knows nothing of models.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from mixc.jobfile import JobError
from mixc.jobs import AioliControl, DoReMiControl, MixtureControl, Phase

STATE_VERSION = 1
Weights = np.ndarray  # one float64 per source, summing to 1


def _normalised(w: np.ndarray) -> np.ndarray:
    return np.asarray(w, dtype=np.float64) / float(np.sum(w))


class Controller:
    """The mixture of every step; subclasses change it. State is JSON-able and restorable."""

    kind = "static"

    def __init__(self, weights: Sequence[float]):
        self.start = _normalised(weights)
        self.changes: list[tuple[int, list[float]]] = []

    def weights(self, step: int) -> Weights:
        """The mixture batch `step` is drawn from, given the state (a pure function of both)."""
        return self.start

    def draw(self, step: int) -> Weights:
        """The mixture of batch `step`, once per trained step: recorded in the schedule."""
        w = self.weights(step)
        self.record(step, w)
        return w

    def support(self) -> Weights:
        """A mixture positive on every source any step may draw from (what the sampler loads)."""
        return self.start

    def learned(self) -> list[float]:
        """The mixture this controller arrives at, for a run that trains on it afterwards."""
        return self.start.tolist()

    def schedule(self) -> list[list[Any]]:
        """[[first step, [w, ...]], ...]: every mixture the run moved to, in order."""
        return [[step, w] for step, w in self.changes]

    def record(self, step: int, weights: Weights) -> None:
        w = weights.tolist()
        if self.changes and self.changes[-1][0] == step:
            self.changes[-1] = (step, w)
        elif not self.changes or self.changes[-1][1] != w:
            self.changes.append((step, w))

    def state_dict(self) -> dict[str, Any]:
        return {"version": STATE_VERSION, "kind": self.kind, "changes": [[s, w] for s, w in self.changes]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION or state.get("kind") != self.kind:
            raise JobError(f"the checkpoint's mixture state is for {state.get('kind')!r} (version "
                           f"{state.get('version')!r}), this run has {self.kind!r} (version {STATE_VERSION})")
        self.changes = [(int(s), [float(x) for x in w]) for s, w in state["changes"]]


class Phases(Controller):
    """Piecewise mixtures: `starts[i]` is the first step of `mixtures[i]` (starts[0] is 0)."""

    kind = "phases"

    def __init__(self, starts: Sequence[int], mixtures: Sequence[Sequence[float]]):
        super().__init__(mixtures[0])
        self.starts = list(starts)
        self.mixtures = [_normalised(m) for m in mixtures]

    def weights(self, step: int) -> Weights:
        return self.mixtures[int(np.searchsorted(self.starts, step, side="right")) - 1]

    def support(self) -> Weights:
        return _normalised(np.sum(self.mixtures, axis=0))

    def learned(self) -> list[float]:
        return self.mixtures[-1].tolist()


class DoReMi(Controller):
    """DoReMi's domain weights alpha (the module's docstring has the update); batches are drawn
    from the starting mixture throughout, the weights act on the loss."""

    kind = "doremi"
    POINTS = 100  # alpha moves every step: the schedule keeps about this many of them

    def __init__(self, weights: Sequence[float], config: DoReMiControl, steps: int):
        super().__init__(weights)
        n = len(self.start)
        self.eta, self.c = config.step_size, config.smoothing
        self.uniform = np.full(n, 1.0 / n)
        self.alpha = self.start.copy()  # alpha_0: the starting mixture (uniform in the paper)
        self.alpha_sum = np.zeros(n)
        self.updates = 0
        self.every = max(1, steps // self.POINTS)

    def draw(self, step: int) -> Weights:
        return self.start

    def update(self, step: int, excess: np.ndarray) -> Weights:
        """alpha_t from step t's per-domain excess losses [n] (each domain's own mean of the
        clipped excess; 0 for a domain with no row in the batch); returns the weights of step
        t's loss."""
        lam = np.maximum(np.asarray(excess, dtype=np.float64), 0.0)
        # exp(eta * lambda) shifted by its maximum: the same ratios, no overflow.
        raised = self.alpha * np.exp(self.eta * (lam - lam.max()))
        self.alpha = (1 - self.c) * raised / raised.sum() + self.c * self.uniform
        self.alpha_sum += self.alpha
        self.updates += 1
        if step % self.every == 0:
            self.record(step, self.alpha)
        return self.alpha

    def learned(self) -> list[float]:
        return (self.alpha_sum / self.updates).tolist() if self.updates else self.alpha.tolist()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "alpha": self.alpha.tolist(), "alpha_sum": self.alpha_sum.tolist(),
                "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.alpha = np.array(state["alpha"], dtype=np.float64)
        self.alpha_sum = np.array(state["alpha_sum"], dtype=np.float64)
        self.updates = int(state["updates"])


class Aioli(Controller):
    """Aioli's rounds of probes and updates (the module's docstring has the method). Before
    each step the train loop asks `measures(step)` and, if so, hands `observe` every source's
    loss; the round's last measurement moves p."""

    kind = "aioli"

    def __init__(self, weights: Sequence[float], config: AioliControl, steps: int, seed: int):
        super().__init__(weights)
        n = len(self.start)
        self.config, self.n = config, n
        self.p = self.start.copy()
        if not config.fits(steps, n):
            raise JobError(f"aioli: {steps} steps in {config.rounds} rounds cannot hold {config.sweeps * n} probes "
                           "a round and still train on what they found; give fewer rounds or sweeps, or more steps")
        self.round_steps, self.interval = config.layout(steps, n)
        self.probe_steps = self.interval * config.sweeps * n
        # The order the sources are probed in, sweep by sweep and round by round: a function of the seed.
        rng = np.random.default_rng([seed, 2])
        self.order = [np.concatenate([rng.permutation(n) for _ in range(config.sweeps)])
                      for _ in range(config.rounds)]
        self.losses: list[list[float]] = []  # this round's measurements so far
        self.p_sum, self.p_steps = np.zeros(n), 0

    def _where(self, step: int) -> tuple[int, int]:
        """(round, offset in the round); the last round takes the steps left over."""
        r = min(step // self.round_steps, self.config.rounds - 1)
        return r, step - r * self.round_steps

    def probe(self, r: int, k: int) -> Weights:
        """Probe k of round r: 1 - eps on its source, eps shared uniformly."""
        eps = self.config.smoothing
        w = np.full(self.n, eps / self.n)
        w[self.order[r][k]] += 1 - eps
        return w

    def weights(self, step: int) -> Weights:
        r, offset = self._where(step)
        return self.probe(r, offset // self.interval) if offset < self.probe_steps else self.p

    def draw(self, step: int) -> Weights:
        if self._where(step)[1] >= self.probe_steps:
            self.p_sum += self.p
            self.p_steps += 1
        return super().draw(step)

    def support(self) -> Weights:
        return np.full(self.n, 1.0 / self.n)

    def measures(self, step: int) -> bool:
        """Whether the losses are measured before step `step`: at each probe's start and at the last one's end."""
        _, offset = self._where(step)
        return offset <= self.probe_steps and offset % self.interval == 0

    def observe(self, step: int, losses: Sequence[float]) -> None:
        """Each source's loss before step `step` (a step `measures` names)."""
        r, offset = self._where(step)
        self.losses.append([float(x) for x in losses])
        if offset < self.probe_steps:
            return
        drops = -np.diff(np.array(self.losses), axis=0)  # [probes, n]: L_i before - after each probe
        mixtures = np.stack([self.probe(r, k) for k in range(len(drops))])
        self.p = aioli_update(self.p, mixtures, drops, self.config.step_size)
        self.losses = []

    def learned(self) -> list[float]:
        return (self.p_sum / self.p_steps).tolist() if self.p_steps else self.p.tolist()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "p": self.p.tolist(), "losses": self.losses,
                "p_sum": self.p_sum.tolist(), "p_steps": self.p_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.p = np.array(state["p"], dtype=np.float64)
        self.losses = [[float(x) for x in row] for row in state["losses"]]
        self.p_sum = np.array(state["p_sum"], dtype=np.float64)
        self.p_steps = int(state["p_steps"])


def estimate_law(mixtures: np.ndarray, drops: np.ndarray) -> np.ndarray:
    """A [n, n] of the linear dynamic mixing law, drops[r, i] ~ sum_j A_ij mixtures[r, j], by
    least squares over the probes r (Aioli's LearnParams)."""
    solution, *_ = np.linalg.lstsq(mixtures, drops, rcond=None)  # [n (j), n (i)]
    return solution.T


def aioli_update(p: np.ndarray, mixtures: np.ndarray, drops: np.ndarray, step_size: float) -> Weights:
    """p <- p * exp(eta * sum_i A_ij), normalised (Aioli, Algorithm 1)."""
    gain = estimate_law(mixtures, drops).sum(axis=0)
    raised = p * np.exp(step_size * (gain - gain.max()))
    return raised / raised.sum()


def build(control: MixtureControl | None, weights: list[float] | None, steps: int, seed: int,
          phase_weights: Callable[[Phase], list[float]]) -> Controller:
    """The controller of a train job: `weights` its fixed (or starting) mixture; `phase_weights`
    reads a phase's mixture (inline or from the file that decides it)."""
    if control is None:
        return Controller(weights)
    if control.kind == "phases":
        return Phases([p.start for p in control.phases], [phase_weights(p) for p in control.phases])
    if control.kind == "doremi":
        return DoReMi(weights, control.doremi, steps)
    return Aioli(weights, control.aioli, steps, seed)
