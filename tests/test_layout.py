"""The structure of the package, checked statically: one top-level name, no import cycles,
a docstring on every module, no overlong functions, and each layer importing only what it may."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"mixc": "mixc", "mixc.spec": "spec", "mixc.compiler": "compiler", "mixc.runtime": "runtime"}
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    """Every module of the package by its dotted name, from the package-dir mapping."""
    found = {}
    for package, folder in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if package == "mixc" and parts and parts[0] in ("spec", "compiler", "runtime"):
                continue
            found[".".join((package, *parts))] = path
    return found


MODULES = modules()


def imports_of(name: str, path: Path) -> set[str]:
    """The package modules `name` imports, anywhere in its file (lazy imports included)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        out |= {t for t in targets if t in MODULES and t != name}
    return out


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}


def test_packages_listed_in_pyproject_are_the_folders() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == FOLDERS
    packages = {n for n, p in MODULES.items() if p.name == "__init__.py"}
    assert set(config["packages"]) == packages


def test_no_import_cycles() -> None:
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in sorted(GRAPH[name]):
            assert state.get(dep) != 1, "import cycle: " + " -> ".join(path[path.index(dep):] + [dep])
            if dep not in state:
                visit(dep, path + [dep])
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])


def test_layers_import_only_downward() -> None:
    """The shared core imports no layer (but `python -m mixc`, the command line); spec imports neither compiler nor runtime; the runtime
    never imports the compiler (workers run without it)."""
    forbidden = {"mixc.spec": ("mixc.compiler", "mixc.runtime"), "mixc.runtime": ("mixc.compiler", "mixc.spec")}
    for name, deps in GRAPH.items():
        if name == "mixc.__main__":  # `python -m mixc` is the command line
            continue
        layer = next((p for p in ("mixc.spec", "mixc.compiler", "mixc.runtime") if name.startswith(p)), "mixc")
        banned = forbidden.get(layer, ()) if layer != "mixc" else ("mixc.spec", "mixc.compiler", "mixc.runtime")
        bad = sorted(d for d in deps if d.startswith(banned))
        assert not bad, f"{name} ({layer}) imports {bad}"


def test_every_module_says_what_it_is_for() -> None:
    missing = [n for n, p in MODULES.items() if ast.get_docstring(ast.parse(p.read_text())) is None]
    assert not missing


def test_no_overlong_functions() -> None:
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {lines} lines")
    assert not long
