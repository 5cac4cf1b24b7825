"""The canonical layout of a .mix file: print a syntax tree back to text, comments kept.

Layout rules: two-space indent; one statement per line; single blank lines kept where the
source had blank lines; `=` aligned across a run of same-kind definitions and `{` across
a run of train recipes; a block written on one line stays on one line (if it has no
comments), others get one entry per line; `subject to` always one constraint per line;
expressions on one line with single spaces around binary operators. Printing the output
again gives the same text. This module never checks meaning.
"""

from __future__ import annotations

from mixc.spec import ast

INDENT = "  "
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}


def expr_text(e: ast.Expr) -> str:
    if isinstance(e, (ast.Number, ast.String)):
        return e.text
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.Call):
        args = [expr_text(a) for a in e.args] + [f"{k.name.id}: {expr_text(k.value)}" for k in e.kwargs]
        return f"{e.func.id}({', '.join(args)})"
    if isinstance(e, ast.List):
        return "[" + ", ".join(expr_text(i) for i in e.items) + "]"
    if isinstance(e, ast.Neg):
        inner = expr_text(e.operand)
        return f"-({inner})" if isinstance(e.operand, ast.BinOp) else f"-{inner}"
    if isinstance(e, ast.BinOp):
        prec = _PREC[e.op]
        left, right = expr_text(e.left), expr_text(e.right)
        if isinstance(e.left, ast.BinOp) and _PREC[e.left.op] < prec:
            left = f"({left})"
        if isinstance(e.right, ast.BinOp) and _PREC[e.right.op] <= prec:
            right = f"({right})"
        return f"{left} {e.op} {right}"
    raise TypeError(f"not an expression: {e!r}")


def _items(block: ast.Block) -> list[ast.Entry | ast.Phases]:
    """A block's entries and phases blocks, in the order written."""
    return sorted((*block.entries, *block.phases), key=lambda x: (x.span.line, x.span.col))


def _phases_inline(p: ast.Phases) -> str:
    return "phases " + ("{ " + ", ".join(f"{x.start.text}: {expr_text(x.mixture)}" for x in p.items) + " }"
                        if p.items else "{}")


def _item_inline(x: ast.Entry | ast.Phases) -> str:
    return _phases_inline(x) if isinstance(x, ast.Phases) else f"{x.key.id}: {expr_text(x.value)}"


def _entries_inline(block: ast.Block) -> str:
    items = _items(block)
    return "{ " + ", ".join(_item_inline(x) for x in items) + " }" if items else "{}"


