"""The `mixc` command line: a thin dispatcher over `compiler.commands.*`.

It must not import anything heavy: subcommand modules are imported when chosen
(and only their light top level at that). A command of a layer that is not installed
(`mixc.layers`: build, run, report and law need `mixc[run]`) says which extra to install
instead of failing on an import. Exit status: 0 clean, 1 errors found, 2 usage or I/O
error, or a missing layer.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Sequence

from mixc.layers import explain, install_line, missing


@dataclass(frozen=True)
class Command:
    module: str  # under compiler.commands
    help: str  # the only copy of its one-line help
    layer: str | None = None  # the extra it needs beyond `pip install mixc`


# Order is the order of `mixc --help`.
COMMANDS: dict[str, Command] = {
    "check": Command("check", "check .mix files and print diagnostics"),
    "fmt": Command("fmt", "rewrite .mix files in the canonical layout"),
    "plan": Command("plan", "show the jobs a spec compiles to, with FLOPs and estimated hours"),
    "graph": Command("graph", "print the job graph as Graphviz dot or Mermaid"),
    "build": Command("build", "compile a spec into a Snakemake workflow", "run"),
    "run": Command("run", "build a spec and run its workflow with Snakemake", "run"),
    "status": Command("status", "show where a run in a work directory stands (jobs done, running, failed)"),
    "report": Command("report", "summarise a finished run: markdown, HTML with plots, a results zarr store", "run"),
    "law": Command("law", "fit, evaluate and solve mixing laws on runs from CSV files", "run"),
}


def version() -> str:
    """The installed distribution's version (pyproject.toml's, through the package metadata)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("mixc")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _parser(chosen: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mixc", description="A compiler for data-mixture experiments.")
    parser.add_argument("--version", action="version", version=f"mixc {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.help, description=command.help)
        if name == chosen:  # only the chosen command's module is imported
            importlib.import_module(f"mixc.compiler.commands.{command.module}").configure(p)
    return parser


def _run(name: str, module: ModuleType, args: argparse.Namespace) -> int:
    """The command's own run, or the install line when its layer (or a module of one) is missing."""
    layer = COMMANDS[name].layer
    if layer is not None and missing(layer):
        print(install_line(f"mixc {name}", layer), file=sys.stderr)
        return 2
    try:
        return int(module.run(args))
    except ModuleNotFoundError as exc:
        line = explain(f"mixc {name}", exc, layer or "run")
        if line is None:
            raise
        print(line, file=sys.stderr)
        return 2


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
    module = importlib.import_module(f"mixc.compiler.commands.{COMMANDS[args.command].module}")
    if passthrough and not getattr(module, "PASSTHROUGH", False):
        print(f"mixc {args.command}: takes no arguments after `--`", file=sys.stderr)
        return 2
    args.passthrough = passthrough
    try:
        return _run(args.command, module, args)
    except KeyboardInterrupt:
        print("mixc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
