"""The install layers: which extra brings which modules, and the line that says what to install.

`pip install mixc` is the checker (lark alone): `mixc check`, `fmt`, `plan` and `graph`.
Extras add the other layers: `mixc[run]`, the compiler layer (what `build`, `run`, `report`,
`law` and the compiler's jobs import), and `mixc[train]`, the worker layer (what the
runtime's jobs import). The `mixc` command line and the job runners ask here, so that a
missing layer is one line naming its extra, never a traceback. The extras themselves are
declared in pyproject.toml; tests keep the two in step.

Pure standard library: it finds modules without importing them, and must not import any
module it names.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layer:
    extra: str  # `pip install 'mixc[EXTRA]'`
    title: str  # how messages name it
    modules: tuple[str, ...]  # top-level import names that its distributions provide


LAYERS: dict[str, Layer] = {
    "run": Layer("run", "the compiler layer", ("numpy", "scipy", "threadpoolctl", "cvxpy", "clarabel", "zarr",
                                               "snakemake", "snakemake_executor_plugin_slurm", "matplotlib", "sklearn")),
    "train": Layer("train", "the worker layer", ("torch", "transformers", "tokenizers", "tiktoken", "safetensors",
                                                 "zarr", "numpy")),
}


def install_line(what: str, extra: str) -> str:
    """E.g. "mixc run needs the compiler layer: pip install 'mixc[run]'"."""
    layer = LAYERS[extra]
    return f"{what} needs {layer.title}: pip install 'mixc[{layer.extra}]'"


def missing(extra: str) -> tuple[str, ...]:
    """The modules of layer `extra` that this environment cannot import (none are imported)."""
    from importlib.util import find_spec  # only commands of a layer pay for it

    return tuple(m for m in LAYERS[extra].modules if find_spec(m) is None)


def explain(what: str, error: ImportError, extra: str) -> str | None:
    """The install line for an import that failed because a layer is absent.

    The layer is `extra` when it provides the module, else the first layer that does; None
    when no layer provides it (then the failure is a bug, and keeps its traceback).
    """
    top = (error.name or "").partition(".")[0]
    for layer in (LAYERS[extra], *LAYERS.values()):
        if top in layer.modules:
            return install_line(what, layer.extra)
    return None
