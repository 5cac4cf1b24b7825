"""What every mixing law is: fitted on (mixtures, losses), it predicts a loss per target.

A law predicts all the targets it was fitted on, column by column. Convex laws also
give a cvxpy expression per target (so the solve is one convex problem) and a gradient.
Laws are saved as plain JSON: `{"law": name, "sources": [...], "targets": [...],
"params": {...}, "cv": {...}, "support": [...], "maximize": bool}`. A law always models a
loss, lower is better: one fitted on a higher-is-better metric (`maximize`) models the
negated metric, and `metric()` turns its predictions back into the metric's own units.
This module holds the interface, the statistics laws are judged by and `fit_checked`,
the one way a law is fitted: a law that cannot fit says why, in a `LawFitError`, never
with a numerical library's traceback. It fits nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Sequence

import numpy as np

# What numerical code raises on data it cannot use: singular or non-convergent systems
# (LinAlgError is a ValueError), overflow, and solvers that give up.
NUMERICAL_ERRORS = (ValueError, ArithmeticError, RuntimeError, np.linalg.LinAlgError)


class LawFitError(ValueError):
    """A law could not be fitted on these runs; the message says which law and why."""


def spearman(pred: np.ndarray, true: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); nan when either side is constant."""
    from scipy.stats import spearmanr

    if np.ptp(pred) == 0 or np.ptp(true) == 0:
        return float("nan")
    return float(spearmanr(pred, true).statistic)


def pearson(pred: np.ndarray, true: np.ndarray) -> float:
    if np.ptp(pred) == 0 or np.ptp(true) == 0:
        return float("nan")
    return float(np.corrcoef(pred / np.abs(pred).max(), true / np.abs(true).max())[0, 1])  # scaled: no overflow


def rmse(pred: np.ndarray, true: np.ndarray) -> float:
    """Root mean squared error, computed on scaled values so that losses near 1e300 do not overflow."""
    scale = float(max(np.abs(pred).max(), np.abs(true).max()))
    if scale == 0 or not np.isfinite(scale):
        return 0.0 if scale == 0 else float("inf")
    return scale * float(np.sqrt(np.mean(((pred - true) / scale) ** 2)))


def finite_or_none(value: Any) -> Any:
    """`value` with every NaN or infinite float (a figure that does not exist, e.g. the Spearman of
    constant predictions) replaced by None, so that it is valid JSON."""
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def best_rank(pred: np.ndarray, true: np.ndarray) -> int:
    """True rank (1 = lowest loss) of the mixture the law predicts best."""
    return int((true < true[int(np.argmin(pred))]).sum()) + 1


@dataclass(frozen=True)
class Law:
    """A fitted law. Subclasses set `name`, `convex` and implement the methods; how many runs each
    needs (its free parameters per target) is in `compiler/mixture/sizes.py`."""

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    params: dict[str, Any]
    cv: dict[str, Any] = field(default_factory=dict)
    support: tuple[float, ...] = ()  # per source, the largest weight in the runs fitted on
    maximize: bool = False  # fitted on a higher-is-better metric: predictions are its negation

    name: ClassVar[str] = ""
    convex: ClassVar[bool] = False

    @classmethod
    def fit(cls, X: np.ndarray, Y: np.ndarray, sources: tuple[str, ...], targets: tuple[str, ...],
            seed: int = 0) -> "Law":
        raise NotImplementedError

    def predict(self, W: np.ndarray) -> np.ndarray:
        """(n, targets) predicted losses for mixtures W (n, sources)."""
        raise NotImplementedError

    def metric(self, W: np.ndarray) -> np.ndarray:
        """(n, targets) predictions in the fitted metric's own units (`predict`, negated for `maximize`)."""
        return -self.predict(W) if self.maximize else self.predict(W)

    def effective_parameters(self, n_runs: int) -> float:
        """How flexible the fitted law is, in parameters per target: what auto's one-standard-error
        rule decides toward fewer of. Parametric laws count their free parameters (sizes.py);
        smoothers override it with their effective degrees of freedom."""
        from mixc.compiler.mixture import sizes

        return float(sizes.parameters(self.name, len(self.sources)))

    def grad(self, w: np.ndarray) -> np.ndarray:
        """(targets, sources) gradient of the predicted losses at w."""
        raise NotImplementedError(f"the {self.name} law has no gradient")

    def cvx(self, w, target: int):
        """cvxpy expression of the loss of `target`, convex in the variable w (convex laws only)."""
        raise NotImplementedError(f"the {self.name} law is not convex in the mixture")

    def to_json(self) -> dict[str, Any]:
        return {"law": self.name, "sources": list(self.sources), "targets": list(self.targets),
                "params": self.params, "cv": finite_or_none(self.cv), "support": list(self.support),
                "maximize": self.maximize}

    def with_cv(self, cv: dict[str, Any]) -> "Law":
        return replace(self, cv=cv)

    def target_index(self, target: str) -> int:
        if target not in self.targets:
            raise ValueError(f"the law predicts {', '.join(self.targets)}, not {target!r}")
        return self.targets.index(target)


