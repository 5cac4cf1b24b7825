"""The propose job: a later round's proxy mixtures, from every run of the rounds before it.

Reads each earlier run's mixture (from the file and key it trained on) and its measured losses
(metrics.json), the objective's value at each, and asks `compiler.mixture.rounds.propose` for
`runs` mixtures at each fidelity, inside the constraints (epoch caps held at every fidelity's
training tokens). It reads the runs themselves, not a fitted law: after a small first round the
search's law may have too few runs to be fitted and cross-validated (E104's rule), while the
proposal's own surrogate fits from two.

The job graph is fixed before anything runs, so each round has `runs` train jobs at each
fidelity. The proposal picks each mixture's fidelity; taken in the order proposed (best
first), a mixture trains at its own fidelity while that one has room, else at the nearest that
has (the higher of two as near), and both are recorded. Writes `mixtures.json`:
    {"sources": [...], "tokens": {source: training tokens}, "method", "round",
     "mixtures": {"run0": [...], ...}, "fidelity": [fidelity of run0, ...],
     "proposed": [{"fidelity": the one the proposal picked, "score": what chose it}, ...]}
run<j> for j = fidelity x runs + i: the train jobs of fidelity l read run<l x runs> onwards.
This job trains nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from mixc.jobfile import JobError
from mixc.jobs import MeasuredRun, ProposeJob


def assign(picked: Sequence[int], runs: int, fidelities: int) -> list[int]:
    """The fidelity each proposal trains at, in the order proposed: its own while that has room
    (`runs` a round each), else the nearest with room, the higher of two as near."""
    room = [runs] * fidelities
    out = []
    for want in picked:
        got = min((f for f in range(fidelities) if room[f]), key=lambda f: (abs(f - want), -f))
        room[got] -= 1
        out.append(got)
    return out


def _measured(job: ProposeJob, run: MeasuredRun, files: dict[str, dict]) -> tuple[list[float], float]:
    """A run's mixture and the objective's value at it."""
    from mixc.compiler.jobs.fit import measured_losses
    from mixc.compiler.jobs.outputs import read_json
    from mixc.compiler.results_summary import objective_value

    path = run.mixture.path
    if path not in files:
        files[path] = read_json(path, "a round's mixtures")
    mixture = files[path]["mixtures"].get(run.mixture.key)
    if mixture is None:
        raise JobError(f"{path}: no mixture {run.mixture.key!r} (for the run in {run.output})")
    losses = measured_losses(run.output, job.eval_groups)
    o = job.objective
    value = objective_value({"kind": o.kind, "terms": [[t.coef, t.target] for t in o.terms]}, losses)
    if value is None:
        missing = sorted({t.target for t in o.terms} - set(losses))
        raise JobError(f"{run.output}/metrics.json: no loss for {', '.join(missing)}")
    return mixture, value


def run(job: ProposeJob) -> None:
    import numpy as np

    from mixc.atomic import atomic_directory, write_json
    from mixc.compiler.jobs.mixtures import polytope
    from mixc.compiler.jobs.outputs import read_json
    from mixc.compiler.mixture.rounds import RunsSoFar, propose

    tokens = read_json(Path(job.design) / "mixtures.json", "the design")["tokens"]
    poly = polytope(list(job.sources), job.constraints, tokens, job.tokens)
    files: dict[str, dict] = {}
    measured = [_measured(job, r, files) for r in job.measured]
    runs = RunsSoFar(np.array([m for m, _ in measured], dtype=float), np.array([v for _, v in measured]),
                     np.array([r.fidelity for r in job.measured], dtype=int))
    if not np.all(np.isfinite(runs.objective)):
        raise JobError("an earlier round's run has a loss that is not finite; see its metrics.json")
    fidelities = len(job.costs)
    try:
        proposal = propose(job.method, poly, runs, job.runs * fidelities, round=job.round, rounds=job.rounds - 1,
                           costs=job.costs, seed=job.seed + job.round)
    except ValueError as exc:
        raise JobError(f"proposing round {job.round}'s mixtures: {exc}") from None
    trained = assign(proposal.fidelity, job.runs, fidelities)
    filled = [0] * fidelities
    slots: dict[int, int] = {}  # run<j> -> the proposal it trains
    for i, f in enumerate(trained):
        slots[f * job.runs + filled[f]] = i
        filled[f] += 1
    order = [slots[j] for j in sorted(slots)]
    with atomic_directory(job.output) as tmp:
        write_json(Path(tmp) / "mixtures.json", {
            "sources": list(job.sources), "tokens": tokens, "method": job.method, "round": job.round,
            "mixtures": {f"run{j}": [float(x) for x in proposal.mixtures[i]] for j, i in enumerate(order)},
            "fidelity": [trained[i] for i in order],
            "proposed": [{"fidelity": int(proposal.fidelity[i]), "score": float(proposal.scores[i])} for i in order]})
