"""The report's text: the result table `mixc run` prints, and report.md.

Both render a summary (`mixc.compiler.results_summary`, the dict of summary.json) as one
block per scale: the proxy scale (the search's proxy recipe: the chosen mixture, each
baseline, the law's predictions, the best proxy run) and the target scale (the final
recipe: the chosen mixture and each validated baseline). Runs trained with different
recipes never share a block. Each row is a mixture's replicates: mean ± sd of the measured
objective and, for a baseline, the paired difference chosen - baseline; a line per
baseline says in words whether the chosen mixture beat it. The cells are built once and
laid out as aligned text or as markdown. Pure: reads no file, computes no statistics.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from mixc.compiler.results_stats import MARGIN_SD

RECIPES = {"proxy": "the search's proxy recipe", "target": "the final recipe"}
MARK = "\u2020"  # a dagger after a baseline the design moved or that breaks an epoch cap; the note says which
Block = tuple[list[str], list[list[str]], list[str]]  # header, rows of cells, notes under the table


def fmt(x: float | None, digits: int = 4) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def objective_text(objective: Mapping[str, Any] | None) -> str:
    if not objective:
        return "objective"
    terms = [f"{'' if c == 1 else f'{c:g}*'}loss({t})" for c, t in objective["terms"]]
    return f"max({', '.join(terms)})" if objective["kind"] == "max" else " + ".join(terms)


def spread_text(spread: Mapping[str, Any], signed: bool = False) -> str:
    """mean ± sd; the mean alone from one value (no error bar); `-` when nothing was measured."""
    if spread["mean"] is None:
        return "-"
    mean = f"{spread['mean']:+.4f}" if signed else fmt(spread["mean"])
    return mean if spread["sd"] is None else f"{mean} ± {fmt(spread['sd'])}"


def recipe_text(recipe: Mapping[str, Any] | None) -> str:
    if not recipe:
        return "recipe unknown: no job file"
    layers = f"{recipe['layers']} layer" + ("s" if recipe["layers"] != 1 else "")
    return (f"{recipe['model']}, {layers}, d_model {recipe['d_model']}; {recipe['steps']:,} steps x "
            f"{recipe['batch_size']} sequences x {recipe['seq_len']} tokens = {recipe['tokens']:,} tokens per run")


def scale_title(block: Mapping[str, Any]) -> str:
    return f"{block['scale']} scale, {RECIPES[block['scale']]} ({recipe_text(block['recipe'])})"


def verdict_text(scale: str, row: Mapping[str, Any]) -> str | None:
    """chosen against one baseline at one scale, in words (None before both were measured)."""
    d, verdict, label = row["paired"]["difference"], row["paired"]["verdict"], row["label"]
    at, margin = f"at {scale} scale, chosen", f"{MARGIN_SD:g} sd"
    if verdict is None:
        return None
    if verdict == "no_error_bar":
        return f"{at} - {label} = {d['mean']:+.4f} from one replicate: no error bar"
    if verdict == "indistinguishable":
        return f"{at} is not distinguishable from {label}: {spread_text(d, signed=True)} (n={d['n']}), within {margin}"
    how = "beats" if verdict == "beats" else "loses to"
    return f"{at} {how} {label} by {abs(d['mean']):.4f} ± {fmt(d['sd'])} (n={d['n']}), more than {margin}"


def _prediction_note(law: Mapping[str, Any] | None) -> str:
    if not law:
        return "predicted: no law was fitted"
    proxies = {"out-of-fold": "out-of-fold (each from the fold that held the run out)",
               "in-sample": "in-sample (the fit wrote no out-of-fold predictions): optimistic",
               "mixed": "out-of-fold where marked oof, else in-sample"}.get(law["proxy_predictions"], "-")
    return (f"predicted: the {law['law']} law's objective; chosen and baselines out-of-sample "
            f"(not fitted on), proxy runs {proxies}")


def runs_text(names: Sequence[str]) -> str:
    """The runs of a row: every name, or the first two and the last of a long list of replicates."""
    return ", ".join(names) if len(names) <= 3 else f"{names[0]}, {names[1]}, ..., {names[-1]} ({len(names)} runs)"


def _row_cells(row: Mapping[str, Any], predicted: bool) -> list[str]:
    label = row["label"] + (f" {MARK}" if row["notes"] else "")
    diff = spread_text(row["paired"]["difference"], signed=True) if row["paired"] else ""
    cells = [label, str(row["objective"]["n"]), spread_text(row["objective"]), diff, runs_text(row["runs"])]
    return cells[:2] + [fmt(row["predicted"])] + cells[2:] if predicted else cells


def _best_cells(best: Mapping[str, Any]) -> list[str]:
    mark = {"out-of-fold": " oof", "in-sample": " in-sample"}.get(best["prediction"] or "", "")
    return [f"best of {best['of']} proxy runs ({best['label']})", "1",
            fmt(best["predicted"]) + (mark if best["predicted"] is not None else ""), fmt(best["objective"]), "",
            best["name"]]


def block_cells(block: Mapping[str, Any], law: Mapping[str, Any] | None) -> Block:
    """One scale's table: header, rows, and the notes under it (marks, predictions, verdicts)."""
    proxy = block["scale"] == "proxy"
    header = ["mixture", "n"] + (["predicted"] if proxy else []) + ["measured (mean ± sd)",
                                                                    "chosen - baseline (± sd)", "runs"]
    rows = [_row_cells(r, proxy) for r in block["rows"]]
    if block["best_proxy"]:
        rows.append(_best_cells(block["best_proxy"]))
    notes = [f"{MARK} {r['label']}: {'; '.join(r['notes'])}" for r in block["rows"] if r["notes"]]
    notes.append(_prediction_note(law) if proxy else "no predicted column: the law was fitted on proxy-scale runs")
    verdicts = (verdict_text(block["scale"], r) for r in block["rows"] if r["paired"])
    notes += [v for v in verdicts if v]
    if not any(r["paired"] for r in block["rows"]):
        notes.append(f"no baseline was trained at {block['scale']} scale")
    return header, rows, notes


