"""`mixc law fit|eval|solve`: mixing laws on runs made anywhere (CSV files).

  mixc law fit  --mixtures M.csv --losses L.csv --target COL [--law NAME] -o law.json
  mixc law eval law.json --mixtures M.csv --losses L.csv --target COL [--format json]
  mixc law solve law.json [--min SRC=X] [--max SRC=X] [--target COL] [--extrapolate] [--format json]

Rows of the two CSV files are joined on an id column (the first column, or --id NAME);
mixture columns are the sources, by name. Exit status: 0 done, 1 bad input (with a
message naming the file, row and column), 2 usage or I/O error. The law file is written
whole or not at all. Only the standard library is imported at top level.
"""

from __future__ import annotations

import argparse
import json
import sys

from mixc.atomic import write_json


def _runs_args(p: argparse.ArgumentParser, target_required: bool) -> None:
    p.add_argument("--mixtures", required=True, metavar="M.csv", help="one row per run: id, then a weight per source")
    p.add_argument("--losses", required=True, metavar="L.csv", help="one row per run: id, then measured losses")
    p.add_argument("--target", required=target_required, metavar="COL", help="the loss column to model")
    p.add_argument("--id", metavar="NAME", help="the id column joining the files (default: the first column)")


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="law_command", metavar="ACTION", required=True)
    fit = sub.add_parser("fit", help="fit a law on runs and save it as JSON",
                         description="Fit a mixing law on runs and save it (with its k-fold figures) as JSON.")
    _runs_args(fit, target_required=True)
    fit.add_argument("--law", default="auto", help="auto (default), linear, loglinear, powerlaw or lightgbm")
    fit.add_argument("--folds", type=int, default=5, help="k of the k-fold cross-validation (default 5; 0: none)")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("-o", "--output", required=True, metavar="law.json")
    ev = sub.add_parser("eval", help="score a saved law on runs",
                        description="Spearman rho, Pearson r, RMSE and the true rank of the predicted-best run.")
    ev.add_argument("law", metavar="law.json")
    _runs_args(ev, target_required=False)
    ev.add_argument("--format", choices=("text", "json"), default="text")
    so = sub.add_parser("solve", help="the mixture a saved law predicts best",
                        description="Minimise the law's predicted loss over mixtures within the bounds.")
    so.add_argument("law", metavar="law.json")
    so.add_argument("--target", metavar="COL", help="the target to minimise (default: the law's only target)")
    so.add_argument("--min", action="append", default=[], metavar="SRC=X", help="lower bound on a weight")
    so.add_argument("--max", action="append", default=[], metavar="SRC=X", help="upper bound on a weight")
    so.add_argument("--extrapolate", action="store_true",
                    help="allow a source more weight than it had in any fitted run (default: not)")
    so.add_argument("--seed", type=int, default=0)
    so.add_argument("--format", choices=("text", "json"), default="text")


class _InputError(Exception):
    """A user error: printed as one line, exit 1."""


def _load_law(path: str):
    from mixc.compiler.mixture.laws import load_law

    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise _InputError(f"{path}: not JSON: {exc}") from None
    try:
        return load_law(data)
    except ValueError as exc:
        raise _InputError(f"{path}: {exc}") from None


def _target(law, name: str | None) -> str:
    if name is None:
        if len(law.targets) != 1:
            raise _InputError(f"the law predicts {', '.join(law.targets)}: choose one with --target")
        return law.targets[0]
    if name not in law.targets:
        raise _InputError(f"the law predicts {', '.join(law.targets)}, not {name!r}")
    return name




