"""The `mixc` command line: a thin dispatcher over `compiler.commands.*`.

It must not import anything heavy: subcommand modules are imported when chosen
(and only their light top level at that). Exit status: 0 clean, 1 errors found,
2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

# name -> (module under compiler.commands, one-line help): the only copy of each help line.
# Order is the order of `mixc --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("check", "check .mix files and print diagnostics"),
    "fmt": ("fmt", "rewrite .mix files in the canonical layout"),
    "plan": ("plan", "show the jobs a spec compiles to, with FLOPs and estimated hours"),
    "graph": ("graph", "print the job graph as Graphviz dot or Mermaid"),
    "build": ("build", "compile a spec into a Snakemake workflow"),
    "run": ("run", "build a spec and run its workflow with Snakemake"),
    "report": ("report", "summarise a finished run: markdown, HTML with plots, a results zarr store"),
    "law": ("law", "fit, evaluate and solve mixing laws on runs from CSV files"),
}


def _parser(chosen: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mixc", description="A compiler for data-mixture experiments.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # only the chosen command's module is imported
            importlib.import_module(f"mixc.compiler.commands.{module}").configure(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in args_list:  # what follows `--` goes to the tool the command drives (Snakemake)
        cut = args_list.index("--")
        args_list, passthrough = args_list[:cut], args_list[cut + 1 :]
    chosen = next((a for a in args_list if not a.startswith("-")), None)
    parser = _parser(chosen if chosen in COMMANDS else None)
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    module = importlib.import_module(f"mixc.compiler.commands.{COMMANDS[args.command][0]}")
    if passthrough and not getattr(module, "PASSTHROUGH", False):
        print(f"mixc {args.command}: takes no arguments after `--`", file=sys.stderr)
        return 2
    args.passthrough = passthrough
    try:
        return int(module.run(args))
    except KeyboardInterrupt:
        print("mixc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
