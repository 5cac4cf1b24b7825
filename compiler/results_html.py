"""report.html: one self-contained page (no network at view time) from a summary
(`mixc.compiler.results_summary`): the result blocks, the law's cross-validation, the
mixtures and every run as HTML tables (click a column's heading to sort), and the plots of
`results_plots` inline as SVG.

Every figure is a `<figure class="plot" data-plot="NAME">`, so a test (or a reader's script)
can find each one. The page's only script is the table sort, written here. Pure: reads no file.
"""

from __future__ import annotations

import html as htmllib
import re
from typing import Any, Mapping, Sequence

from mixc.compiler.results import (block_cells, cluster_cells, evaluation_text, fmt, law_text, objective_text,
                                   run_cells, scale_title, solution_lines)
from mixc.compiler.results_plots import PLOTS, mixture_rows

CAPTIONS = {
    "objective_scatter": "Each point is a proxy-scale run: the objective the law predicts for its mixture against "
                         "the one measured. Proxy runs are predicted out-of-fold where the fit wrote it; the chosen "
                         "mixture and the baselines were never fitted on (bars: ± sd over replicates).",
    "objective_bars": "The measured objective of each mixture at each scale, mean over its replicates, with ± sd bars "
                      "where there are two or more.",
    "objective_rounds": "Each proxy run's measured objective by the round that proposed it (round 0 is the first "
                        "design), a panel per fidelity (a cheaper fidelity's losses sit higher); the line is the best "
                        "so far.",
    "loss_heatmap": "Every run's loss on every evaluation set: the sources' held-out splits first, then any extra "
                    "sets.",
    "mixture_bars": "The shares of training tokens each mixture gives each source; the mixtures table below has "
                    "every number.",
    "loss_curves": "Training loss against tokens trained, one panel per recipe; the bold line is the moving average, "
                   "the faint one the raw per-step loss.",
    "mixture_schedules": "The mixture over training of each run whose mixture changed, from the step each change "
                         "took effect: phases and Aioli set the share of the batches; DoReMi draws batches from its "
                         "prior and sets each source's weight in the loss. The title gives what DoReMi and Aioli "
                         "learned (the average over the steps), the mixture a run on the learned mixture trains on.",
}
NUMBER = re.compile(r"^([-+]?\d|-$)")  # a cell that holds a figure (or `-` for none): set right
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.4}
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{padding:.25em .7em;border-bottom:1px solid #e5e5e5;text-align:left;white-space:nowrap}td.num{text-align:right}
th{background:#f3f5f8;cursor:pointer;user-select:none}th[data-order=asc]::after{content:" \\25B2"}
th[data-order=desc]::after{content:" \\25BC"}tbody tr:hover{background:#fafbfd}
figure{margin:1.2em 0}figure svg{max-width:100%;height:auto}figcaption{color:#555;font-size:.9em;max-width:60em}
ul.notes{color:#444;font-size:.9em}.heading p{margin:.2em 0}
"""
SORT = """
document.querySelectorAll("table.sortable thead th").forEach(function (th) {
  th.addEventListener("click", function () {
    var i = th.cellIndex;
    var body = th.closest("table").tBodies[0];
    var asc = th.dataset.order !== "asc";
    th.closest("tr").querySelectorAll("th").forEach(function (h) { delete h.dataset.order; });
    th.dataset.order = asc ? "asc" : "desc";
    var key = function (row) {
      var text = row.cells[i].textContent.trim(), n = parseFloat(text.replace(/[%,]/g, ""));
      return isNaN(n) ? [1, text] : [0, n];
    };
    Array.from(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b);
      var c = x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0);
      return asc ? c : -c;
    }).forEach(function (row) { body.appendChild(row); });
  });
});
"""


def _esc(text: Any) -> str:
    return htmllib.escape(str(text))


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A sortable HTML table of text cells."""
    head = "".join(f"<th>{_esc(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td{' class=num' if NUMBER.match(c) else ''}>{_esc(c)}</td>" for c in r)
                   + "</tr>" for r in rows)
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _notes(notes: Sequence[str]) -> str:
    return '<ul class="notes">' + "".join(f"<li>{_esc(n)}</li>" for n in notes) + "</ul>" if notes else ""


def law_cells(law: Mapping[str, Any] | None) -> tuple[list[str], list[list[str]]] | None:
    """The law's cross-validation, one row per evaluation set it predicts and one for the objective."""
    cv = (law or {}).get("cv") or {}
    targets = dict(cv.get("targets") or {})
    if cv.get("objective"):
        targets["objective"] = cv["objective"]
    if not targets:
        return None
    header = ["predicted", "Spearman", "Pearson", "RMSE (nats per token)", "rank of the best run"]
    rows = [[name, fmt(v.get("spearman"), 3), fmt(v.get("pearson"), 3), fmt(v.get("rmse")),
             str(v.get("best_rank", "-"))] for name, v in targets.items()]
    return header, rows


def candidate_cells(law: Mapping[str, Any] | None) -> tuple[list[str], list[list[str]]] | None:
    """The laws the fit compared (law.json's `candidates`), with their out-of-fold figures."""
    candidates = (((law or {}).get("cv") or {}).get("candidates")) or {}
    if not candidates:
        return None
    header = ["law", "Spearman", "RMSE (nats per token)", "effective parameters", "excess MSE", "chosen"]
    rows = [[name, fmt(c.get("spearman"), 3), fmt(c.get("rmse")), fmt(c.get("effective_parameters"), 2),
             fmt(c.get("excess_mse")), "yes" if name == law["law"] else ""] for name, c in candidates.items()]
    return header, rows


def mixture_cells(summary: Mapping[str, Any]) -> tuple[list[str], list[list[str]]] | None:
    rows = mixture_rows(summary)
    if not rows:
        return None
    header = ["source", *(label for label, _ in rows)]
    return header, [[s, *(f"{mix.get(s, 0.0):.2%}" for _, mix in rows)] for s in summary["sources"]]


def _section(title: str, *parts: str) -> str:
    body = "".join(p for p in parts if p)
    return f"<h2>{_esc(title)}</h2>{body}" if body else ""


def _figure(name: str, svg: str | None) -> str:
    if svg is None:
        return ""
    return f'<figure class="plot" data-plot="{name}">{svg}<figcaption>{_esc(CAPTIONS[name])}</figcaption></figure>'


def _heading(summary: Mapping[str, Any]) -> str:
    lines = [f"minimize {objective_text(summary['objective'])} (losses in nats per token)",
             *solution_lines(summary, ", ")]
    if evaluation_text(summary):
        lines.append(evaluation_text(summary))
    return '<div class="heading">' + "".join(f"<p>{_esc(line)}</p>" for line in lines) + "</div>"


def html(summary: Mapping[str, Any]) -> str:
    """report.html: one self-contained page."""
    plots = {plot.__name__: plot(summary) for plot in PLOTS}
    blocks = []
    for block in summary["scales"]:
        header, rows, notes = block_cells(block, summary["law"])
        blocks.append(_section(scale_title(block), table(header, rows), _notes(notes)))
    if not summary["scales"]:
        blocks.append("<p>no run has been measured</p>")
    law, cv, candidates = law_text(summary["law"]), law_cells(summary["law"]), candidate_cells(summary["law"])
    mixtures, clusters = mixture_cells(summary), cluster_cells(summary)
    body = "".join([
        f"<h1>{_esc(summary['experiment'])}</h1>", _heading(summary), *blocks,
        _figure("objective_scatter", plots["objective_scatter"]), _figure("objective_bars", plots["objective_bars"]),
        _figure("objective_rounds", plots["objective_rounds"]),
        _section("The law", f"<p>{_esc(law)}</p>" if law else "", table(*cv) if cv else "",
                 table(*candidates) if candidates else ""),
        _section("Discovered domains", table(*clusters)) if clusters else "",
        _section("Mixtures", _figure("mixture_bars", plots["mixture_bars"]), table(*mixtures) if mixtures else "",
                 _figure("mixture_schedules", plots["mixture_schedules"])),
        _section("Losses", _figure("loss_heatmap", plots["loss_heatmap"]),
                 _figure("loss_curves", plots["loss_curves"])),
        _section("Runs", table(*run_cells(summary))),
    ])
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{_esc(summary['experiment'])}"
            f"</title><style>{STYLE}</style></head><body>{body}<script>{SORT}</script></body></html>\n")
