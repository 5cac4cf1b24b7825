"""Results of a finished experiment: the summary the report job writes, and its renderings.

`summarize` gathers what the jobs wrote (the design, the law, the solution, every run's
evaluation and loss curve) into one JSON-able dict; `result_table`, `markdown` and `html`
render it. The objective of a run is computed from its measured losses exactly as the
spec states it (weighted sum, or max). Reads files; writes none.
"""

from __future__ import annotations

import html as htmllib
import json
import math
from pathlib import Path
from typing import Any

from mixc.jobfile import load
from mixc.jobs import Objective, ReportJob, ReportRun
from mixc.runtime.kinds import KINDS as RUNTIME_KINDS


def objective_value(objective: dict[str, Any] | None, losses: dict[str, float]) -> float | None:
    if not objective or any(t not in losses for _, t in objective["terms"]):
        return None
    values = [c * losses[t] for c, t in objective["terms"]]
    return max(values) if objective["kind"] == "max" else sum(values)


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _objective_json(objective: Objective | None) -> dict[str, Any] | None:
    """The objective as the summary shows it: {"kind", "terms": [[coef, target], ...]}."""
    if objective is None:
        return None
    return {"kind": objective.kind, "terms": [[t.coef, t.target] for t in objective.terms]}


class _Mixtures:
    """The weights each run trained on: given in its job file, or decided by another job
    (each decided-mixtures file is read once: a sweep's proxies share one)."""

    def __init__(self) -> None:
        self.files: dict[str, Any] = {}

    def of(self, run: ReportRun) -> list[float] | None:
        path = Path("jobs") / f"{run.output}.json"
        if not path.exists():
            return None
        train = load(path, {"train": RUNTIME_KINDS["train"]}).config
        if train.weights is not None or train.weights_file is None:
            return train.weights
        if train.weights_file.path not in self.files:
            self.files[train.weights_file.path] = _read(Path(train.weights_file.path))
        decided = self.files[train.weights_file.path]
        return decided["mixtures"][train.weights_file.key] if decided else None


def _run_summary(job: ReportJob, run: ReportRun, weights: list[float] | None) -> dict[str, Any]:
    metrics = _read(Path(run.output) / "metrics.json") or {}
    ev = metrics.get("eval", {})
    losses = {name: ev[group]["loss"] for name, group in job.eval_groups.items() if group in ev}
    return {"name": run.name, "role": run.role, "output": run.output,
            "mixture": dict(zip(job.sources, weights)) if weights else None,
            "losses": losses, "objective": objective_value(_objective_json(job.objective), losses),
            "curve": metrics.get("loss_curve", []), "tokens_per_s": metrics.get("tokens_per_s")}


def _add_predictions(runs: list[dict[str, Any]], law: dict[str, Any], sources: list[str],
                     objective: dict[str, Any] | None) -> None:
    """The law's predicted objective for every run at proxy scale."""
    import numpy as np

    from mixc.compiler.mixture.laws import load_law

    fitted = load_law(law)
    proxies = [r for r in runs if r["role"] in ("proxy", "chosen", "baseline") and r["mixture"]]
    preds = fitted.predict(np.array([[r["mixture"][s] for s in sources] for r in proxies]))
    for r, p in zip(proxies, preds):
        r["predicted"] = objective_value(objective, dict(zip(fitted.targets, map(float, p))))


def summarize(job: ReportJob) -> dict[str, Any]:
    """One dict with everything the report shows; paths in `job` are relative to the work dir."""
    sources, objective = list(job.sources), _objective_json(job.objective)
    design = _read(Path(job.design) / "mixtures.json") if job.design else None
    solution = _read(Path(job.solve) / "solution.json") if job.solve else None
    law = _read(Path(job.fit) / "law.json") if job.fit else None
    mixtures = _Mixtures()
    runs = [_run_summary(job, r, mixtures.of(r)) for r in job.runs]
    predicted = None
    if law is not None:
        _add_predictions(runs, law, sources, objective)
        predicted = {"law": law.get("law"), "cv": law.get("cv", {})}
    # Job files sort their keys: restore the spec's order (sources first, then extra sets).
    eval_sets = [s for s in sources if s in job.eval_groups] + sorted(set(job.eval_groups) - set(sources))
    return {"experiment": job.experiment, "sources": sources, "eval_sets": eval_sets,
            "objective": objective, "solution": solution, "law": predicted,
            "natural": dict(zip(sources, design["mixtures"]["natural"])) if design else None, "runs": runs}


