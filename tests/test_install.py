"""The install layers: `pip install mixc` is lark alone and holds check, fmt, plan and graph.

Heavy modules are hidden from a subprocess (a `None` in `sys.modules` is what Python reads
as "not installed"), which is how a bare install looks to mixc: the checker's commands
still work, and a command of the compiler layer says which extra to install. The extras in
pyproject.toml and the table in `mixc.layers` name the same modules, and the wheel installs
one top-level name.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest

from mixc.layers import LAYERS, explain
from tests.helpers.paths import ROOT

HEAVY = ("numpy", "scipy", "threadpoolctl", "cvxpy", "clarabel", "networkx", "snakemake", "zarr", "torch",
         "transformers", "tokenizers", "tiktoken", "safetensors", "pandas", "lightgbm", "sklearn")
DISTRIBUTION_OF = {"scikit-learn": "sklearn"}  # a distribution whose import name is not its own
QUICKSTART = "examples/quickstart.mix"
BARE_COMMANDS = (["check", QUICKSTART], ["fmt", "--check", QUICKSTART], ["plan", QUICKSTART],
                 ["graph", QUICKSTART, "--format", "mermaid"])


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def distribution(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9._-]+", requirement).group(0).lower().replace("_", "-")


def run_main(commands: list[list[str]], hide: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """`main` on each command in one fresh interpreter, `hide` made uninstalled; then prints the heavy
    modules that ended up imported. Exits with the first non-zero status."""
    code = (f"import sys\nfor m in {hide!r}:\n    sys.modules[m] = None\n"
            "from mixc.compiler.cli import main\n"
            f"for args in {commands!r}:\n    rc = main(args)\n    if rc:\n        sys.exit(rc)\n"
            f"print('imported:', *sorted(m for m in {HEAVY!r} if sys.modules.get(m)))\n")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)


def test_base_dependencies_are_only_light_ones():
    assert {distribution(r) for r in project()["dependencies"]} == {"lark"}


def test_layers_name_the_extras_modules():
    extras = project()["optional-dependencies"]
    for extra, layer in LAYERS.items():
        assert {DISTRIBUTION_OF.get(distribution(r), distribution(r)) for r in extras[extra]} == \
            {m.replace("_", "-") for m in layer.modules}, extra
    assert extras["all"] == ["mixc[run,train,lightgbm,report]"]


def test_checker_commands_import_nothing_heavy():
    r = run_main([list(c) for c in BARE_COMMANDS])
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "imported:"


def test_checker_commands_work_without_the_heavy_layers():
    r = run_main([list(c) for c in BARE_COMMANDS], hide=HEAVY)
    assert r.returncode == 0, r.stderr
    assert "flowchart LR" in r.stdout and "Traceback" not in r.stderr


@pytest.mark.parametrize("args", [["run", QUICKSTART], ["build", QUICKSTART, "-o", "unused"],
                                  ["report", "unused"], ["law", "eval", "law.json", "--mixtures", "m.csv",
                                                         "--losses", "l.csv"]])
def test_a_command_of_a_missing_layer_names_its_extra(args):
    r = run_main([args], hide=HEAVY)
    assert r.returncode == 2
    assert r.stderr == f"mixc {args[0]} needs the compiler layer: pip install 'mixc[run]'\n"


def test_failed_imports_are_explained_by_the_layer_that_holds_them():
    def error(name: str) -> ModuleNotFoundError:
        return ModuleNotFoundError(f"No module named {name!r}", name=name)

    assert explain("job", error("torch"), "run") == "job needs the worker layer: pip install 'mixc[train]'"
    assert explain("job", error("zarr.codecs"), "train") == "job needs the worker layer: pip install 'mixc[train]'"
    assert explain("mixc law", error("zarr"), "run") == "mixc law needs the compiler layer: pip install 'mixc[run]'"
    assert explain("job", error("mixc.nothing"), "run") is None  # a bug keeps its traceback


def test_the_wheel_installs_one_top_level_name(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".*", "build", "*.egg-info", "__pycache__", "tests", "benchmarks", "examples"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "out"), str(src)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "out").glob("mixc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"mixc", wheel.name.split("-py")[0] + ".dist-info"}
    assert {"mixc/spec/mix.lark", "mixc/compiler/Snakefile", "mixc/layers.py"} <= set(names)


def test_a_local_run_without_the_worker_layer_names_it():
    """`mixc run` on this machine runs the workers' jobs here, so it needs mixc[train] too."""
    r = run_main([["run", QUICKSTART]], hide=("torch", "transformers", "tokenizers", "safetensors"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("mixc run needs the worker layer: pip install 'mixc[train]'")
