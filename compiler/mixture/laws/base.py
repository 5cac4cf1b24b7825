"""What every mixing law is: fitted on (mixtures, losses), it predicts a loss per target.

A law predicts all the targets it was fitted on, column by column. Convex laws also
give a cvxpy expression per target (so the solve is one convex problem) and a gradient.
Laws are saved as plain JSON: `{"law": name, "sources": [...], "targets": [...],
"params": {...}, "cv": {...}, "support": [...]}`. This module holds the interface and the statistics laws
are judged by; it fits nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np


def spearman(pred: np.ndarray, true: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); nan when either side is constant."""
    from scipy.stats import spearmanr

    if np.ptp(pred) == 0 or np.ptp(true) == 0:
        return float("nan")
    return float(spearmanr(pred, true).statistic)


def pearson(pred: np.ndarray, true: np.ndarray) -> float:
    if np.ptp(pred) == 0 or np.ptp(true) == 0:
        return float("nan")
    return float(np.corrcoef(pred, true)[0, 1])


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

    name: ClassVar[str] = ""
    convex: ClassVar[bool] = False

    @classmethod
    def fit(cls, X: np.ndarray, Y: np.ndarray, sources: tuple[str, ...], targets: tuple[str, ...],
            seed: int = 0) -> "Law":
        raise NotImplementedError

    def predict(self, W: np.ndarray) -> np.ndarray:
        """(n, targets) predicted losses for mixtures W (n, sources)."""
        raise NotImplementedError

    def grad(self, w: np.ndarray) -> np.ndarray:
        """(targets, sources) gradient of the predicted losses at w."""
        raise NotImplementedError(f"the {self.name} law has no gradient")

    def cvx(self, w, target: int):
        """cvxpy expression of the loss of `target`, convex in the variable w (convex laws only)."""
        raise NotImplementedError(f"the {self.name} law is not convex in the mixture")

    def to_json(self) -> dict[str, Any]:
        return {"law": self.name, "sources": list(self.sources), "targets": list(self.targets),
                "params": self.params, "cv": self.cv, "support": list(self.support)}

    def with_cv(self, cv: dict[str, Any]) -> "Law":
        return replace(self, cv=cv)

    def target_index(self, target: str) -> int:
        if target not in self.targets:
            raise ValueError(f"the law predicts {', '.join(self.targets)}, not {target!r}")
        return self.targets.index(target)