def _fmt(x: float | None, digits: int = 4) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _objective_text(objective: dict[str, Any] | None) -> str:
    if not objective:
        return "objective"
    terms = [f"{'' if c == 1 else f'{c:g}*'}loss({t})" for c, t in objective["terms"]]
    return f"max({', '.join(terms)})" if objective["kind"] == "max" else " + ".join(terms)


def result_table(summary: dict[str, Any]) -> str:
    """The table `mixc run` prints: the mixture found, predicted vs measured, and the baselines."""
    lines = [f"experiment {summary['experiment']}: minimize {_objective_text(summary['objective'])}"]
    sol = summary.get("solution")
    if sol:
        mix = "  ".join(f"{s} {w:.1%}" for s, w in sol["mixture"].items())
        lines.append(f"mixture found: {mix}")
        if sol.get("binding"):
            lines.append(f"binding constraints: {', '.join(sol['binding'])}")
    header = f"{'run':<28} {'role':<9} {'predicted':>9} {'measured':>9}"
    lines += ["", header, "-" * len(header)]
    order = {"chosen": 0, "final": 1, "baseline": 2, "proxy": 3}
    for r in sorted(summary["runs"], key=lambda r: (order.get(r["role"], 9), r["name"])):
        if r["role"] == "proxy":
            continue
        lines.append(f"{r['name']:<28} {r['role']:<9} {_fmt(r.get('predicted')):>9} {_fmt(r['objective']):>9}")
    proxies = [r for r in summary["runs"] if r["role"] == "proxy" and r["objective"] is not None]
    if proxies:
        best = min(proxies, key=lambda r: r["objective"])
        lines.append(f"{'best of ' + str(len(proxies)) + ' proxy runs':<28} {'proxy':<9} "
                     f"{_fmt(best.get('predicted')):>9} {_fmt(best['objective']):>9}")
    return "\n".join(lines)


def markdown(summary: dict[str, Any]) -> str:
    out = [f"# {summary['experiment']}", "", "```", result_table(summary), "```", ""]
    sets = summary["eval_sets"]
    out.append("| run | role | " + " | ".join(sets) + " |")
    out.append("| --- | --- | " + " | ".join("---" for _ in sets) + " |")
    for r in summary["runs"]:
        out.append(f"| {r['name']} | {r['role']} | " + " | ".join(_fmt(r["losses"].get(s)) for s in sets) + " |")
    law = summary.get("law")
    if law:
        out += ["", f"Law: `{law['law']}`; cross-validated Spearman {_fmt(law['cv'].get('spearman'), 3)}."]
    return "\n".join(out) + "\n"


# ---- HTML with inline SVG plots (no plotting library needed) --------------------------------


def _scale(values: list[float], lo_px: float, hi_px: float):
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return lambda v: lo_px + (v - lo) / span * (hi_px - lo_px)


def _svg_scatter(points: list[tuple[float, float, str]], title: str) -> str:
    if not points:
        return ""
    w, h, m = 360, 300, 40
    allv = [p[0] for p in points] + [p[1] for p in points]
    sx, sy = _scale(allv, m, w - 10), _scale(allv, h - m, 10)
    lo, hi = min(allv), max(allv)
    dots = "".join(f'<circle cx="{sx(p):.1f}" cy="{sy(q):.1f}" r="4" fill="{c}"><title>{p:.4f} / {q:.4f}</title></circle>'
                   for p, q, c in points)
    return (f'<figure><figcaption>{htmllib.escape(title)}</figcaption><svg width="{w}" height="{h}">'
            f'<line x1="{sx(lo):.1f}" y1="{sy(lo):.1f}" x2="{sx(hi):.1f}" y2="{sy(hi):.1f}" stroke="#bbb"/>'
            f'{dots}<text x="{w / 2}" y="{h - 8}" text-anchor="middle" font-size="11">predicted</text>'
            f'<text x="12" y="{h / 2}" font-size="11" transform="rotate(-90 12 {h / 2})">measured</text></svg></figure>')


