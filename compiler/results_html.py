"""report.html: the result table (with the law's figures), three inline SVG plots and every run's
losses, from a summary (`mixc.compiler.results_summary`); no plotting library needed.

The plots: the objective predicted by the law vs measured, at proxy scale (proxy runs
out-of-fold where the fit wrote it, the chosen mixture and baselines as mean ± sd over
their replicates); the mixtures of the chosen mixture and the baselines; the training
loss against tokens trained (step x batch_size x seq_len), one panel per scale. Pure:
reads no file.
"""

from __future__ import annotations

import html as htmllib
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from mixc.compiler.results import RECIPES, result_table, run_cells

COLOURS = {"proxy": "#999", "chosen": "#4e79a7", "baseline": "#f28e2b"}
SOURCE_COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]
Point = tuple[float, float]


def _esc(text: Any) -> str:
    return htmllib.escape(str(text))


def _axis(values: Sequence[float], lo_px: float, hi_px: float) -> Callable[[float], float]:
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return lambda v: lo_px + (v - lo) / span * (hi_px - lo_px)


def _figure(caption: str, width: int, height: int, body: str) -> str:
    return (f'<figure><figcaption>{_esc(caption)}</figcaption>'
            f'<svg width="{width}" height="{height}">{body}</svg></figure>')


def tokens_text(tokens: float) -> str:
    """A token count as an axis label: 900, 12.5k, 3.2M, 1.5B tokens."""
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if tokens >= div:
            return f"{tokens / div:.3g}{unit} tokens"
    return f"{tokens:.0f} tokens"


@dataclass(frozen=True)
class Dot:
    """One point of the predicted-vs-measured plot, with a vertical bar of ± sd when it has one."""

    predicted: float
    measured: float
    sd: float | None
    colour: str
    tip: str


def scatter_points(summary: Mapping[str, Any]) -> list[Dot]:
    """At proxy scale: each proxy run, and each row of the proxy block (the chosen mixture, a
    baseline) as the mean ± sd of its replicates."""
    proxies = [r for r in summary["runs"] if r["role"] == "proxy" and None not in (r["predicted"], r["objective"])]
    rows = [row for block in summary["scales"] if block["scale"] == "proxy" for row in block["rows"]
            if None not in (row["predicted"], row["objective"]["mean"])]
    return ([Dot(r["predicted"], r["objective"], None, COLOURS["proxy"], f"{r['name']} ({r['prediction']})")
             for r in proxies]
            + [Dot(row["predicted"], row["objective"]["mean"], row["objective"]["sd"], COLOURS[row["role"]],
                   f"{row['label']} (n={row['objective']['n']})") for row in rows])


def _svg_scatter(summary: Mapping[str, Any]) -> str:
    points = scatter_points(summary)
    if not points:
        return ""
    w, h, m = 360, 300, 40
    allv = [d.predicted for d in points] + [d.measured + k * (d.sd or 0.0) for d in points for k in (-1, 1)]
    sx, sy = _axis(allv, m, w - 10), _axis(allv, h - m, 10)
    lo, hi = min(allv), max(allv)
    parts = [f'<line x1="{sx(lo):.1f}" y1="{sy(lo):.1f}" x2="{sx(hi):.1f}" y2="{sy(hi):.1f}" stroke="#bbb"/>']
    for d in points:
        x, y = sx(d.predicted), sy(d.measured)
        if d.sd:
            parts.append(f'<line x1="{x:.1f}" y1="{sy(d.measured - d.sd):.1f}" x2="{x:.1f}" '
                         f'y2="{sy(d.measured + d.sd):.1f}" stroke="{d.colour}"/>')
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{d.colour}"><title>{_esc(d.tip)}: predicted '
                     f'{d.predicted:.4f}, measured {d.measured:.4f}</title></circle>')
    parts.append(f'<text x="{w / 2}" y="{h - 8}" text-anchor="middle" font-size="11">predicted objective</text>')
    parts.append(f'<text x="12" y="{h / 2}" font-size="11" transform="rotate(-90 12 {h / 2})">'
                 'measured objective</text>')
    kind = (summary["law"] or {}).get("proxy_predictions") or "-"
    return _figure(f"objective at proxy scale, predicted by the law vs measured (grey: proxy runs, {kind}; blue: "
                   "chosen, orange: baselines, out-of-sample, mean ± sd over replicates)", w, h, "".join(parts))