def fit_checked(cls: type[Law], X: np.ndarray, Y: np.ndarray, sources: Sequence[str], targets: Sequence[str],
                seed: int = 0) -> Law:
    """`cls.fit`, with every numerical failure (and a fit whose predictions on its own runs are
    not finite) turned into a LawFitError that names the law and the reason.

    BLAS runs on one thread here: the matrices are small, and OpenBLAS threads that spin on a
    loaded machine made fits 10-50x slower.
    """
    import scipy.linalg  # noqa: F401  (loaded before the limit: it applies to libraries loaded by then)
    import scipy.optimize  # noqa: F401
    from threadpoolctl import threadpool_limits

    try:
        with threadpool_limits(limits=1, user_api="blas"), np.errstate(all="ignore"):
            law = cls.fit(X, Y, tuple(sources), tuple(targets), seed=seed)
            pred = law.predict(X)
    except LawFitError:
        raise
    except NUMERICAL_ERRORS as exc:
        raise LawFitError(f"the {cls.name} law cannot be fitted on these runs: {exc}") from None
    if not np.all(np.isfinite(pred)):
        raise LawFitError(f"the {cls.name} law's fit predicts non-finite losses on its own runs")
    return law


def standardise(y: np.ndarray) -> tuple[float, float]:
    """Mean and scale of a target column, so a fit's starting points and robust-loss scales
    mean the same for losses near 5 and for negated accuracies near -0.3 (scale 1 if constant)."""
    top = float(np.abs(y).max()) if len(y) else 0.0
    if top == 0 or not np.isfinite(top):
        return 0.0, 1.0
    mean, scale = top * float(np.mean(y / top)), top * float(np.std(y / top))  # scaled: no overflow near 1e300
    return mean, scale if scale > 0 and np.isfinite(scale) else 1.0


def least_squares_restarts(residuals, jacobian, starts, **options):
    """scipy's least_squares from each start in turn, keeping the lowest cost. A start that fails
    numerically is skipped; two starts that agree on the cost end the search early (the optimum
    has been found twice). LawFitError when no start succeeds. The tolerances (1e-6 on the
    cost's and the parameters' relative change) halve the evaluations of scipy's defaults on
    small designs with no change in what the laws predict (RegMix: the same Spearman to 0.01)."""
    from scipy.optimize import least_squares

    options = {"ftol": 1e-6, "xtol": 1e-6, **options}
    best, reasons = None, []
    for p0 in starts:
        try:
            r = least_squares(residuals, p0, jac=jacobian, **options)
        except NUMERICAL_ERRORS as exc:
            reasons.append(str(exc))
            continue
        if not np.isfinite(r.cost):
            reasons.append("non-finite cost")
            continue
        if best is not None and abs(r.cost - best.cost) <= 1e-7 * max(best.cost, 1e-12):
            return best if best.cost <= r.cost else r
        if best is None or r.cost < best.cost:
            best = r
    if best is None:
        raise LawFitError(f"no starting point converged ({'; '.join(sorted(set(reasons)))})")
    return best
