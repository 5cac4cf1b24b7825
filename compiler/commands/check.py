"""`mixc check FILE...`: parse and check specs; print diagnostics in the chosen format.

Exit 0 when clean (warnings allowed), 1 on errors (or warnings with --strict), 2 when a
file cannot be read. Besides `spec` it runs the compiler's light hooks (runs for the law, budget,
constraint feasibility); nothing here imports torch, snakemake or networkx.
"""

from __future__ import annotations

import argparse
import os
import sys


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="spec files; `-` reads standard input")
    p.add_argument("--format", choices=("text", "json", "github", "sarif"), default="text",
                   help="how to print diagnostics (default: text)")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 1)")
    p.add_argument("--root", metavar="DIR",
                   help="imports must stay inside DIR (default: the spec's git repository, else its folder)")


def run(args: argparse.Namespace) -> int:
    from mixc.spec import diagnostics as dg
    from mixc.spec.check import check
    from mixc.spec.load import load, load_bytes

    if args.root is not None and not os.path.isdir(args.root):
        print(f"mixc: --root {args.root} is not a folder", file=sys.stderr)
        return 2
    all_diags: list = []
    texts: dict[str, str] = {}
    checked: list[str] = []
    for path in args.files:
        try:
            loaded = load_bytes(sys.stdin.buffer.read(), "<stdin>", args.root) if path == "-" else load(path, args.root)
        except OSError as exc:
            print(f"mixc: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        experiment, diags = check(loaded, hooks=_hooks())
        all_diags.extend(diags)
        texts.update(loaded.texts)
        if experiment is not None:
            checked.append(f"{path}: experiment {experiment.name} ok")

    if args.format == "text":
        out = dg.render_text(all_diags, texts)
        if not all_diags:
            out = "\n".join(checked) + "\n"
    elif args.format == "json":
        out = dg.render_json(all_diags)
    elif args.format == "github":
        out = dg.render_github(all_diags)
    else:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("mixc")
        except PackageNotFoundError:
            v = "0"
        out = dg.render_sarif(all_diags, v)
    sys.stdout.write(out)
    errors = any(d.severity == "error" for d in all_diags)
    warnings = any(d.severity == "warning" for d in all_diags)
    return 1 if errors or (warnings and args.strict) else 0


def _hooks() -> tuple:
    """Checks that need the compiler (runs for the law, budget, constraint feasibility); they import nothing heavy."""
    from mixc.compiler.pipeline import hooks

    return hooks()
