"""Syntax tree of a .mix file: frozen dataclasses, each with the source span it came from.

The tree is what was written, not what it means: names are unresolved and numbers keep
their text. The checker (`spec.check`) turns a tree into a typed `Experiment`; the
formatter (`spec.fmt`) prints a tree back. Nothing here reads files or reports errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Span:
    """A region of a source file; lines and columns are 1-based, `end_col` is exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


# ---- expressions -------------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    """A numeric literal. `unit` is "" (plain), "si" (k/M/G/B/T suffix) or "%" (percent)."""

    value: float
    text: str
    unit: str
    span: Span


@dataclass(frozen=True)
class String:
    value: str
    text: str  # as written, quotes and escapes included
    span: Span


@dataclass(frozen=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True)
class KwArg:
    name: Name
    value: "Expr"
    span: Span


@dataclass(frozen=True)
class Call:
    func: Name
    args: tuple["Expr", ...]
    kwargs: tuple[KwArg, ...]
    span: Span


@dataclass(frozen=True)
class List:
    items: tuple["Expr", ...]
    span: Span


@dataclass(frozen=True)
class BinOp:
    op: str  # + - * /
    left: "Expr"
    right: "Expr"
    span: Span


@dataclass(frozen=True)
class Neg:
    operand: "Expr"
    span: Span


Expr = Union[Number, String, Name, Call, List, BinOp, Neg]


# ---- statements --------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """`key: value` inside a block."""

    key: Name
    value: Expr
    span: Span


@dataclass(frozen=True)
class Phase:
    """`20%: mixture`: from this share of the run's steps on, train on `mixture`."""

    start: Number
    mixture: Expr
    span: Span


@dataclass(frozen=True)
class Phases:
    """`phases { 0%: natural, 80%: mixture(...) }` inside a train recipe."""

    items: tuple[Phase, ...]
    span: Span


@dataclass(frozen=True)
class Block:
    entries: tuple[Entry, ...]
    span: Span
    phases: tuple[Phases, ...] = ()  # as written (a second one is the checker's to report)


@dataclass(frozen=True)
class Import:
    path: String
    span: Span


@dataclass(frozen=True)
class Definition:
    """`source|eval|model NAME = expr`."""

    kind: str  # "source", "eval" or "model"
    name: Name
    value: Expr
    span: Span


@dataclass(frozen=True)
class Recipe:
    """`train NAME { ... }`: a training recipe."""

    name: Name
    body: Block
    span: Span


@dataclass(frozen=True)
class Setting:
    """`key = expr` at experiment level (seed, tokenizer, holdout)."""

    key: Name
    value: Expr
    span: Span


@dataclass(frozen=True)
class Search:
    method: Name
    body: Block
    span: Span


@dataclass(frozen=True)
class Budget:
    body: Block
    span: Span


@dataclass(frozen=True)
class Objective:
    expr: Expr
    span: Span


@dataclass(frozen=True)
class Constraint:
    """`a <= b`, or a chain `a <= b <= c`: operands[i] ops[i] operands[i+1]."""

    operands: tuple[Expr, ...]
    ops: tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class Constraints:
    items: tuple[Constraint, ...]
    span: Span


@dataclass(frozen=True)
class Final:
    recipe: Name
    span: Span


@dataclass(frozen=True)
class Baselines:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class Validate:
    """Baselines that are also trained with the final recipe, beside the chosen mixture."""

    items: tuple[Expr, ...]
    span: Span


Statement = Union[Definition, Recipe, Setting, Search, Budget, Objective, Constraints, Final, Baselines, Validate]


@dataclass(frozen=True)
class Experiment:
    name: Name
    body: tuple[Statement, ...]
    span: Span


Item = Union[Import, Experiment, Definition, Recipe]


@dataclass(frozen=True)
class Comment:
    text: str  # with the leading '#'
    span: Span


@dataclass(frozen=True)
class Module:
    """One parsed file: its top-level items and its comments (kept for the formatter)."""

    path: str
    items: tuple[Item, ...]
    comments: tuple[Comment, ...]
