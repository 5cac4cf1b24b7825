"""Read a .mix file and, transitively, the files it imports, never reading outside the project.

Imports are relative to the importing file and must resolve, links followed, inside the
project root: the folder given (`mixc check --root DIR`), else the git repository holding
the spec (the nearest folder up with a `.git` entry), else the spec's own folder. `mixc
check` runs in CI on specs from pull requests, so nothing of a file that is not a spec may
reach a diagnostic, where a secret would be printed into a public log: an absolute import
or one that leaves the root is E013 and is not opened; a target that is not a .mix spec
(too large, binary, not UTF-8, or it does not parse) is E014 at the import, its text
neither kept nor quoted. A missing file (E010) or a cycle (E011) is reported at the
`import` line too. The result keeps every spec's text so diagnostics can quote it. Only
the root file's own I/O failure raises (OSError): that is a usage error, exit 2.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mixc.spec import ast
from mixc.spec.diagnostics import Diagnostic, Note
from mixc.spec.parse import MAX_BYTES, decode, parse

ROOT_HELP = ("imports stay inside the project: the git repository holding the spec, else its folder "
             "(`mixc check --root DIR` names another)")


@dataclass(frozen=True)
class Loaded:
    root: ast.Module | None
    imported: tuple[ast.Module, ...]  # dependencies first, each file once
    texts: dict[str, str]  # path -> text, for quoting in diagnostics (specs only)
    diagnostics: tuple[Diagnostic, ...]


def project_root(spec_path: str) -> str:
    """The nearest folder holding the spec with a `.git` entry, or the spec's folder when none
    has one (the current folder for standard input). Links are not followed on the way up, so
    a spec that is a link out of the project does not take the project along."""
    start = os.path.abspath(os.path.dirname(spec_path))
    folder = start
    while not os.path.lexists(os.path.join(folder, ".git")):
        parent = os.path.dirname(folder)
        if parent == folder:
            return start
        folder = parent
    return folder


def load(path: str, root: str | None = None) -> Loaded:
    """Load the spec at `path` and its imports, within `root` (default: `project_root(path)`)."""
    root = root if root is not None else project_root(path)
    if not _inside(path, root):  # a spec that is a link out of the project: never read it
        span = ast.Span(os.path.normpath(path), 1, 1, 1, 2)
        return Loaded(None, (), {}, (Diagnostic("E013", "this spec resolves outside the project", span,
                                                help="check specs inside the project, or name its folder with --root"),))
    with open(path, "rb") as f:
        data = f.read()
    return load_bytes(data, path, root)


def load_bytes(data: bytes, path: str, root: str | None = None) -> Loaded:
    """Load a spec given as bytes; `path` names it in diagnostics and anchors its imports."""
    loader = _Loader(os.path.realpath(root if root is not None else project_root(path)))
    path = os.path.normpath(path) if path != "-" else path
    module = loader.parse(data, path)
    if module is not None:
        loader.done[path] = module
        loader.visit(module, [(path, None)])
    return Loaded(module, tuple(loader.order), loader.texts, tuple(loader.diags))


def _inside(path: str, root: str) -> bool:
    """Whether `path`, links resolved, lies within the folder `root`."""
    real_root = os.path.realpath(root)
    return os.path.commonpath([os.path.realpath(path), real_root]) == real_root


class _Loader:
    """One load: the files read so far, their texts and the diagnostics, imports first in `order`."""

    def __init__(self, root: str) -> None:
        self.root = root  # real path
        self.texts: dict[str, str] = {}
        self.diags: list[Diagnostic] = []
        self.done: dict[str, ast.Module | None] = {}
        self.order: list[ast.Module] = []

    def parse(self, data: bytes, path: str) -> ast.Module | None:
        text, problems = decode(data, path)
        if text is None:
            self.diags.extend(problems)
            return None
        self.texts[path] = text
        module, problems = parse(text, path)
        self.diags.extend(problems)
        return module

    def visit(self, module: ast.Module, stack: list[tuple[str, ast.Import | None]]) -> None:
        """Follow the imports of `module`, depth first; `stack` is the chain of imports that led here."""
        for item in module.items:
            if not isinstance(item, ast.Import):
                continue
            target = self.target(item, os.path.dirname(module.path))
            if target is None:
                continue
            chain = [p for p, _ in stack]
            if target in chain:
                cycle = " -> ".join(chain[chain.index(target):] + [target])
                notes = tuple(Note(f"imports {os.path.basename(p)}", imp.span) for p, imp in stack if imp is not None)
                self.diags.append(Diagnostic("E011", f"import cycle: {cycle}", item.span, notes=notes,
                                             help="move the shared definitions into a file that imports neither"))
                continue
            if target in self.done:
                continue
            child = self.read(item, target)
            self.done[target] = child
            if child is None:
                continue
            for sub in child.items:
                if isinstance(sub, ast.Experiment):
                    self.diags.append(Diagnostic("E033", f"imported file {target} defines an experiment", sub.name.span,
                                                 notes=(Note("imported here", item.span),),
                                                 help="an imported file may hold only definitions (source, eval, model, train)"))
            self.visit(child, stack + [(target, item)])
            self.order.append(child)

    def target(self, item: ast.Import, here: str) -> str | None:
        """The path an import names, or None (reported) when it may not be read: nothing is opened here."""
        written = item.path.value
        if os.path.isabs(written):
            self.diags.append(Diagnostic("E013", f"cannot import {item.path.text}: the path is absolute",
                                         item.path.span, help=ROOT_HELP))
            return None
        if "\0" in written:
            self.diags.append(Diagnostic("E010", f"cannot import {item.path.text}: a path cannot hold a NUL character",
                                         item.path.span))
            return None
        target = os.path.normpath(os.path.join(here, written))
        if not _inside(target, self.root):
            self.diags.append(Diagnostic("E013", f"cannot import {item.path.text}: it leads outside the project",
                                         item.path.span, help=ROOT_HELP))
            return None
        return target

    def read(self, item: ast.Import, target: str) -> ast.Module | None:
        """The imported spec, or None (reported). A file that is not a spec stays unquoted: only its path is named."""
        try:
            with open(target, "rb") as f:
                raw = f.read(MAX_BYTES + 1)  # one byte over the limit is enough to refuse it
        except OSError as exc:
            self.diags.append(Diagnostic("E010", f"cannot import {item.path.text}: {exc.strerror or exc}", item.path.span,
                                         help=f"the path is relative to this file's folder (looked for {target})"))
            return None
        text, _ = decode(raw, target)
        module, _ = parse(text, target) if text is not None else (None, [])
        if module is None:
            self.diags.append(Diagnostic("E014", f"cannot import {item.path.text}: it is not a .mix spec", item.path.span,
                                         help=f"its text is not shown here; to see why it does not read as a spec, run "
                                              f"`mixc check {target}` on your own machine"))
            return None
        self.texts[target] = text
        return module