class _Printer:
    def __init__(self, comments: tuple[ast.Comment, ...]) -> None:
        self.out: list[str] = []
        self.comments = sorted(comments, key=lambda c: (c.span.line, c.span.col))
        self.next = 0  # index of the first comment not yet printed
        self.last_line = 0  # last source line printed

    def _comment_lines_between(self, first: int, last: int) -> bool:
        return any(first <= c.span.line <= last for c in self.comments[self.next:])

    def leading(self, line: int, depth: int) -> None:
        """Own-line comments before source line `line`, keeping single blank lines."""
        while self.next < len(self.comments) and self.comments[self.next].span.line < line:
            c = self.comments[self.next]
            self.blank_if_gap(c.span.line)
            self.out.append(INDENT * depth + c.text.rstrip())
            self.last_line = c.span.line
            self.next += 1

    def trailing(self, line: int) -> None:
        if self.next < len(self.comments) and self.comments[self.next].span.line == line:
            self.out[-1] += "  " + self.comments[self.next].text.rstrip()
            self.next += 1

    def blank_if_gap(self, line: int) -> None:
        if self.last_line and line > self.last_line + 1 and self.out and self.out[-1] != "" \
                and not self.out[-1].endswith("{"):
            self.out.append("")

    def node(self, span: ast.Span, depth: int, lines: list[str]) -> None:
        """Print a node whose text is `lines` (first line unindented), with its comments."""
        self.leading(span.line, depth)
        self.blank_if_gap(span.line)
        self.out.append(INDENT * depth + lines[0])
        self.out.extend(lines[1:])
        self.last_line = span.end_line
        self.trailing(span.end_line)

    def open_block(self, span: ast.Span, depth: int, head: str) -> None:
        self.leading(span.line, depth)
        self.blank_if_gap(span.line)
        self.out.append(INDENT * depth + head + " {")
        self.last_line = span.line
        self.trailing(span.line)

    def close_block(self, span: ast.Span, depth: int) -> None:
        self.leading(span.end_line, depth + 1)
        if self.out[-1].endswith("{") and self.out[-1].lstrip().startswith(("subject", "experiment")):
            self.out[-1] += "}"
        else:
            self.out.append(INDENT * depth + "}")
        self.last_line = span.end_line
        self.trailing(span.end_line)

    # ---- blocks ------------------------------------------------------------------

    def one_line(self, span: ast.Span) -> bool:
        """A block written on one line, with no comment inside it: it stays on one line."""
        return span.line == span.end_line and not self._comment_lines_between(span.line, span.end_line - 1) \
            and not any(c.span.line == span.line and c.span.col < span.end_col for c in self.comments[self.next:])

    def block(self, head: str, block: ast.Block, span: ast.Span, depth: int) -> None:
        items = _items(block)
        if self.one_line(block.span) or not items:
            self.node(span, depth, [f"{head} {_entries_inline(block)}"])
            return
        self.open_block(span, depth, head)
        for x in items:
            if isinstance(x, ast.Phases) and x.items and not self.one_line(x.span):
                self.open_block(x.span, depth + 1, "phases")
                for phase in x.items:
                    self.node(phase.span, depth + 2, [f"{phase.start.text}: {expr_text(phase.mixture)}"])
                self.close_block(x.span, depth + 1)
            else:
                self.node(x.span, depth + 1, [_item_inline(x)])
        self.close_block(span, depth)

    def statements(self, stmts: tuple, depth: int) -> None:
        widths = self._alignment(stmts)
        for i, s in enumerate(stmts):
            w = widths[i]
            if isinstance(s, ast.Definition):
                self.node(s.span, depth, [f"{s.kind} {s.name.id.ljust(w)} = {expr_text(s.value)}"])
            elif isinstance(s, ast.Recipe):
                self.block(f"train {s.name.id.ljust(w)}", s.body, s.span, depth)
            elif isinstance(s, ast.Setting):
                self.node(s.span, depth, [f"{s.key.id} = {expr_text(s.value)}"])
            elif isinstance(s, ast.Search):
                self.block(f"search {s.method.id}", s.body, s.span, depth)
            elif isinstance(s, ast.Budget):
                self.block("budget", s.body, s.span, depth)
            elif isinstance(s, ast.Objective):
                self.node(s.span, depth, [f"minimize {expr_text(s.expr)}"])
            elif isinstance(s, ast.Constraints):
                self.open_block(s.span, depth, "subject to")
                for c in s.items:
                    parts = [expr_text(c.operands[0])]
                    for op, operand in zip(c.ops, c.operands[1:]):
                        parts += [op, expr_text(operand)]
                    self.node(c.span, depth + 1, [" ".join(parts)])
                self.close_block(s.span, depth)
            elif isinstance(s, ast.Final):
                self.node(s.span, depth, [f"final {s.recipe.id}"])
            elif isinstance(s, ast.Baselines):
                self.node(s.span, depth, ["baselines " + ", ".join(expr_text(i) for i in s.items)])
            elif isinstance(s, ast.Validate):
                self.node(s.span, depth, ["validate " + ", ".join(expr_text(i) for i in s.items)])
            elif isinstance(s, ast.Import):
                self.node(s.span, depth, [f"import {s.path.text}"])
            elif isinstance(s, ast.Experiment):
                self.open_block(s.span, depth, f"experiment {s.name.id}")
                self.statements(s.body, depth + 1)
                self.close_block(s.span, depth)
            else:
                raise TypeError(f"unknown statement {s!r}")

    def _alignment(self, stmts: tuple) -> list[int]:
        """Name widths: consecutive same-kind definitions (or recipes) with no gap share a width."""
        widths = [0] * len(stmts)
        i = 0
        while i < len(stmts):
            key = _group_key(stmts[i])
            j = i + 1
            while key is not None and j < len(stmts) and _group_key(stmts[j]) == key \
                    and stmts[j].span.line == stmts[j - 1].span.end_line + 1:  # adjacent lines: no gap, no comment
                j += 1
            if key is not None:
                w = max(len(s.name.id) for s in stmts[i:j])
                for k in range(i, j):
                    widths[k] = w
            i = j
        return widths


def _group_key(s: ast.Item | ast.Statement) -> tuple | None:
    """Statements that align with each other share a key: definitions of one kind, or recipes."""
    if isinstance(s, ast.Definition):
        return ("def", s.kind)
    if isinstance(s, ast.Recipe):
        return ("train",)
    return None


def format_module(module: ast.Module) -> str:
    p = _Printer(module.comments)
    p.statements(module.items, 0)
    p.leading(10**9, 0)  # comments after the last statement
    return "\n".join(p.out).rstrip("\n") + "\n"


def format_text(text: str, path: str = "<stdin>"):
    """Text -> (formatted text, diagnostics). The text is None when it does not parse."""
    from mixc.spec.parse import parse

    module, diags = parse(text, path)
    return (format_module(module) if module is not None else None), diags
