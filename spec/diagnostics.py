"""Diagnostics: what went wrong, where, and how to fix it; and their renderings.

A `Diagnostic` is data (code, severity, message, span, help, notes). Renderers turn a
list of them into text (with the source line and a caret under the span), JSON,
GitHub Actions annotations or SARIF 2.1.0. This module never decides what is an error:
the parser and checker do; it only knows the catalogue of codes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from mixc.spec.ast import Span

# The catalogue: every code the parser and checker can emit, with a short title.
# spec/LANGUAGE.md documents each with a bad example and its fix; tests/spec/golden
# holds one failing spec per code.
CODES: dict[str, str] = {
    "E001": "syntax error",
    "E002": "unexpected character",
    "E003": "unterminated string",
    "E004": "unbalanced brackets",
    "E005": "unreadable file (not UTF-8 text)",
    "E006": "empty file",
    "E007": "number out of range",
    "E008": "nesting too deep",
    "E009": "file too large",
    "E010": "import not found",
    "E011": "import cycle",
    "E012": "bad string escape",
    "E013": "import outside the project",
    "E014": "imported file is not a .mix spec",
    "E020": "duplicate definition",
    "E021": "unknown reference",
    "E022": "unknown key or argument",
    "E023": "missing required key or argument",
    "E024": "wrong type",
    "E025": "wrong unit",
    "E026": "value out of range",
    "E027": "model shape rule broken",
    "E028": "unknown constructor",
    "E029": "no experiment, or more than one",
    "E030": "missing statement",
    "E031": "bad objective",
    "E032": "bad constraint",
    "E033": "experiment inside an imported file",
    "E034": "does not apply with this search",
    "E035": "search keys that disagree",
    "W001": "unused definition",
    "W002": "the final recipe trains on less than a proxy",
    "W003": "a search key with no effect",
    # From the compiler: `mixc build` (E101, E105) and the hooks `mixc check` runs (E102, E103, E104, E106).
    "E101": "data files not found",
    "E102": "constraints cannot all hold",
    "E103": "over the compute budget",
    "E105": "an evaluation set reads a source's files",
    "E104": "too few runs for the law",
    "E106": "baseline outside the constraints",
}


@dataclass(frozen=True)
class Note:
    message: str
    span: Span


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span
    help: str | None = None
    notes: tuple[Note, ...] = field(default_factory=tuple)

    @property
    def severity(self) -> str:
        return "warning" if self.code.startswith("W") else "error"


def sort_key(d: Diagnostic) -> tuple:
    return (d.span.file, d.span.line, d.span.col, d.code)


# ---- text --------------------------------------------------------------------------------


def _excerpt(span: Span, sources: Mapping[str, str]) -> list[str]:
    """The source line of `span` with a caret line under the whole span (first line only)."""
    text = sources.get(span.file)
    if text is None:
        return []
    lines = text.split("\n")
    if not 1 <= span.line <= len(lines):
        return []
    line = lines[span.line - 1].rstrip("\r")
    shown = line.expandtabs(1)  # one column per tab keeps the caret aligned with `col`
    if len(shown) > 200:  # very long lines (generated or binary files): show a window
        start = max(0, span.col - 60)
        shown, offset = shown[start : start + 160], start
    else:
        offset = 0
    end = span.end_col if span.end_line == span.line else len(line) + 1
    width = max(1, min(end, len(shown) + offset + 1) - span.col)
    gutter = str(span.line)
    pad = " " * len(gutter)
    caret = " " * (span.col - 1 - offset) + "^" * width
    return [f" {gutter} | {shown}", f" {pad} | {caret}"]


def render_text(diagnostics: Sequence[Diagnostic], sources: Mapping[str, str]) -> str:
    out: list[str] = []
    for d in diagnostics:
        out.append(f"{d.span}: {d.severity}[{d.code}]: {d.message}")
        out.extend(_excerpt(d.span, sources))
        for note in d.notes:
            out.append(f"  note: {note.span}: {note.message}")
        if d.help:
            out.append(f"  help: {d.help}")
        out.append("")
    errors = sum(d.severity == "error" for d in diagnostics)
    warnings = len(diagnostics) - errors
    if diagnostics:
        out.append(f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}")
    return "\n".join(out) + ("\n" if out else "")


# ---- machine formats ---------------------------------------------------------------------


def _as_dict(d: Diagnostic) -> dict:
    s = d.span
    return {
        "code": d.code,
        "severity": d.severity,
        "message": d.message,
        "file": s.file,
        "line": s.line,
        "col": s.col,
        "end_line": s.end_line,
        "end_col": s.end_col,
        "help": d.help,
        "notes": [{"message": n.message, "file": n.span.file, "line": n.span.line, "col": n.span.col} for n in d.notes],
    }


def render_json(diagnostics: Sequence[Diagnostic]) -> str:
    return json.dumps({"diagnostics": [_as_dict(d) for d in diagnostics]}, indent=2) + "\n"


def _gh_escape(text: str, prop: bool = False) -> str:
    # GitHub workflow-command escaping; properties also escape ':' and ','.
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def render_github(diagnostics: Sequence[Diagnostic]) -> str:
    lines = []
    for d in diagnostics:
        s = d.span
        message = d.message + (f" (help: {d.help})" if d.help else "")
        props = (
            f"file={_gh_escape(s.file, True)},line={s.line},col={s.col},"
            f"endLine={s.end_line},endColumn={s.end_col},title={d.code}"
        )
        lines.append(f"::{d.severity} {props}::{_gh_escape(message)}")
    return "\n".join(lines) + ("\n" if lines else "")


def render_sarif(diagnostics: Sequence[Diagnostic], tool_version: str) -> str:
    used = sorted({d.code for d in diagnostics})
    rules = [{"id": c, "shortDescription": {"text": CODES.get(c, c)}} for c in used]
    results = []
    for d in diagnostics:
        s = d.span
        text = d.message + (f"\nhelp: {d.help}" if d.help else "")
        results.append(
            {
                "ruleId": d.code,
                "ruleIndex": used.index(d.code),
                "level": d.severity,
                "message": {"text": text},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": s.file},
                            "region": {
                                "startLine": s.line,
                                "startColumn": s.col,
                                "endLine": s.end_line,
                                "endColumn": s.end_col,
                            },
                        }
                    }
                ],
            }
        )
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "mixc", "version": tool_version, "rules": rules}},
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"