def law_text(law: Mapping[str, Any] | None) -> str | None:
    """The law's cross-validation figures (law.json) and its proxy predictions' fit, labelled."""
    if not law:
        return None
    cv, fit = law["cv"] or {}, law["objective_fit"]
    rmse = ", ".join(f"{t} {fmt(v.get('rmse'))}" for t, v in (cv.get("targets") or {}).items())
    figures = "no cross-validation"
    if cv.get("folds"):
        figures = (f"{cv['folds']}-fold cross-validation, Spearman {fmt(cv.get('spearman'), 3)} (mean over eval sets), "
                   f"RMSE (nats per token) {rmse}")
    return (f"law {law['law']}: {figures}; proxy runs' predicted objective ({law['proxy_predictions'] or '-'}) vs "
            f"measured: Spearman {fmt(fit['spearman'], 3)}, RMSE {fmt(fit['rmse'])} over {fit['n']} runs")


def _aligned(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell: text left, numbers (n and the figures) right."""
    widths = [max(len(c) for c in col) for col in zip(header, *rows)]
    last = len(header) - 1

    def line(cells: Sequence[str]) -> str:
        cells = (c.ljust(w) if i in (0, last) else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        return "  ".join(cells).rstrip()

    return [line(header), "-" * len(line(header))] + [line(r) for r in rows]


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A markdown table; a `|` inside a cell (a document's text) is escaped."""
    return ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
            for cells in (header, ["---"] * len(header), *rows)]


def solution_lines(summary: Mapping[str, Any], between: str) -> list[str]:
    """The solved mixture (its shares joined by `between`) and its binding constraints, if any."""
    sol = summary.get("solution")
    if not sol:
        return []
    lines = ["mixture found: " + between.join(f"{s} {w:.1%}" for s, w in sol["mixture"].items())]
    if sol.get("binding"):
        lines.append(f"binding constraints: {', '.join(sol['binding'])}")
    return lines


