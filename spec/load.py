"""Read a .mix file and, transitively, the files it imports.

Imports are relative to the importing file; a cycle or a missing file is a diagnostic
at the `import` line. The result keeps every file's text so diagnostics can quote it.
Only the root file's own I/O failure raises (OSError): that is a usage error, exit 2.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mixc.spec import ast
from mixc.spec.diagnostics import Diagnostic, Note
from mixc.spec.parse import decode, parse


@dataclass(frozen=True)
class Loaded:
    root: ast.Module | None
    imported: tuple[ast.Module, ...]  # dependencies first, each file once
    texts: dict[str, str]  # path -> text, for quoting in diagnostics
    diagnostics: tuple[Diagnostic, ...]


def load(path: str) -> Loaded:
    with open(path, "rb") as f:
        data = f.read()
    return load_bytes(data, path)


def load_bytes(data: bytes, path: str) -> Loaded:
    texts: dict[str, str] = {}
    diags: list[Diagnostic] = []
    done: dict[str, ast.Module | None] = {}
    order: list[ast.Module] = []

    def parse_file(data: bytes, path: str) -> ast.Module | None:
        text, problems = decode(data, path)
        if text is None:
            diags.extend(problems)
            return None
        texts[path] = text
        module, problems = parse(text, path)
        diags.extend(problems)
        return module

    def visit(module: ast.Module, stack: list[tuple[str, ast.Import | None]]) -> None:
        here = os.path.dirname(module.path)
        for item in module.items:
            if not isinstance(item, ast.Import):
                continue
            target = os.path.normpath(os.path.join(here, item.path.value))
            chain = [p for p, _ in stack]
            if target in chain:
                cycle = " -> ".join(chain[chain.index(target):] + [target])
                notes = tuple(Note(f"imports {os.path.basename(p)}", imp.span) for p, imp in stack if imp is not None)
                diags.append(Diagnostic("E011", f"import cycle: {cycle}", item.span, notes=notes,
                                        help="move the shared definitions into a file that imports neither"))
                continue
            if target in done:
                continue
            try:
                with open(target, "rb") as f:
                    raw = f.read()
            except OSError as exc:
                diags.append(Diagnostic("E010", f"cannot import {item.path.text}: {exc.strerror or exc}", item.path.span,
                                        help=f"the path is relative to this file's folder (looked for {target})"))
                done[target] = None
                continue
            child = parse_file(raw, target)
            done[target] = child
            if child is None:
                continue
            for sub in child.items:
                if isinstance(sub, ast.Experiment):
                    diags.append(Diagnostic("E033", f"imported file {target} defines an experiment", sub.name.span,
                                            notes=(Note("imported here", item.span),),
                                            help="an imported file may hold only definitions (source, eval, model, train)"))
            visit(child, stack + [(target, item)])
            order.append(child)

    path = os.path.normpath(path) if path != "-" else path
    root = parse_file(data, path)
    if root is not None:
        done[path] = root
        visit(root, [(path, None)])
    return Loaded(root, tuple(order), texts, tuple(diags))