def _fit(args) -> int:
    from mixc.compiler.mixture.laws import NAMES, fit_law
    from mixc.compiler.mixture.runs_csv import load_runs

    if args.law not in NAMES:
        raise _InputError(f"unknown law {args.law!r} (one of {', '.join(NAMES)})")
    if args.folds == 1 or args.folds < 0:
        raise _InputError("--folds must be 0 (no cross-validation) or at least 2")
    runs = load_runs(args.mixtures, args.losses, [args.target], args.id)
    law = fit_law(args.law, runs.mixtures, runs.losses, runs.sources, runs.targets, seed=args.seed,
                  cv_folds=args.folds)
    write_json(args.output, law.to_json())
    cv = law.cv.get("spearman")
    tail = f", {law.cv['folds']}-fold Spearman {cv:.4f}" if cv is not None else ""
    print(f"{args.output}: {law.name} law for {args.target} from {len(runs.ids)} runs{tail}")
    return 0


def _eval(args) -> int:
    import numpy as np

    from mixc.compiler.mixture.laws import best_rank, pearson, spearman
    from mixc.compiler.mixture.runs_csv import load_runs

    law = _load_law(args.law)
    target = _target(law, args.target)
    runs = load_runs(args.mixtures, args.losses, [target], args.id, sources=law.sources)
    if len(runs.ids) < 2:
        raise _InputError("evaluation needs at least two runs")
    pred = law.predict(runs.mixtures)[:, law.target_index(target)]
    y = runs.losses[:, 0]
    out = {"spearman": spearman(pred, y), "pearson": pearson(pred, y),
           "rmse": float(np.sqrt(np.mean((pred - y) ** 2))), "best_rank": best_rank(pred, y), "n": len(y)}
    if args.format == "json":
        print(json.dumps(out))
    else:
        print(f"{law.name} law, target {target}, {out['n']} runs")
        print(f"spearman  {out['spearman']:.4f}\npearson   {out['pearson']:.4f}\nrmse      {out['rmse']:.4f}")
        print(f"best_rank {out['best_rank']} of {out['n']} (true rank of the run the law predicts best; 1 is best)")
    return 0


def _bounds(law, pairs: list[str], flag: str) -> list:
    from mixc.compiler.mixture.polytope import bound

    out = []
    for pair in pairs:
        src, sep, value = pair.partition("=")
        if not sep or src not in law.sources:
            raise _InputError(f"{flag} {pair}: expected SRC=X with SRC one of {', '.join(law.sources)}")
        try:
            x = float(value.rstrip("%")) / (100.0 if value.endswith("%") else 1.0)
        except ValueError:
            raise _InputError(f"{flag} {pair}: {value!r} is not a number") from None
        out += bound(f"{flag} {pair}", src, lo=x if flag == "--min" else None, hi=x if flag == "--max" else None)
    return out


def _solve(args) -> int:
    from mixc.compiler.mixture.polytope import Polytope, check
    from mixc.compiler.mixture.solve import Objective, solve, within_support

    law = _load_law(args.law)
    target = _target(law, args.target)
    poly = Polytope(law.sources, tuple(_bounds(law, args.min, "--min") + _bounds(law, args.max, "--max")))
    if not args.extrapolate:
        poly = within_support(law, poly)
    feas = check(poly)
    if not feas.feasible:
        raise _InputError(f"no mixture satisfies these bounds together: {'; '.join(feas.conflict)}")
    sol = solve(law, poly, Objective(((1.0, target),)), seed=args.seed)
    if args.format == "json":
        print(json.dumps(sol.to_json()))
        return 0
    width = max(len(s) for s in sol.sources)
    for s, w in sorted(zip(sol.sources, sol.weights), key=lambda p: -p[1]):
        print(f"{s:<{width}}  {w:.4f}")
    print(f"predicted {target}: {sol.predicted[target]:.4f} ({law.name} law, {sol.method})")
    if sol.binding:
        print(f"binding: {'; '.join(sol.binding)}")
    return 0


def run(args: argparse.Namespace) -> int:
    from mixc.compiler.mixture.runs_csv import RunsError

    action = {"fit": _fit, "eval": _eval, "solve": _solve}[args.law_command]
    try:
        return action(args)
    except OSError as exc:
        print(f"mixc law: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except (_InputError, RunsError) as exc:
        print(f"mixc law: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # raised by the mixture code for data it cannot use (too few runs, ...)
        print(f"mixc law: {exc}", file=sys.stderr)
        return 1
