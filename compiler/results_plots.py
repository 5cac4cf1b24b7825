"""The report's plots, drawn with matplotlib and returned as SVG text to inline in report.html.

Each function takes a summary (`mixc.compiler.results_summary`, the dict of summary.json)
and returns one figure's `<svg>` element, or None when the summary holds nothing to draw:

    objective_scatter   the law's predicted objective vs the measured one at proxy scale
                        (proxy runs out-of-fold where the fit wrote it; the chosen mixture and
                        the baselines as mean ± sd over their replicates), with the y = x line
    objective_bars      each mixture's measured objective per scale, mean ± sd bars
    objective_rounds    a search in rounds or at several fidelities: each proxy's measured
                        objective by round, a panel per fidelity, the best so far
    loss_heatmap        every run's loss on every evaluation set, the values written in
    mixture_bars        the chosen mixture beside the baselines, each source's share written in
    loss_curves         training loss against tokens trained, a panel per scale: an exponential
                        moving average drawn over the raw losses (faint)
    mixture_schedules   the mixture over training of each run whose mixture changed (phases,
                        DoReMi, Aioli), stacked shares against tokens, with what it learned

matplotlib through its object API only (no pyplot: no global figure state), under
`rc_context` for the few settings the SVG needs; text is drawn as paths, so the page looks
the same on every viewer, with no font to install. Pure: reads and writes no file.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from mixc.compiler.results import RECIPES

CHOSEN, PROXY = "#1f5fa8", "#9a9a9a"
BASELINES = ("#e8731a", "#c2392b", "#3a9e8f", "#6b8e23", "#b07aa1", "#8c564b", "#d4a017")
SOURCES = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac")
SMOOTHING = 0.9  # the moving average's weight on the past (debiased, as TensorBoard draws it)
WIDTH = 8.0  # inches; the page scales every figure to its column
NATS = "nats per token"


def _svg(fig: Any, name: str) -> str:
    """The figure as an inline `<svg>` element (no XML prolog); `name` salts its element ids,
    so that figures on one page never share an id."""
    from matplotlib import rc_context

    out = io.StringIO()
    with rc_context({"svg.hashsalt": name}):
        fig.savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    return text[text.index("<svg"):]


def _figure(width: float, height: float, cols: int = 1, rows: int = 1) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes:
        ax.grid(True, color="#e4e4e4", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, list(axes)


def baseline_colours(summary: Mapping[str, Any]) -> dict[str, str]:
    """A colour per mixture label: the chosen mixture blue, each baseline its own, in run order."""
    colours: dict[str, str] = {}
    for r in summary["runs"]:
        if r["role"] == "chosen":
            colours.setdefault(r["label"], CHOSEN)
        elif r["role"] == "baseline" and r["label"] not in colours:
            colours[r["label"]] = BASELINES[sum(c != CHOSEN for c in colours.values()) % len(BASELINES)]
    return colours


@dataclass(frozen=True)
class Dot:
    """A point of the predicted-vs-measured plot: a proxy run, or a mixture's replicates as
    mean ± sd (sd None: no error bar)."""

    name: str  # the run's name, or the mixture's label
    predicted: float
    measured: float
    sd: float | None
    n: int
    proxy: bool


def scatter_points(summary: Mapping[str, Any]) -> list[Dot]:
    """At proxy scale: each proxy run, and each row of the proxy block (the chosen mixture, a
    baseline) as the mean ± sd of its replicates."""
    proxies = [r for r in summary["runs"]
               if r["role"] == "proxy" and r["scale"] == "proxy" and None not in (r["predicted"], r["objective"])]
    rows = [row for block in summary["scales"] if block["scale"] == "proxy" for row in block["rows"]
            if None not in (row["predicted"], row["objective"]["mean"])]
    return ([Dot(r["name"], r["predicted"], r["objective"], None, 1, True) for r in proxies]
            + [Dot(row["label"], row["predicted"], row["objective"]["mean"], row["objective"]["sd"],
                   row["objective"]["n"], False) for row in rows])


def objective_scatter(summary: Mapping[str, Any]) -> str | None:
    dots = scatter_points(summary)
    if not dots:
        return None
    fig, (ax,) = _figure(WIDTH * 0.75, 5.0)
    kind = (summary["law"] or {}).get("proxy_predictions") or "in-sample"
    proxies = [d for d in dots if d.proxy]
    if proxies:
        ax.scatter([d.predicted for d in proxies], [d.measured for d in proxies], s=28, color=PROXY,
                   label=f"proxy runs ({kind})", zorder=2)
    colours = baseline_colours(summary)
    for d in dots:
        if not d.proxy:
            ax.errorbar(d.predicted, d.measured, yerr=d.sd, fmt="o", ms=7, capsize=4, color=colours.get(d.name, CHOSEN),
                        zorder=3, label=f"{d.name} (n={d.n}{', ± sd' if d.sd is not None else ''})")
    values = [v for d in dots for v in (d.predicted, d.measured)]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or 0.05
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], ls="--", color="#777", lw=1, label="predicted = measured")
    ax.set_xlabel(f"predicted objective ({NATS})")
    ax.set_ylabel(f"measured objective ({NATS})")
    ax.set_title("objective at proxy scale: the law's prediction vs measured")
    ax.legend(fontsize=8, loc="best")
    return _svg(fig, "scatter")


def objective_bars(summary: Mapping[str, Any]) -> str | None:
    blocks = [b for b in summary["scales"] if any(r["objective"]["mean"] is not None for r in b["rows"])]
    if not blocks:
        return None
    colours = baseline_colours(summary)
    bars = sum(len(b["rows"]) for b in blocks)
    fig, axes = _figure(WIDTH, 1.0 + 0.9 * len(blocks) + 0.35 * bars, rows=len(blocks))
    for ax, block in zip(axes, blocks):
        rows = [r for r in block["rows"] if r["objective"]["mean"] is not None]
        means = [r["objective"]["mean"] for r in rows]
        sds = [r["objective"]["sd"] or 0.0 for r in rows]
        ys = range(len(rows))
        ax.barh(ys, means, xerr=sds, color=[colours.get(r["label"], CHOSEN) for r in rows], capsize=4, height=0.6)
        ax.set_yticks(list(ys), [f"{r['label']}: {r['objective']['mean']:.4f}"
                                 + (f" ± {r['objective']['sd']:.4f}" if r["objective"]["sd"] is not None else "")
                                 + f" (n={r['objective']['n']})" for r in rows], fontsize=8)
        ax.invert_yaxis()
        lo = min(m - s for m, s in zip(means, sds))
        hi = max(m + s for m, s in zip(means, sds))
        pad = (hi - lo) * 0.25 or 0.05
        ax.set_xlim(lo - pad, hi + pad)  # the differences are what matter: the axis does not start at 0
        ax.set_xlabel(f"measured objective ({NATS})")
        ax.set_title(f"{block['scale']} scale, {RECIPES[block['scale']]}", fontsize=10)
    fig.suptitle("measured objective by mixture: mean, bars ± sd over replicates (none from one run)", fontsize=10)
    return _svg(fig, "bars")


def objective_rounds(summary: Mapping[str, Any]) -> str | None:
    """A search in rounds or at several fidelities: each proxy's measured objective against the
    round that proposed it, a panel per fidelity (a cheaper one's losses sit higher), and the
    best so far."""
    proxies = [r for r in summary["runs"] if r["role"] == "proxy" and r["objective"] is not None
               and r.get("round") is not None]
    if not any(r["round"] or r.get("fidelity") for r in proxies):
        return None
    fidelities = list(dict.fromkeys(r.get("fidelity") or "" for r in proxies))
    rounds = sorted({r["round"] for r in proxies})
    fig, axes = _figure(WIDTH, 0.6 + 2.2 * len(fidelities), rows=len(fidelities))
    for ax, fidelity in zip(axes, fidelities):
        here = [r for r in proxies if (r.get("fidelity") or "") == fidelity]
        ax.scatter([r["round"] for r in here], [r["objective"] for r in here], color=PROXY, s=22, zorder=3,
                   label="a proxy run")
        seen = sorted({r["round"] for r in here})
        best = [min(r["objective"] for r in here if r["round"] <= k) for k in seen]
        ax.step(seen, best, where="post", color=CHOSEN, lw=1.4, label="best so far")
        ax.set_xticks(rounds)
        ax.set_xlim(rounds[0] - 0.3, rounds[-1] + 0.3)
        ax.set_ylabel(f"objective ({NATS})", fontsize=8)
        ax.set_title(f"fidelity {fidelity}" if fidelity else "proxy runs", fontsize=9)
        ax.legend(fontsize=8)
    axes[-1].set_xlabel("round (0: the first design)")
    fig.suptitle("proxy runs by round: each run's measured objective, and the best so far", fontsize=10)
    return _svg(fig, "rounds")


def loss_heatmap(summary: Mapping[str, Any]) -> str | None:
    runs, sets = [r for r in summary["runs"] if r["losses"]], summary["eval_sets"]
    if not runs or not sets:
        return None
    import numpy as np

    grid = np.array([[r["losses"].get(s, math.nan) for s in sets] for r in runs], dtype=float)
    fig, (ax,) = _figure(min(WIDTH, 3.2 + 1.1 * len(sets)), 1.4 + 0.26 * len(runs))
    ax.grid(False)
    image = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", cmap="viridis_r")
    slanted = len(sets) > 4  # long set names side by side would overlap
    ax.set_xticks(range(len(sets)), sets, rotation=30 if slanted else 0, ha="right" if slanted else "center")
    ax.set_yticks(range(len(runs)), [f"{r['name']} ({r['scale']})" for r in runs], fontsize=8)
    ax.tick_params(length=0)
    if grid.size <= 600:  # values written in while they stay legible
        lo, hi = np.nanmin(grid), np.nanmax(grid)
        for (i, j), v in np.ndenumerate(grid):
            if not math.isnan(v):
                dark = (v - lo) / ((hi - lo) or 1.0) > 0.55  # viridis_r is dark at the high end
                ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=7, color="white" if dark else "black")
    fig.colorbar(image, ax=ax, label=f"loss ({NATS})", shrink=0.9)
    ax.set_title("every run's loss on every evaluation set (held-out windows)", fontsize=10)
    return _svg(fig, "heatmap")


def mixture_rows(summary: Mapping[str, Any]) -> list[tuple[str, Mapping[str, float]]]:
    """(label, mixture) of the chosen mixture and each baseline, once each, then the token shares."""
    seen: dict[str, Mapping[str, float]] = {}
    for r in sorted(summary["runs"], key=lambda r: r["role"] != "chosen"):
        if r["role"] in ("chosen", "baseline") and r["mixture"]:
            seen.setdefault(r["label"], r["mixture"])
    rows = list(seen.items())
    if summary.get("natural") and "token shares" not in seen:
        rows.append(("token shares", summary["natural"]))
    return rows


def mixture_bars(summary: Mapping[str, Any]) -> str | None:
    rows, sources = mixture_rows(summary), summary["sources"]
    if not rows:
        return None
    fig, (ax,) = _figure(WIDTH, 1.6 + 0.42 * len(rows))
    ax.grid(False)
    for y, (label, mix) in enumerate(rows):
        left = 0.0
        for j, s in enumerate(sources):
            share = mix.get(s, 0.0)
            ax.barh(y, share, left=left, color=SOURCES[j % len(SOURCES)], height=0.65,
                    label=s if y == 0 else None, edgecolor="white", linewidth=0.5)
            if share >= 0.06:
                ax.text(left + share / 2, y, f"{share:.0%}", ha="center", va="center", fontsize=8, color="white")
            left += share
    ax.set_yticks(range(len(rows)), [label for label, _ in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter("{x:.0%}")
    ax.set_xlabel("share of training tokens")
    fig.legend(ncols=min(len(sources), 6), fontsize=8, loc="outside lower center", frameon=False)
    ax.set_title("the chosen mixture beside the baselines", fontsize=10)
    return _svg(fig, "mixtures")


def smoothed(values: Sequence[float], weight: float = SMOOTHING) -> list[float]:
    """An exponential moving average, debiased (the first points are not pulled toward 0)."""
    out, avg = [], 0.0
    for i, v in enumerate(values, 1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight ** i))
    return out


def tokens_tick(tokens: float) -> str:
    """A token count as a tick label: 500, 1.5k, 2M, 1.25B."""
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(tokens) >= div:
            return f"{tokens / div:.3g}{unit}"
    return f"{tokens:.0f}"


def loss_curves(summary: Mapping[str, Any]) -> str | None:
    curves = [(r, [(step * r["tokens_per_step"], loss) for step, loss in r["curve"]])
              for r in summary["runs"] if r["curve"] and r.get("tokens_per_step")]
    scales = [s for s in RECIPES if any(r["scale"] == s for r, _ in curves)]
    if not scales:
        return None
    from matplotlib.ticker import FuncFormatter

    colours = baseline_colours(summary)
    fig, axes = _figure(WIDTH, 4.2, cols=len(scales))
    for ax, scale in zip(axes, scales):
        here = sorted(((r, c) for r, c in curves if r["scale"] == scale), key=lambda rc: rc[0]["role"] != "proxy")
        labelled: set[str] = set()
        for r, points in here:  # proxies first, underneath
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            name = "proxy runs" if r["role"] == "proxy" else r["label"]
            colour = PROXY if r["role"] == "proxy" else colours.get(r["label"], CHOSEN)
            ax.plot(xs, ys, color=colour, alpha=0.18, lw=0.8)
            ax.plot(xs, smoothed(ys), color=colour, lw=1.0 if r["role"] == "proxy" else 1.8,
                    label=None if name in labelled else name)
            labelled.add(name)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: tokens_tick(x)))
        ax.set_xlabel("tokens trained (step x batch x sequence length)")
        ax.set_ylabel(f"training loss ({NATS})")
        ax.set_title(f"{scale} scale, {RECIPES[scale]}", fontsize=10)
        ax.legend(fontsize=8)
    fig.suptitle(f"training loss: moving average (weight {SMOOTHING}) over the raw per-step losses (faint)",
                 fontsize=10)
    return _svg(fig, "curves")


SCHEDULE_PANELS = 6  # replicates repeat their first one's schedule; more panels than this would drown the page


def scheduled_runs(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The runs whose mixture changed over training, one per (label, scale): the lowest replicate."""
    seen: dict[tuple[str, str], Mapping[str, Any]] = {}
    for r in sorted(summary["runs"], key=lambda r: r["replicate"]):
        if r.get("schedule") and r["schedule"].get("schedule") and r.get("tokens_per_step") and r.get("steps"):
            seen.setdefault((r["label"], r["scale"]), r)
    return list(seen.values())[:SCHEDULE_PANELS]


def shares_text(sources: Sequence[str], weights: Sequence[float], top: int = 3) -> str:
    """The largest shares of a mixture, e.g. 'code 41%, docs 22%, legal 15%'."""
    ranked = sorted(zip(sources, weights), key=lambda sw: -sw[1])[:top]
    return ", ".join(f"{s} {w:.0%}" for s, w in ranked)


def mixture_schedules(summary: Mapping[str, Any]) -> str | None:
    runs = scheduled_runs(summary)
    if not runs:
        return None
    from matplotlib.ticker import FuncFormatter

    sources = summary["sources"]
    fig, axes = _figure(WIDTH, 1.2 + 2.1 * len(runs), rows=len(runs))
    for ax, r in zip(axes, runs):
        per_step, changes = r["tokens_per_step"], r["schedule"]["schedule"]
        # Each change holds from its first step to the next change's, the last to the run's end.
        xs = [step * per_step for step, _ in changes] + [r["steps"] * per_step]
        shares = [[w[j] for _, w in changes] + [changes[-1][1][j]] for j in range(len(sources))]
        ax.grid(False)
        ax.stackplot(xs, shares, step="post", colors=[SOURCES[j % len(SOURCES)] for j in range(len(sources))],
                     labels=list(sources) if ax is axes[0] else (), linewidth=0)
        ax.set_xlim(0, xs[-1])
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_formatter("{x:.0%}")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: tokens_tick(x)))
        ax.set_ylabel("weight")
        kind, learned = r["schedule"]["kind"], r["schedule"].get("learned")
        # A phased run learns nothing: its last phase is what `learned` holds, and the plot shows it.
        tail = f"; learned: {shares_text(sources, learned)}" if learned and kind != "phases" else ""
        ax.set_title(f"{r['label']} ({r['scale']} scale), {kind}{tail}", fontsize=9)
    axes[-1].set_xlabel("tokens trained (step x batch x sequence length)")
    fig.legend(ncols=min(len(sources), 6), fontsize=8, loc="outside lower center", frameon=False)
    fig.suptitle("the mixture over training, where it changed: each source's weight (its share of the batches; "
                 "for DoReMi, its weight in the loss)", fontsize=10)
    return _svg(fig, "schedules")


PLOTS = (objective_scatter, objective_bars, objective_rounds, loss_heatmap, mixture_bars, loss_curves,
         mixture_schedules)  # the page's order