def _heading(summary: Mapping[str, Any]) -> list[str]:
    objective = objective_text(summary["objective"])
    return [f"experiment {summary['experiment']}: minimize {objective} (losses in nats per token)",
            *solution_lines(summary, "  ")]


def evaluation_text(summary: Mapping[str, Any]) -> str | None:
    """One line on the held-out evaluation every run shares, naming sets smaller than asked."""
    ev = summary.get("evaluation")
    if not ev:
        return None
    line = (f"evaluation: every run scored on the same held-out windows of {ev['window']} tokens, "
            f"up to {ev['asked']:,} predicted tokens per set")
    if ev["short"]:
        small = ", ".join(f"{n} {ev['tokens'][n]:,}" for n in ev["short"])
        line += f"; smaller held-out sets: {small} tokens (raise `holdout`, or add data)"
    return line


def result_table(summary: Mapping[str, Any]) -> str:
    """The table `mixc run` prints: one block per scale, then the law's figures."""
    lines = _heading(summary)
    for block in summary["scales"]:
        header, rows, notes = block_cells(block, summary["law"])
        lines += ["", scale_title(block), *_aligned(header, rows), *(f"  {n}" for n in notes)]
    if not summary["scales"]:
        lines += ["", "no run has been measured"]
    law = law_text(summary["law"])
    extra = [line for line in (law, evaluation_text(summary)) if line]
    return "\n".join(lines + ([""] + extra if extra else []))


def cluster_cells(summary: Mapping[str, Any]) -> tuple[list[str], list[list[str]]] | None:
    """Each discovered domain, one row: its size and what its documents open with."""
    if not summary.get("clusters"):
        return None
    rows = [[c["name"], f"{split['source']} ({split['embedding']}, k = {split['k']})", str(c["documents"]),
             f"{c['bytes'] / 1e6:.2f}", " / ".join(c["examples"])]
            for split in summary["clusters"] if split for c in split["clusters"]]
    return ["source", "clustered from", "documents", "MB", "examples (the documents nearest its centre)"], rows


def run_cells(summary: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Every run, one row each: scale, mixture, replicate, the loss on each eval set, objective, prediction."""
    runs = summary["runs"]
    # A search in rounds or at several fidelities: which round proposed each proxy, at which recipe.
    extra = [k for k in ("round", "fidelity") if any(r.get(k) for r in runs)]
    header = ["run", "scale", "mixture", "replicate", *extra, *summary["eval_sets"], "objective", "predicted"]
    rows = [[r["name"], r["scale"], r["label"], str(r["replicate"]),
             *("" if r.get(k) is None else str(r[k]) for k in extra),
             *(fmt(r["losses"].get(s)) for s in summary["eval_sets"]), fmt(r["objective"]),
             fmt(r["predicted"]) + (f" ({r['prediction']})" if r["prediction"] else "")] for r in runs]
    return header, rows


def markdown(summary: Mapping[str, Any]) -> str:
    """report.md: the heading, a section per scale, the law, and every run's losses."""
    out = [f"# {summary['experiment']}", "", *(f"{line}  " for line in _heading(summary))]
    for block in summary["scales"]:
        header, rows, notes = block_cells(block, summary["law"])
        out += ["", f"## {scale_title(block)}", "", *_md_table(header, rows), "", *(f"- {n}" for n in notes)]
    law = law_text(summary["law"])
    if law:
        out += ["", "## The law", "", law]
    if evaluation_text(summary):
        out += ["", "## Evaluation", "", evaluation_text(summary)]
    clusters = cluster_cells(summary)
    if clusters:
        out += ["", "## Discovered domains", "", *_md_table(*clusters)]
    out += ["", "## Runs", "", *_md_table(*run_cells(summary))]
    return "\n".join(out) + "\n"
