"""`mixc law fit|eval|solve`: mixing laws on runs made anywhere (CSV files).

  mixc law fit  --mixtures M.csv --losses L.csv --target COL [--law NAME] [--maximize] -o law.json
  mixc law eval law.json --mixtures M.csv --losses L.csv --target COL [--maximize] [--format json]
  mixc law solve law.json [--min SRC=X] [--max SRC=X] [--target COL] [--maximize] [--extrapolate]

Rows of the two CSV files are joined on an id column (the first column, or --id NAME);
mixture columns are the sources, by name. `--maximize` is for higher-is-better metrics
(accuracies): the law is fitted on the negated metric, so ranks and the solve go the right
way, and it is recorded in the law file, which eval and solve follow. Exit status: 0 done,
1 bad input or a law that cannot be fitted (with a message naming the file, row and
column, or the reason), 2 usage or I/O error. The law file is written whole or not at
all. Only the standard library is imported at top level.
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


def _maximize_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--maximize", action="store_true",
                   help="the metric is higher-is-better (e.g. an accuracy): rank and solve for its maximum")


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="law_command", metavar="ACTION", required=True)
    fit = sub.add_parser("fit", help="fit a law on runs and save it as JSON",
                         description="Fit a mixing law on runs and save it (with its k-fold figures) as JSON.")
    _runs_args(fit, target_required=True)
    fit.add_argument("--law", default="auto", help=f"auto (default), {_law_names()}")
    _maximize_arg(fit)
    fit.add_argument("--folds", type=int, default=5, help="k of the k-fold cross-validation (default 5; 0: none)")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("-o", "--output", required=True, metavar="law.json")
    ev = sub.add_parser("eval", help="score a saved law on runs",
                        description="Spearman rho, Pearson r, RMSE and the true rank of the predicted-best run.")
    ev.add_argument("law", metavar="law.json")
    _runs_args(ev, target_required=False)
    _maximize_arg(ev)
    ev.add_argument("--format", choices=("text", "json"), default="text")
    so = sub.add_parser("solve", help="the mixture a saved law predicts best",
                        description="Optimise the law's prediction over mixtures within the bounds.")
    so.add_argument("law", metavar="law.json")
    so.add_argument("--target", metavar="COL", help="the target to optimise (default: the law's only target)")
    _maximize_arg(so)
    so.add_argument("--min", action="append", default=[], metavar="SRC=X", help="lower bound on a weight")
    so.add_argument("--max", action="append", default=[], metavar="SRC=X", help="upper bound on a weight")
    so.add_argument("--extrapolate", action="store_true",
                    help="allow a source more weight than it had in any fitted run (default: not)")
    so.add_argument("--seed", type=int, default=0)
    so.add_argument("--format", choices=("text", "json"), default="text")


class _InputError(Exception):
    """A user error: printed as one line, exit 1."""


def _law_names() -> str:
    # The names as the laws' registry has them, without importing numpy for `--help`.
    return "linear, loglinear, powerlaw, powerlaw_tied, lightgbm, gp, bimix or quadratic"


def _direction(law, maximize: bool, path: str):
    """The law, after checking that --maximize agrees with how it was fitted."""
    if maximize and not law.maximize:
        raise _InputError(f"{path} was fitted on a lower-is-better metric; refit it with --maximize")
    return law


def _warn(runs) -> None:
    for line in runs.warnings:
        print(f"mixc law: warning: {line}", file=sys.stderr)


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
    _warn(runs)
    law = fit_law(args.law, runs.mixtures, runs.losses, runs.sources, runs.targets, seed=args.seed,
                  cv_folds=args.folds, maximize=args.maximize)
    write_json(args.output, law.to_json())
    cv = law.cv.get("spearman")
    tail = f", {law.cv['folds']}-fold Spearman {cv:.4f}" if cv is not None else ""
    sense = " (maximised)" if law.maximize else ""
    print(f"{args.output}: {law.name} law for {args.target}{sense} from {len(runs.ids)} runs{tail}")
    if law.cv.get("chosen_by") == "auto":
        print(f"  auto: {law.cv['choice_rule']}; the Spearman is of {law.cv['estimate']}")
        for name, why in law.cv.get("skipped", {}).items():
            print(f"  skipped {name}: {why}")
    return 0


def _eval(args) -> int:
    import numpy as np

    from mixc.compiler.mixture.laws import best_rank, pearson, spearman
    from mixc.compiler.mixture.runs_csv import load_runs

    law = _direction(_load_law(args.law), args.maximize, args.law)
    target = _target(law, args.target)
    runs = load_runs(args.mixtures, args.losses, [target], args.id, sources=law.sources)
    _warn(runs)
    if len(runs.ids) < 2:
        raise _InputError("evaluation needs at least two runs")
    sign = -1.0 if law.maximize else 1.0  # ranks in the law's lower-is-better terms
    pred = law.predict(runs.mixtures)[:, law.target_index(target)]
    y = sign * runs.losses[:, 0]
    out = {"spearman": spearman(pred, y), "pearson": pearson(pred, y),
           "rmse": float(np.sqrt(np.mean((pred - y) ** 2))), "best_rank": best_rank(pred, y), "n": len(y),
           "maximize": law.maximize}
    if args.format == "json":
        print(json.dumps(out))
    else:
        best = "highest" if law.maximize else "lowest"
        print(f"{law.name} law, target {target}, {out['n']} runs")
        print(f"spearman  {out['spearman']:.4f}\npearson   {out['pearson']:.4f}\nrmse      {out['rmse']:.4f}")
        print(f"best_rank {out['best_rank']} of {out['n']} (true rank of the run the law predicts best; "
              f"1 is the {best} measured)")
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

    law = _direction(_load_law(args.law), args.maximize, args.law)
    target = _target(law, args.target)
    poly = Polytope(law.sources, tuple(_bounds(law, args.min, "--min") + _bounds(law, args.max, "--max")))
    if not args.extrapolate:
        poly = within_support(law, poly)
    feas = check(poly)
    if not feas.feasible:
        raise _InputError(f"no mixture satisfies these bounds together: {'; '.join(feas.conflict)}")
    sol = solve(law, poly, Objective(((1.0, target),)), seed=args.seed)
    predicted = -sol.predicted[target] if law.maximize else sol.predicted[target]  # the metric's own sign
    if args.format == "json":
        print(json.dumps({**sol.to_json(), "predicted": {target: predicted}, "maximize": law.maximize}))
        return 0
    width = max(len(s) for s in sol.sources)
    for s, w in sorted(zip(sol.sources, sol.weights), key=lambda p: -p[1]):
        print(f"{s:<{width}}  {w:.4f}")
    print(f"predicted {target}: {predicted:.4f} ({law.name} law, {'maximised' if law.maximize else 'minimised'}, "
          f"{sol.method})")
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
    except ValueError as exc:  # the mixture code's data it cannot use: too few runs, a law that cannot fit
        print(f"mixc law: {exc}", file=sys.stderr)
        return 1
