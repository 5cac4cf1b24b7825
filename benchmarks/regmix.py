"""Mixing laws on the public RegMix proxy runs (../shared/data/regmix, MIT; Liu et al. 2024).

512 training and 256 test mixtures over 17 Pile domains; target: Pile-CC validation loss.
Every law is fitted on all 512 training runs and on the first 64, never on test runs
(auto cross-validates on the training runs it is given), then scored on the 256 test runs:
  rho_<n>_<law>   Spearman rho x 100 between predicted and measured test losses
  rank_<n>_<law>  true rank among the 256 test mixtures of the one the law predicts best (1 = best)
Run: python benchmarks/regmix.py [DATA_DIR]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


from mixc.compiler.mixture.laws import NAMES, best_rank, fit_law, spearman
from mixc.compiler.mixture.runs_csv import load_runs

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "regmix"
TARGET = "metric/the_pile_pile_cc_val_loss"


def main(data: Path) -> int:
    train = load_runs(data / "train_mixture_1m.csv", data / "train_pile_loss_1m.csv", [TARGET], "index")
    test = load_runs(data / "test_mixture_1m.csv", data / "test_pile_loss_1m.csv", [TARGET], "index",
                     sources=train.sources)
    y = test.losses[:, 0]
    for n in (512, 64):
        for name in NAMES:
            t0 = time.perf_counter()
            law = fit_law(name, train.mixtures[:n], train.losses[:n], train.sources, train.targets,
                          cv_folds=5 if name == "auto" else 0)
            pred = law.predict(test.mixtures)[:, 0]
            chosen = f" (chose {law.name})" if name == "auto" else ""
            print(f"{name} on {n} runs{chosen}: {time.perf_counter() - t0:.1f} s")
            print(f"figure rho_{n}_{name} {100 * spearman(pred, y):.2f}")
            print(f"figure rank_{n}_{name} {best_rank(pred, y)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA))
