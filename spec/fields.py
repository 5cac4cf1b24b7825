"""Reading `key: value` pairs (block entries, keyword arguments) against a table of typed fields.

One table per construct says each field's type, default and range; `read_fields` reports
unknown, duplicate and missing keys, wrong types, wrong units and values out of range, and
returns the values with defaults filled in. It knows nothing about any particular construct.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Sequence

from mixc.spec import ast
from mixc.spec.diagnostics import Diagnostic, Note

REQUIRED = object()


@dataclass(frozen=True)
class Field:
    """kind: "int" (whole number, SI suffix allowed), "float", "fraction" (percent or 0..1),
    "bool" (true/false), "choice" (a name among `choices`), "ref" (a name resolved later), "string"."""

    kind: str
    default: object = REQUIRED
    min: float | None = None
    max: float | None = None
    open_min: bool = False  # min itself excluded
    open_max: bool = False
    choices: tuple[str, ...] = ()
    doc: str = ""


@dataclass(frozen=True)
class Read:
    ok: bool  # False when any field was wrong (already reported); `values` then holds the good ones
    values: dict[str, object]
    spans: dict[str, ast.Span]  # where each given value was written (defaults have none)


def closest(word: str, options: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, options: Sequence[str]) -> str | None:
    close = closest(word, options)
    return f"did you mean `{close}`?" if close else None


def number_of(expr: ast.Expr) -> ast.Number | None:
    """A literal number, folding a leading minus; None for anything else."""
    if isinstance(expr, ast.Number):
        return expr
    if isinstance(expr, ast.Neg) and isinstance(expr.operand, ast.Number):
        n = expr.operand
        return ast.Number(-n.value, "-" + n.text, n.unit, expr.span)
    return None


def describe(expr: ast.Expr) -> str:
    if isinstance(expr, ast.Number) or number_of(expr):
        return "a number"
    return {ast.String: "a string", ast.Name: "a name", ast.Call: "a call", ast.List: "a list"}.get(
        type(expr), "an expression")


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _percent(x: float) -> str:
    return f"{_fmt(x * 100)}%"


def _read_number(key: str, f: Field, expr: ast.Expr, diags: list[Diagnostic]) -> float | int | None:
    """A value of an "int", "float" or "fraction" field: its unit, whole-ness and range."""
    span = expr.span
    n = number_of(expr)
    if n is None:
        diags.append(Diagnostic("E024", f"`{key}` expects a number, got {describe(expr)}", span))
        return None
    value = n.value
    if f.kind == "fraction":
        if n.unit == "si":
            diags.append(Diagnostic("E025", f"`{key}` is a fraction, but `{n.text}` is a count",
                                    span, help="write a percentage such as 5% or a number between 0 and 1"))
            return None
        if n.unit == "" and not 0 <= value <= 1:
            diags.append(Diagnostic("E026", f"`{key}` is a fraction between 0 and 1, got {n.text}", span,
                                    help=f"did you mean {n.text}%?"))
            return None
    elif n.unit == "%":
        noun = "a count" if f.kind == "int" else "a number"
        diags.append(Diagnostic("E025", f"`{key}` is {noun}, not a fraction: `{n.text}` is a percentage", span,
                                help=f"write {key} without `%`"))
        return None
    if f.kind == "int":
        if value != int(value):
            diags.append(Diagnostic("E024", f"`{key}` expects a whole number, got {n.text}", span))
            return None
        value = int(value)
    lo_bad = f.min is not None and (value <= f.min if f.open_min else value < f.min)
    hi_bad = f.max is not None and (value >= f.max if f.open_max else value > f.max)
    if lo_bad or hi_bad:
        diags.append(Diagnostic("E026", f"`{key}` must be {_range(f)}, got {n.text}", span))
        return None
    return value


def _range(f: Field) -> str:
    """The bounds of a numeric field, e.g. `>= 1 and <= 1024`; fractions as percentages, as users mostly write them."""
    show = _percent if f.kind == "fraction" else _fmt
    parts = []
    if f.min is not None:
        parts.append(f"{'>' if f.open_min else '>='} {show(f.min)}")
    if f.max is not None:
        parts.append(f"{'<' if f.open_max else '<='} {show(f.max)}")
    return " and ".join(parts)


def read_value(key: str, f: Field, expr: ast.Expr, diags: list[Diagnostic]) -> object:
    """One value checked against its field; returns None (and reports) when it does not fit."""
    span = expr.span
    if f.kind in ("int", "float", "fraction"):
        return _read_number(key, f, expr, diags)
    if f.kind == "bool":
        if isinstance(expr, ast.Name) and expr.id in ("true", "false"):
            return expr.id == "true"
        diags.append(Diagnostic("E024", f"`{key}` expects `true` or `false`, got {describe(expr)}", span))
        return None
    if f.kind in ("choice", "ref"):
        if not isinstance(expr, ast.Name):
            diags.append(Diagnostic("E024", f"`{key}` expects a name, got {describe(expr)}", span,
                                    help=f"one of: {', '.join(f.choices)}" if f.choices else None))
            return None
        if f.kind == "choice" and expr.id not in f.choices:
            hint = did_you_mean(expr.id, f.choices) or f"one of: {', '.join(f.choices)}"
            diags.append(Diagnostic("E021", f"unknown {key} `{expr.id}`", span, help=hint))
            return None
        return expr.id
    if f.kind == "refs":
        bad = expr if not isinstance(expr, ast.List) else next(
            (item for item in expr.items if not isinstance(item, ast.Name)), None)
        if bad is not None:
            got = describe(bad) if bad is expr else f"{describe(bad)} in the list"
            diags.append(Diagnostic("E024", f"`{key}` expects a list of names, got {got}", bad.span,
                                    help=f"write `{key}: [first, second]`"))
            return None
        return tuple(item.id for item in expr.items)
    if f.kind == "string":
        if not isinstance(expr, ast.String):
            diags.append(Diagnostic("E024", f"`{key}` expects a string, got {describe(expr)}", span))
            return None
        return expr.value
    raise ValueError(f"unknown field kind {f.kind}")


def read_fields(pairs: Sequence[tuple[ast.Name, ast.Expr]], table: dict[str, Field], what: str,
                span: ast.Span, diags: list[Diagnostic]) -> Read:
    """Check `pairs` against `table`, reporting every problem; defaults fill what was not given."""
    values: dict[str, object] = {}
    spans: dict[str, ast.Span] = {}
    seen: dict[str, ast.Name] = {}
    meant: set[str] = set()  # keys a misspelt key was taken for: not reported missing as well
    ok = True
    for key, expr in pairs:
        if key.id in seen:
            diags.append(Diagnostic("E020", f"`{key.id}` is given twice in {what}", key.span,
                                    notes=(Note("first given here", seen[key.id].span),), help="keep one of them"))
            ok = False
            continue
        seen[key.id] = key
        f = table.get(key.id)
        if f is None:
            close = closest(key.id, table)
            if close:
                meant.add(close)
            hint = (f"did you mean `{close}`?" if close else
                    f"{what} takes: {', '.join(table)}" if table else f"{what} takes no arguments")
            diags.append(Diagnostic("E022", f"unknown key `{key.id}` in {what}", key.span, help=hint))
            ok = False
            continue
        value = read_value(key.id, f, expr, diags)
        if value is None:
            ok = False
            continue
        values[key.id] = value
        spans[key.id] = expr.span
    for name, f in table.items():
        if name not in values and name not in seen:
            if f.default is REQUIRED and name not in meant:
                diags.append(Diagnostic("E023", f"{what} needs `{name}`", span,
                                        help=f"add `{name}: ...`" + (f" ({f.doc})" if f.doc else "")))
                ok = False
            elif f.default is not REQUIRED:
                values[name] = f.default
    return Read(ok, values, spans)