def _svg_bars(summary: Mapping[str, Any]) -> str:
    seen: dict[str, Mapping[str, float]] = {}
    for r in summary["runs"]:
        if r["role"] in ("chosen", "baseline") and r["mixture"]:
            seen.setdefault(r["label"], r["mixture"])
    if not seen:
        return ""
    sources, w, bar, gap = summary["sources"], 420, 18, 8
    h = len(seen) * (bar + gap) + 40
    parts = []
    for i, (label, mix) in enumerate(seen.items()):
        x, y = 110.0, 10 + i * (bar + gap)
        parts.append(f'<text x="0" y="{y + 13}" font-size="11">{_esc(label[:16])}<title>{_esc(label)}</title></text>')
        for j, s in enumerate(sources):
            width = mix.get(s, 0.0) * (w - 120)
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{bar}" '
                         f'fill="{SOURCE_COLOURS[j % len(SOURCE_COLOURS)]}"><title>{_esc(s)} {mix.get(s, 0.0):.1%}'
                         '</title></rect>')
            x += width
    legend = "".join(f'<tspan fill="{SOURCE_COLOURS[j % len(SOURCE_COLOURS)]}">&#9632; {_esc(s)} </tspan>'
                     for j, s in enumerate(sources))
    parts.append(f'<text x="0" y="{h - 8}" font-size="11">{legend}</text>')
    return _figure("the chosen mixture beside the baselines", w, h, "".join(parts))


def curve_points(run: Mapping[str, Any]) -> list[Point]:
    """A run's training loss against tokens trained: (step x tokens_per_step, loss)."""
    per_step = run.get("tokens_per_step")
    return [(step * per_step, loss) for step, loss in run["curve"]] if per_step else []


def _panel(runs: Sequence[Mapping[str, Any]], scale: str, left: float, w: float, h: float) -> str:
    """One scale's loss curves in the box [left, left + w] x [0, h], with its axes in tokens."""
    curves = [(r, curve_points(r)) for r in runs if r["scale"] == scale]
    curves = [(r, c) for r, c in curves if c]
    if not curves:
        return ""
    m = 40
    xs, ys = [p[0] for _, c in curves for p in c], [p[1] for _, c in curves for p in c]
    sx, sy = _axis(xs, left + m, left + w - 10), _axis(ys, h - m, 20)
    title = f"{scale} scale, {RECIPES[scale]}"
    parts = [f'<text x="{left + w / 2}" y="12" text-anchor="middle" font-size="11">{_esc(title)}</text>']
    for r, c in sorted(curves, key=lambda rc: rc[0]["role"] != "proxy"):  # proxies underneath
        d = " ".join(f"{'M' if k == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for k, (x, y) in enumerate(c))
        parts.append(f'<path d="{d}" fill="none" stroke="{COLOURS[r["role"]]}"><title>{_esc(r["name"])}</title></path>')
    for x, anchor in ((min(xs), "start"), (max(xs), "end")):
        parts.append(f'<text x="{sx(x):.1f}" y="{h - m + 14}" text-anchor="{anchor}" font-size="10">{tokens_text(x)}'
                     '</text>')
    for y in (min(ys), max(ys)):
        parts.append(f'<text x="{left + m - 4}" y="{sy(y):.1f}" text-anchor="end" font-size="10">{y:.2f}</text>')
    parts.append(f'<text x="{left + w / 2}" y="{h - 8}" text-anchor="middle" font-size="11">'
                 'tokens trained (step x batch size x sequence length)</text>')
    return "".join(parts)


def _svg_curves(summary: Mapping[str, Any]) -> str:
    scales = [s for s in RECIPES if any(r["scale"] == s and curve_points(r) for r in summary["runs"])]
    if not scales:
        return ""
    w, h = 420, 260
    body = "".join(_panel(summary["runs"], s, i * w, w, h) for i, s in enumerate(scales))
    return _figure("training loss (nats per token) against tokens trained, one panel per recipe (blue: chosen, "
                   "orange: baselines, grey: proxy runs)", w * len(scales), h, body)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def html(summary: Mapping[str, Any]) -> str:
    """report.html: one self-contained page."""
    body = "".join([
        f"<h1>{_esc(summary['experiment'])}</h1>",
        f"<pre>{_esc(result_table(summary))}</pre>",
        _svg_scatter(summary), _svg_bars(summary), _svg_curves(summary),
        "<h2>Runs</h2>", _table(*run_cells(summary)),
    ])
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{_esc(summary['experiment'])}</title>"
            "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}figure{display:inline-block;"
            "margin:1em}pre{background:#f6f6f6;padding:1em}td,th{padding:0 .5em;text-align:right}</style></head>"
            "<body>" + body + "</body></html>\n")
