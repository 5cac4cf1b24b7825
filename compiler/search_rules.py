"""The `mixc check` hooks for the search: enough proxy runs for the law to be fitted and
cross-validated honestly (E104: every round's, at every fidelity); fidelities listed by rising
cost (E026); for Aioli, rounds that hold their probes (E026).

The rule and every law's parameter count are `compiler/mixture/sizes.py`'s, the same numbers
the fit job enforces when it runs, so a spec that passes here is never stopped there for its
number of runs; Aioli's round layout is `mixc.jobs.AioliControl`'s, the one the trainer runs.
Pure Python: this module must not import numpy or anything that fits.
"""

from __future__ import annotations

from mixc.compiler.mixture import sizes
from mixc.jobs import AioliControl
from mixc.spec.diagnostics import Diagnostic
from mixc.spec.experiment import Experiment, RecipeSpec


def recipe_steps(experiment: Experiment, recipe: RecipeSpec) -> int:
    """Optimizer steps of a run of `recipe`: its tokens in batches of full windows, at least one."""
    return max(1, -(-recipe.tokens // (recipe.batch * experiment.model(recipe.model).seq_len)))


def online_recipes(experiment: Experiment) -> list[RecipeSpec]:
    """The recipes whose runs carry an online search's controller: its proxy's, and with
    `apply: online` the final recipe's too (the chosen runs adapt themselves)."""
    s = experiment.search
    if s is None or s.online is None:
        return []
    names = [s.recipe] + ([experiment.final] if s.online.apply == "online" and experiment.final else [])
    return [experiment.recipe(n) for n in dict.fromkeys(names)]


def aioli_control(experiment: Experiment) -> AioliControl:
    """The search aioli's parameters as the train job carries them."""
    o = experiment.search.online
    return AioliControl(rounds=o.rounds, learn_fraction=o.learn_fraction, sweeps=o.sweeps, smoothing=o.smoothing,
                        step_size=o.step_size, eval_tokens=o.eval_tokens)


def search_diagnostics(experiment: Experiment) -> list[Diagnostic]:
    """E104 at the search's `runs:` entry when the runs are too few for its law and sources;
    E026 at aioli's `rounds:` when a run it steers is too short for its rounds of probes."""
    search = experiment.search
    if search is None:
        return []
    n_sources = len(experiment.sources)
    if search.method == "aioli":
        control = aioli_control(experiment)
        return [Diagnostic("E026", f"train {r.name} has {recipe_steps(experiment, r)} steps: {control.rounds} rounds of "
                           f"{control.sweeps * n_sources} probes (sweeps x sources), each at least one step, take more "
                           "than the learn_fraction of each round", search.runs_span,
                           help="give fewer rounds or sweeps, a larger learn_fraction, or more tokens")
                for r in online_recipes(experiment) if not control.fits(recipe_steps(experiment, r), n_sources)]
    if search.online is not None:
        return []
    found = fidelity_order(experiment)
    if search.proxy_runs < sizes.runs_needed(search.law, n_sources):
        counted = f" ({search.runs} a round x {search.rounds} rounds x {len(search.proxy_recipes)} fidelities)" \
            if search.proxy_runs != search.runs else ""
        found.append(Diagnostic("E104", f"{sizes.requirement(search.law, n_sources)}; the search has "
                                f"{search.proxy_runs}{counted}", search.runs_span, help=sizes.remedy(search.law, n_sources)))
    return found


def fidelity_order(experiment: Experiment) -> list[Diagnostic]:
    """E026 at `fidelities` when a fidelity costs no fewer FLOPs than the one after it: they are
    listed cheapest first, and the last is the one the result is for."""
    from mixc.compiler.budget import tokenizer_vocab, train_flops

    s = experiment.search
    if len(s.fidelities) < 2:
        return []
    try:
        vocab = tokenizer_vocab(experiment)
    except (OSError, ValueError, KeyError):
        return []  # an unreadable tokenizer is the budget check's to report (E103)
    flops = [train_flops(experiment, experiment.recipe(name), vocab) for name in s.fidelities]
    for (a, fa), (b, fb) in zip(zip(s.fidelities, flops), zip(s.fidelities[1:], flops[1:])):
        if fa >= fb:
            return [Diagnostic("E026", f"`fidelities` are listed cheapest first, but `{a}` ({fa:.3g} FLOPs a run) "
                               f"costs no less than `{b}` after it ({fb:.3g})", s.fidelities_span,
                               help="list the recipes by rising cost, the one the result is for last")]
    return []
