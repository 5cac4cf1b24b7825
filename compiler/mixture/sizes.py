"""How many runs a mixing law needs: its free parameters per target, as a function of the
number of sources, and the cross-validation rule built on that count.

The rule: a law is always judged by k-fold cross-validation with k >= 2 (Hastie, Tibshirani
and Friedman, *The Elements of Statistical Learning*, 2nd ed. 2009, sec. 7.10), and every
training fold holds more runs than the law has free parameters per target, at least
parameters + 1 (a spare degree of freedom), so no fold can interpolate its runs and the
out-of-fold figures measure prediction, not recall. k folds of n runs leave n - ceil(n / k)
runs in the smallest training fold, which only grows with k: two folds bind, so a law with
p parameters needs 2 (p + 1) runs, and then any k from 2 to n keeps the rule.

This module is the one place those counts live: the laws, the fit job and the `mixc check`
hook all read it. Pure Python, so `mixc check` decides it in the bare install; it must not
import numpy or fit anything.
"""

from __future__ import annotations

from typing import Callable

MIN_FOLDS = 2  # a fit is never judged on fewer folds
FOLDS = 5  # the most folds a fit uses
RULE = "each training fold has more runs than the law has free parameters per target (at least parameters + 1)"


def _linear(n_sources: int) -> int:
    # c + t . w: the weights sum to one, so c moves into t and only the d coefficients count.
    return n_sources


def _loglinear(n_sources: int) -> int:
    # c + exp(b + t . w) (Ye et al. 2024, eq. 1): b moves into t the same way; c and d coefficients.
    return n_sources + 1


def _powerlaw(n_sources: int) -> int:
    # c + k (S^-alpha - 1) / alpha, S = 1 + sum_j a_j w_j^beta_j: c, k, alpha, and a_j, beta_j per source.
    return 2 * n_sources + 3


def _lightgbm(n_sources: int) -> int:
    # Trees have no fixed count. 7 stands for the floor the fit is allowed: 8 runs, four
    # leaves of two (its min_data_in_leaf on small tables).
    return 7


def _gp(n_sources: int) -> int:
    # Non-parametric, so no count is exact. It fits d lengthscales, the signal and noise
    # variances and a constant mean: d + 3, one more than loglinear. Counting them keeps it
    # off designs too small for the marginal likelihood to pin down a lengthscale per source.
    return n_sources + 3


def _bimix(n_sources: int) -> int:
    # c + sum_j k_j ((w_j + eps)^-alpha_j - 1) / alpha_j: a floor and, per source, k_j and alpha_j.
    return 2 * n_sources + 1


def _quadratic(n_sources: int) -> int:
    # Scheffe's quadratic mixture model: sum w = 1 folds the constant and the squares into
    # d linear and d (d - 1) / 2 cross terms. The ridge lets it fit on fewer runs, but every term counts.
    return n_sources * (n_sources + 1) // 2


def _powerlaw_tied(n_sources: int) -> int:
    # The power law with one beta for all sources: c, k, alpha, beta, and a_j per source.
    return n_sources + 4


PARAMETERS: dict[str, Callable[[int], int]] = {
    "linear": _linear, "loglinear": _loglinear, "powerlaw": _powerlaw, "powerlaw_tied": _powerlaw_tied,
    "lightgbm": _lightgbm,
    "gp": _gp, "bimix": _bimix, "quadratic": _quadratic}
# The candidates of `auto` that need no optional package; auto needs what the simplest of them needs.
CANDIDATES = ("linear", "loglinear", "powerlaw", "powerlaw_tied", "gp", "bimix", "quadratic")


def simplest(law: str, n_sources: int) -> str:
    """The law whose needs `law` has: itself, or auto's candidate with the fewest parameters."""
    if law != "auto":
        return law
    return min(CANDIDATES, key=lambda name: PARAMETERS[name](n_sources))


def parameters(law: str, n_sources: int) -> int:
    """Free parameters per target of `law` (auto: of its simplest candidate)."""
    return PARAMETERS[simplest(law, n_sources)](n_sources)


def train_rows(law: str, n_sources: int) -> int:
    """Fewest runs a training fold (or a fit without cross-validation) may hold."""
    return parameters(law, n_sources) + 1


def smallest_training_fold(n_runs: int, folds: int) -> int:
    """Runs in the smallest training fold of a k-fold split (the largest held-out part has ceil(n / k))."""
    return n_runs - -(-n_runs // folds)


def runs_needed(law: str, n_sources: int) -> int:
    """Fewest runs `law` can be fitted and cross-validated on: two folds, each training fold with a spare row."""
    return MIN_FOLDS * train_rows(law, n_sources)


def _sources(n_sources: int) -> str:
    return f"{n_sources} source" + ("" if n_sources == 1 else "s")


def requirement(law: str, n_sources: int, cross_validated: bool = True) -> str:
    """What `law` needs, with the reason, e.g. `the loglinear law needs at least 16 runs for 6 sources
    (2-fold cross-validation with a spare degree of freedom: 8 rows per training fold > 7 parameters)`."""
    base = simplest(law, n_sources)
    who = f"the {law} law" if base == law else f"the {law} law (its simplest candidate, {base})"
    p = parameters(law, n_sources)
    if not cross_validated:
        return (f"{who} needs at least {p + 1} runs for {_sources(n_sources)} to fit without cross-validation "
                f"(a spare degree of freedom: {p + 1} rows > {p} parameters)")
    return (f"{who} needs at least {runs_needed(law, n_sources)} runs for {_sources(n_sources)} "
            f"({MIN_FOLDS}-fold cross-validation with a spare degree of freedom: "
            f"{p + 1} rows per training fold > {p} parameters)")


def remedy(law: str, n_sources: int) -> str:
    """How to meet the requirement, e.g. `raise runs: to 16, or choose a law with fewer parameters
    (law: linear needs 14)`."""
    need = runs_needed(law, n_sources)
    fewer = [f"law: {name} needs {runs_needed(name, n_sources)}" for name in CANDIDATES
             if runs_needed(name, n_sources) < need]
    if not fewer:
        return f"raise runs: to {need}"
    return f"raise runs: to {need}, or choose a law with fewer parameters ({', '.join(fewer)})"


__all__ = ["MIN_FOLDS", "FOLDS", "RULE", "PARAMETERS", "CANDIDATES", "simplest", "parameters", "train_rows",
           "smallest_training_fold", "runs_needed", "requirement", "remedy"]
