"""Mixing laws on the public RegMix proxy runs (../shared/data/regmix, MIT; Liu et al. 2024).

512 training and 256 test mixtures over 17 Pile domains; target: Pile-CC validation loss.
Every law, and auto, is fitted on the first n training runs for n in 16, 32, 64 and 512
(the small designs show what each law can do with few runs; a law the cross-validation
rule of compiler/mixture/sizes.py cannot fit at n is reported as such, not fitted), and
scored on the 256 test runs, which no fit ever sees:
  rho_<n>_<law>    Spearman rho x 100 between predicted and measured test losses
  rank_<n>_<law>   true rank among the 256 test mixtures of the one the law predicts best (1 = best)
  cv_<n>_auto      auto's own cross-validated Spearman x 100 (its choice cross-validated), beside
                   what the test runs say, to show whether it is optimistic
  nested_<n>_auto  the same judged by full nested cross-validation (n = 64 and 512): auto run
                   whole on 4/5 of the runs, scored on the fifth, for each of 5 outer folds
  law_fit_<law>_512_s, law_fit_auto_512_s   seconds per fit on 512 runs (auto: with its cross-validation)
  law_fit_auto_256x19_s   auto on 256 runs x 19 sources: RegMix's first 256 runs with two sources each
                   split in two at a random share per run (the loss is unchanged: a wider set with
                   real losses, standing in for swarms with more domains)
  rho_5dom_40_<law>_mean / _sd   a small, noisy set as other projects release them: the 17 domains
                   summed into 5 groups (web, academic, code, books and law, wikipedia), 40 runs
                   drawn at random from the 512 (10 draws), scored on the 256 test runs likewise
                   grouped; mean and standard deviation over the draws, to show that auto does not
                   lose to the plain linear law where the data are few
Auto's pick and the candidates it skipped are printed beside its figures. Fits use the
cross-validation the CLI uses (5 folds for auto; named laws fitted once, as a user of
`mixc law fit --folds 0` would). Run: python benchmarks/regmix.py [DATA_DIR]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from mixc.compiler.mixture import sizes
from mixc.compiler.mixture.laws import LAWS, NAMES, best_rank, fit_law, spearman
from mixc.compiler.mixture.runs_csv import Runs, load_runs

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "regmix"
TARGET = "metric/the_pile_pile_cc_val_loss"
SIZES = (16, 32, 64, 512)


def _fit(name: str, train: Runs, n: int):
    t0 = time.perf_counter()
    law = fit_law(name, train.mixtures[:n], train.losses[:n], train.sources, train.targets,
                  cv_folds=sizes.FOLDS if name == "auto" else 0)
    return law, time.perf_counter() - t0


def _fits_at(name: str, n: int, n_sources: int) -> bool:
    needed = sizes.runs_needed(name, n_sources) if name == "auto" else sizes.train_rows(name, n_sources)
    return n >= needed


def score(train: Runs, test: Runs) -> None:
    y = test.losses[:, 0]
    for n in SIZES:
        for name in NAMES:
            if name != "auto" and name not in available():
                continue
            if not _fits_at(name, n, len(train.sources)):
                print(f"{name} on {n} runs: not fitted ({sizes.requirement(name, len(train.sources), name == 'auto')})")
                continue
            law, took = _fit(name, train, n)
            pred = law.predict(test.mixtures)[:, 0]
            extra = f" (chose {law.name}; picks {law.cv['picks']}; skipped {sorted(law.cv['skipped'])})" \
                if name == "auto" else ""
            print(f"{name} on {n} runs{extra}: {took:.2f} s")
            print(f"figure rho_{n}_{name} {100 * spearman(pred, y):.2f}")
            print(f"figure rank_{n}_{name} {best_rank(pred, y)}")
            if name == "auto":
                print(f"figure cv_{n}_auto {100 * law.cv['spearman']:.2f}")
                if n >= 64:
                    print(f"figure nested_{n}_auto {nested(train, n):.2f}")
            if n == 512:
                print(f"figure law_fit_{name}_512_s {took:.2f} s")


def nested(train: Runs, n: int, folds: int = 5) -> float:
    """Spearman x 100 of auto by full nested cross-validation on the first n runs."""
    from mixc.compiler.mixture.laws.crossval import assign_folds

    X, Y = train.mixtures[:n], train.losses[:n]
    fold, pred = assign_folds(n, folds, seed=1), np.empty(n)
    for i in range(folds):
        held = fold == i
        law = fit_law("auto", X[~held], Y[~held], train.sources, train.targets, cv_folds=sizes.FOLDS)
        pred[held] = law.predict(X[held])[:, 0]
    return 100 * spearman(pred, Y[:, 0])


def available() -> tuple[str, ...]:
    import importlib.util

    return tuple(n for n in LAWS if n != "lightgbm" or importlib.util.find_spec("lightgbm") is not None)


def widened(train: Runs, n: int, seed: int = 0) -> Runs:
    """The first n runs with the two largest sources (by mean weight) each split in two at a random share."""
    rng = np.random.default_rng(seed)
    W = train.mixtures[:n]
    X, halves, names = W.copy(), [], list(train.sources)
    for j in np.argsort(-W.mean(axis=0))[:2]:
        u = rng.random(n)
        X[:, j] = W[:, j] * u
        halves.append(W[:, j] * (1 - u))
        names.append(f"{train.sources[j]}_b")
    return Runs(train.ids[:n], tuple(names), np.column_stack([X, *halves]), train.targets, train.losses[:n])


GROUPS = {"web": ("pile_cc", "hackernews", "ubuntu_irc", "enron_emails", "europarl"),
          "academic": ("arxiv", "pubmed_central", "pubmed_abstracts", "nih_exporter", "philpapers"),
          "code": ("github", "stackexchange", "dm_mathematics"),
          "books_law": ("gutenberg_pg_19", "freelaw", "uspto_backgrounds"),
          "wikipedia": ("wikipedia_en",)}


def grouped(runs: Runs) -> Runs:
    """The runs with their sources summed into GROUPS (by the end of each source's name)."""
    cols = [[j for j, s in enumerate(runs.sources) if s.endswith(tuple(members))] for members in GROUPS.values()]
    assert sorted(j for c in cols for j in c) == list(range(len(runs.sources))), "every source in one group"
    X = np.stack([runs.mixtures[:, c].sum(axis=1) for c in cols], axis=1)
    return Runs(runs.ids, tuple(GROUPS), X, runs.targets, runs.losses)


def small_sets(train: Runs, test: Runs, n: int = 40, draws: int = 10) -> None:
    small, big = grouped(train), grouped(test)
    scores: dict[str, list[float]] = {}
    chosen: dict[str, int] = {}
    for seed in range(draws):
        pick = np.random.default_rng(seed).choice(len(small.ids), n, replace=False)
        part = Runs(tuple(small.ids[i] for i in pick), small.sources, small.mixtures[pick], small.targets,
                    small.losses[pick])
        for name in ("auto", *available()):
            if not _fits_at(name, n, len(small.sources)):
                continue
            law, _ = _fit(name, part, n)
            scores.setdefault(name, []).append(100 * spearman(law.predict(big.mixtures)[:, 0], big.losses[:, 0]))
            if name == "auto":
                chosen[law.name] = chosen.get(law.name, 0) + 1
    print(f"5 groups, {n} runs, {draws} draws: auto chose {chosen}")
    for name, rhos in scores.items():
        print(f"figure rho_5dom_{n}_{name}_mean {np.mean(rhos):.2f}")
        print(f"figure rho_5dom_{n}_{name}_sd {np.std(rhos, ddof=1):.2f}")


def main(data: Path) -> int:
    train = load_runs(data / "train_mixture_1m.csv", data / "train_pile_loss_1m.csv", [TARGET], "index")
    test = load_runs(data / "test_mixture_1m.csv", data / "test_pile_loss_1m.csv", [TARGET], "index",
                     sources=train.sources)
    score(train, test)
    wide = widened(train, 256)
    law, took = _fit("auto", wide, 256)
    print(f"auto on 256 runs x {len(wide.sources)} sources (chose {law.name}): {took:.2f} s")
    print(f"figure law_fit_auto_256x19_s {took:.2f} s")
    small_sets(train, test)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA))
