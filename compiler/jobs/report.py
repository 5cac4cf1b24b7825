"""The report job: summary.json (its fields: `mixc.compiler.results_summary`), report.md,
report.html (plots) and results.zarr (runs x evaluation sets). Writes only its own folder,
atomically; computes nothing the summary does not hold.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Mapping

from mixc.jobs import ReportJob

RUN_COORDS = {"run": "name", "role": "role", "scale": "scale", "mixture": "mixture_name", "label": "label"}


def write_results_store(path: Path, summary: Mapping[str, Any]) -> None:
    """A zarr v3 group: `loss` (run x eval_set), `weights` (run x source), `objective` and
    `predicted` (run), NaN where absent; coordinates `run` (names), `eval_set`, `source`, and
    along `run`: role, scale (proxy | target), replicate, mixture (its name: chosen, a
    baseline, run3) and label. Dimension names and consolidated metadata let
    `xarray.open_zarr` open it as a Dataset, without a warning, those along `run` as coordinates."""
    import numpy as np
    import zarr

    runs, sets, sources = summary["runs"], summary["eval_sets"], summary["sources"]
    nan = float("nan")

    def table(values: list[list[float | None]], width: int) -> np.ndarray:
        return np.array([[nan if v is None else v for v in row] for row in values], dtype="float64").reshape(-1, width)

    arrays = {
        "loss": (table([[r["losses"].get(s) for s in sets] for r in runs], len(sets)), ("run", "eval_set")),
        "weights": (table([[(r["mixture"] or {}).get(s) for s in sources] for r in runs], len(sources)),
                    ("run", "source")),
        "objective": (table([[r["objective"]] for r in runs], 1)[:, 0], ("run",)),
        "predicted": (table([[r["predicted"]] for r in runs], 1)[:, 0], ("run",)),
        "replicate": (np.array([r["replicate"] for r in runs], dtype="int64"), ("run",)),
    }
    labels = {"eval_set": (sets, "eval_set"), "source": (sources, "source"),
              **{coord: ([r[key] for r in runs], "run") for coord, key in RUN_COORDS.items()}}
    along_run = " ".join(["replicate", *(c for c in RUN_COORDS if c != "run")])
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    root.attrs.update({"experiment": summary["experiment"]})
    for name, (data, dims) in arrays.items():
        arr = root.create_array(name, shape=data.shape, dtype=data.dtype, dimension_names=dims,
                                fill_value=np.nan if data.dtype.kind == "f" else 0)
        arr[...] = data
        if name != "replicate":  # the CF attribute by which xarray makes these coordinates, not variables
            arr.attrs["coordinates"] = along_run
    for name, (values, dim) in labels.items():
        arr = root.create_array(name, shape=(len(values),), dtype=str, dimension_names=(dim,))
        arr[...] = np.array(values, dtype=str)
    with warnings.catch_warnings():
        # zarr says consolidated metadata is not yet in the v3 spec; xarray.open_zarr looks for it
        # (and warns, slower, without it), as do zarr-python's own readers.
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        zarr.consolidate_metadata(str(path))


def run(job: ReportJob) -> None:
    from mixc.atomic import atomic_directory, write_json
    from mixc.compiler.results import markdown
    from mixc.compiler.results_html import html
    from mixc.compiler.results_summary import summarize

    summary = summarize(job)
    with atomic_directory(job.output) as tmp:
        tmp = Path(tmp)
        write_json(tmp / "summary.json", summary)
        (tmp / "report.md").write_text(markdown(summary), encoding="utf-8")
        (tmp / "report.html").write_text(html(summary), encoding="utf-8")
        write_results_store(tmp / "results.zarr", summary)