def _svg_bars(rows: list[tuple[str, dict[str, float]]], sources: list[str], title: str) -> str:
    if not rows:
        return ""
    colours = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]
    w, bar, gap = 420, 18, 8
    h = len(rows) * (bar + gap) + 40
    parts = []
    for i, (name, mix) in enumerate(rows):
        x, y = 110.0, 10 + i * (bar + gap)
        parts.append(f'<text x="0" y="{y + 13}" font-size="11">{htmllib.escape(name[:16])}</text>')
        for j, s in enumerate(sources):
            width = mix.get(s, 0.0) * (w - 120)
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{bar}" fill="{colours[j % len(colours)]}">'
                         f'<title>{htmllib.escape(s)} {mix.get(s, 0.0):.1%}</title></rect>')
            x += width
    legend = "".join(f'<tspan fill="{colours[j % len(colours)]}">&#9632; {htmllib.escape(s)} </tspan>'
                     for j, s in enumerate(sources))
    parts.append(f'<text x="0" y="{h - 8}" font-size="11">{legend}</text>')
    return f'<figure><figcaption>{htmllib.escape(title)}</figcaption><svg width="{w}" height="{h}">{"".join(parts)}</svg></figure>'


def _svg_curves(runs: list[dict[str, Any]], title: str) -> str:
    curves = [(r["name"], r["curve"]) for r in runs if r["curve"]]
    if not curves:
        return ""
    w, h, m = 420, 260, 40
    xs = [p[0] for _, c in curves for p in c]
    ys = [p[1] for _, c in curves for p in c]
    sx, sy = _scale(xs, m, w - 10), _scale(ys, h - m, 10)
    paths = []
    for i, (name, c) in enumerate(curves):
        d = " ".join(f"{'M' if k == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for k, (x, y) in enumerate(c))
        colour = "#e15759" if "final" in name else ("#4e79a7" if "chosen" in name else "#bbb")
        paths.append(f'<path d="{d}" fill="none" stroke="{colour}"><title>{htmllib.escape(name)}</title></path>')
    return (f'<figure><figcaption>{htmllib.escape(title)}</figcaption><svg width="{w}" height="{h}">{"".join(paths)}'
            f'<text x="{w / 2}" y="{h - 8}" text-anchor="middle" font-size="11">tokens</text></svg></figure>')


def html(summary: dict[str, Any]) -> str:
    runs = summary["runs"]
    scatter = [(r["predicted"], r["objective"], {"proxy": "#999", "chosen": "#4e79a7", "baseline": "#f28e2b"}[r["role"]])
               for r in runs if r.get("predicted") is not None and r["objective"] is not None]
    bars = [(r["name"], r["mixture"]) for r in runs if r["role"] in ("chosen", "baseline") and r["mixture"]]
    body = "".join([
        f"<h1>{htmllib.escape(summary['experiment'])}</h1>",
        f"<pre>{htmllib.escape(result_table(summary))}</pre>",
        _svg_scatter(scatter, "objective: predicted by the law vs measured (grey: proxy runs, blue: chosen, orange: baselines)"),
        _svg_bars(bars, summary["sources"], "the chosen mixture beside the baselines"),
        _svg_curves(runs, "training loss (red: final, blue: chosen, grey: others)"),
    ])
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{htmllib.escape(summary['experiment'])}</title>"
            "<style>body{font-family:sans-serif;max-width:900px;margin:2em auto}figure{display:inline-block;"
            "margin:1em}pre{background:#f6f6f6;padding:1em}</style></head><body>" + body + "</body></html>\n")
