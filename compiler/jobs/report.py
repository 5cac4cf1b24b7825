"""The report job: summary.json, report.md, report.html (plots) and results.zarr (runs x sets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mixc.jobs import ReportJob


def write_results_store(path: Path, summary: dict[str, Any]) -> None:
    """A zarr v3 group with `loss` (run x eval_set) and `weights` (run x source), NaN where
    absent; dimension names and coordinate labels let xarray open it as a Dataset."""
    import numpy as np
    import zarr

    runs, sets, sources = summary["runs"], summary["eval_sets"], summary["sources"]
    loss = np.array([[r["losses"].get(s, np.nan) for s in sets] for r in runs], dtype="float64").reshape(len(runs), len(sets))
    weights = np.array([[(r["mixture"] or {}).get(s, np.nan) for s in sources] for r in runs],
                       dtype="float64").reshape(len(runs), len(sources))
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    root.attrs.update({"experiment": summary["experiment"]})
    for name, data, dims in (("loss", loss, ("run", "eval_set")), ("weights", weights, ("run", "source"))):
        arr = root.create_array(name, shape=data.shape, dtype="float64", dimension_names=dims, fill_value=np.nan)
        arr[...] = data
    for name, labels in (("run", [r["name"] for r in runs]), ("eval_set", sets), ("source", sources),
                         ("role", [r["role"] for r in runs])):
        arr = root.create_array(name, shape=(len(labels),), dtype=str, dimension_names=("run" if name == "role" else name,))
        arr[...] = np.array(labels, dtype=str)


def run(job: ReportJob) -> None:
    from mixc.atomic import atomic_directory, write_json
    from mixc.compiler.results import html, markdown, summarize

    summary = summarize(job)
    with atomic_directory(job.output) as tmp:
        tmp = Path(tmp)
        write_json(tmp / "summary.json", summary)
        (tmp / "report.md").write_text(markdown(summary), encoding="utf-8")
        (tmp / "report.html").write_text(html(summary), encoding="utf-8")
        write_results_store(tmp / "results.zarr", summary)
