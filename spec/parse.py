"""Text of one .mix file -> `spec.ast.Module`, or located diagnostics. Never raises on bad input.

Before Lark sees the text, a cheap scan rejects what would make the parser slow or
misleading: oversized or binary files, bad UTF-8, unbalanced or too deeply nested
brackets. Then the LALR parser (grammar in mix.lark, cached on disk by Lark) runs with
error recovery so that one run reports several syntax errors. This module does not
follow imports (see `spec.load`) nor judge meaning (see `spec.check`).
"""

from __future__ import annotations

import bisect
import difflib
import functools
import math
import re
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError

from mixc.spec import ast
from mixc.spec.diagnostics import Diagnostic, Note

MAX_BYTES = 2 * 1024 * 1024  # a spec is a page or two; anything near this size is a mistake
MAX_DEPTH = 64  # bracket nesting; deeper is never meant and would strain recursion later
MAX_NUMBER = 1e18

KEYWORDS = ("import", "experiment", "source", "eval", "model", "train", "search", "budget",
            "minimize", "subject", "to", "final", "baselines", "validate", "phases")
SI = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "B": 1e9, "T": 1e12}
ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "/": "/"}

# Strings (possibly unterminated), comments and brackets, for the pre-parse scan.
_SCAN = re.compile(r'"(?:[^"\\\n]|\\[^\n])*(?P<closed>"?)|#[^\n]*|[{}()\[\]]')
_OPEN = {"{": "}", "(": ")", "[": "]"}
_LAST_WORD = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*$")


class _KeysMayBeKeywords:
    """Post-lexer: a keyword directly followed by `:` is a key (`train: proxy_run`), not a keyword.

    LALR merges lookaheads across contexts, so a contextual lexer still sees statement
    keywords after a block value; deciding by the next token is exact and cheap.
    """

    always_accept = ()

    def process(self, stream):
        prev = None
        for tok in stream:
            if prev is not None:
                if tok.type == "COLON" and prev.value in KEYWORDS and prev.type != "NAME":
                    prev = Token.new_borrow_pos("NAME", prev.value, prev)
                yield prev
            prev = tok
        if prev is not None:
            yield prev


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark.open(
        str(Path(__file__).with_name("mix.lark")),
        parser="lalr",
        lexer="basic",
        postlex=_KeysMayBeKeywords(),
        propagate_positions=True,
        maybe_placeholders=False,
        cache=True,
    )


class _Lines:
    """Offset -> (line, col) for one text."""

    def __init__(self, text: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def pos(self, offset: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.starts, offset) - 1
        return i + 1, offset - self.starts[i] + 1

    def span(self, path: str, start: int, end: int) -> ast.Span:
        line, col = self.pos(start)
        end_line, end_col = self.pos(max(start + 1, end))
        return ast.Span(path, line, col, end_line, end_col)


def _byte_span(data: bytes, path: str, offset: int) -> ast.Span:
    """The span of the byte at `offset` of undecodable data (columns count the text decoded up to it)."""
    return _Lines(data[:offset].decode("utf-8", "replace")).span(path, offset, offset + 1)


def decode(data: bytes, path: str) -> tuple[str | None, list[Diagnostic]]:
    """Bytes of a file -> text, or a diagnostic for files that are too large, binary or not UTF-8."""
    if len(data) > MAX_BYTES:
        return None, [Diagnostic("E009", f"file is {len(data):,} bytes; a spec may be at most {MAX_BYTES:,}",
                                 ast.Span(path, 1, 1, 1, 2), help="split it with `import`, or check that this is the file you meant")]
    nul = data.find(b"\0")
    if nul >= 0:
        return None, [Diagnostic("E005", f"file looks binary (NUL byte at byte offset {nul})", _byte_span(data, path, nul),
                                 help="a .mix file is UTF-8 text")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Diagnostic("E005", f"file is not UTF-8: invalid byte 0x{data[exc.start]:02x} at byte offset {exc.start}",
                                 _byte_span(data, path, exc.start), help="save the file as UTF-8")]
    return text.removeprefix("\ufeff"), []


def _scan(text: str, path: str, lines: _Lines) -> tuple[list[ast.Comment], list[Diagnostic]]:
    """Comments, plus diagnostics for unterminated strings, unbalanced or too deep brackets."""
    comments: list[ast.Comment] = []
    diags: list[Diagnostic] = []
    stack: list[tuple[str, int]] = []
    suspect: int | None = None  # a `{` whose `}` is less indented than its own line: likely left open
    for m in _SCAN.finditer(text):
        tok = m.group()
        if tok[0] == "#":
            comments.append(ast.Comment(tok.rstrip("\r"), lines.span(path, m.start(), m.end())))
        elif tok[0] == '"':
            if not m.group("closed"):
                diags.append(Diagnostic("E003", "unterminated string", lines.span(path, m.start(), m.end()),
                                        help='close it with `"` on the same line (strings cannot span lines)'))
                return comments, diags
        elif tok in _OPEN:
            stack.append((tok, m.start()))
            if len(stack) > MAX_DEPTH:
                diags.append(Diagnostic("E008", f"brackets nested more than {MAX_DEPTH} deep",
                                        lines.span(path, m.start(), m.end()), help="simplify the expression"))
                return comments, diags
        else:
            if not stack or _OPEN[stack[-1][0]] != tok:
                expected = f"; expected `{_OPEN[stack[-1][0]]}`" if stack else ""
                diags.append(Diagnostic("E004", f"unexpected `{tok}`{expected}", lines.span(path, m.start(), m.end()),
                                        help="remove it, or add the bracket it closes"))
                return comments, diags
            opened, start = stack.pop()
            if opened == "{" and suspect is None and _indent(text, m.start()) < _indent(text, start):
                suspect = start
    if stack:
        tok, start = stack[-1]
        notes = ()
        if suspect is not None and suspect > start:
            notes = (Note("this `{` may be the one left open: the `}` that closes it is less indented than its line",
                          lines.span(path, suspect, suspect + 1)),)
        diags.append(Diagnostic("E004", f"`{tok}` is never closed", lines.span(path, start, start + 1),
                                help=f"add `{_OPEN[tok]}` where this block or expression ends", notes=notes))
    return comments, diags


def _indent(text: str, offset: int) -> int:
    """Indentation of the line holding `offset`."""
    start = text.rfind("\n", 0, offset) + 1
    line = text[start:offset]
    return len(line) - len(line.lstrip(" \t"))


def _describe(terminal: str) -> str:
    named = {"NAME": "a name", "NUMBER": "a number", "STRING": "a string", "CMP": "`<=`, `>=` or `==`",
             "PLUS": "`+`", "MINUS": "`-`", "STAR": "`*`", "SLASH": "`/`", "$END": "end of file"}
    if terminal in named:
        return named[terminal]
    for t in _parser().terminals:
        if t.name == terminal and t.pattern.type == "str":
            return f"`{t.pattern.value}`"
    return terminal


def _syntax_diagnostic(exc: UnexpectedInput, text: str, path: str, lines: _Lines) -> Diagnostic:
    if isinstance(exc, UnexpectedCharacters):
        ch = text[exc.pos_in_stream]
        span = lines.span(path, exc.pos_in_stream, exc.pos_in_stream + 1)
        if ch == "'":
            return Diagnostic("E002", "unexpected `'`", span, help='strings use double quotes: "like this"')
        shown = repr(ch) if not ch.isprintable() or ch.isspace() else f"`{ch}`"
        return Diagnostic("E002", f"unexpected character {shown}", span,
                          help="only names, numbers, strings, brackets, `=`, `:`, `,` and arithmetic are allowed")
    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    expected = sorted({_describe(t) for t in exc.expected if not t.startswith("__")})
    listing = ", ".join(expected[:8]) + (", ..." if len(expected) > 8 else "")
    if tok.type == "$END":
        end = len(text)
        return Diagnostic("E001", f"unexpected end of file; expected {listing}", lines.span(path, max(0, end - 1), end))
    span = ast.Span(path, tok.line, tok.column, tok.end_line, tok.end_column)
    shown = f"`{tok.value}`" if len(tok.value) < 40 else f"`{tok.value[:37]}...`"
    help = None
    prev = _LAST_WORD.search(text, 0, tok.start_pos)
    if prev and prev.group(1) not in KEYWORDS:
        close = difflib.get_close_matches(prev.group(1), KEYWORDS, n=1, cutoff=0.75)
        if close:
            help = f"`{prev.group(1)}` is not a keyword; did you mean `{close[0]}`?"
    return Diagnostic("E001", f"unexpected {shown}; expected {listing}", span, help=help)


def _span(meta, path: str) -> ast.Span:
    return ast.Span(path, meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(tok: Token, path: str) -> ast.Span:
    return ast.Span(path, tok.line, tok.column, tok.end_line, tok.end_column)


@v_args(meta=True, inline=True)
class _ToAst(Transformer):
    """Lark tree -> ast nodes. Bad literals become diagnostics, not exceptions."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.diagnostics: list[Diagnostic] = []

    def _name(self, tok: Token) -> ast.Name:
        return ast.Name(str(tok), _tok_span(tok, self.path))

    # expressions
    def number(self, meta, tok):
        text, span = str(tok), _tok_span(tok, self.path)
        unit = "%" if text.endswith("%") else "si" if text[-1] in SI else ""
        value = float(text[:-1] if unit else text) * (SI[text[-1]] if unit == "si" else 0.01 if unit else 1)
        if not math.isfinite(value) or abs(value) > MAX_NUMBER:
            self.diagnostics.append(Diagnostic("E007", f"number `{text}` is too large (the limit is 1e18)", span))
            value = 0.0
        return ast.Number(value, text, unit, span)

    def string(self, meta, tok):
        text, span = str(tok), _tok_span(tok, self.path)
        out, i, body = [], 0, text[1:-1]
        while i < len(body):
            c = body[i]
            if c != "\\":
                out.append(c)
                i += 1
                continue
            nxt = body[i + 1]
            if nxt in ESCAPES:
                out.append(ESCAPES[nxt])
                i += 2
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6] or ""):
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
            else:
                col = span.col + 1 + i
                self.diagnostics.append(Diagnostic("E012", f"unknown escape `\\{nxt}` in string",
                                                   ast.Span(self.path, span.line, col, span.line, col + 2),
                                                   help='use \\" \\\\ \\n \\t \\r \\/ or \\uXXXX; write a backslash as \\\\'))
                i += 2
        return ast.String("".join(out), text, span)

    def name(self, meta, tok):
        return self._name(tok)

    def kwarg(self, meta, name, value):
        return ast.KwArg(self._name(name), value, _span(meta, self.path))

    def call(self, meta, func, *args):
        pos = tuple(a for a in args if not isinstance(a, ast.KwArg))
        kws = tuple(a for a in args if isinstance(a, ast.KwArg))
        return ast.Call(self._name(func), pos, kws, _span(meta, self.path))

    def list(self, meta, *items):
        return ast.List(tuple(items), _span(meta, self.path))

    def binop(self, meta, left, op, right):
        return ast.BinOp(str(op), left, right, _span(meta, self.path))

    def neg(self, meta, op, operand):
        return ast.Neg(operand, _span(meta, self.path))

    # statements
    def entry(self, meta, key, value):
        return ast.Entry(self._name(key), value, _span(meta, self.path))

    def block(self, meta, *items):
        entries = tuple(i for i in items if isinstance(i, ast.Entry))
        phases = tuple(i for i in items if isinstance(i, ast.Phases))
        return ast.Block(entries, _span(meta, self.path), phases)

    def phases(self, meta, *items):
        return ast.Phases(tuple(items), _span(meta, self.path))

    def phase(self, meta, start, mixture):
        return ast.Phase(self.number(meta, start), mixture, _span(meta, self.path))

    def import_stmt(self, meta, path):
        return ast.Import(self.string(meta, path), _span(meta, self.path))

    def _definition(self, kind, meta, name, value):
        return ast.Definition(kind, self._name(name), value, _span(meta, self.path))

    def source_def(self, meta, name, value):
        return self._definition("source", meta, name, value)

    def eval_def(self, meta, name, value):
        return self._definition("eval", meta, name, value)

    def model_def(self, meta, name, value):
        return self._definition("model", meta, name, value)

    def recipe(self, meta, name, body):
        return ast.Recipe(self._name(name), body, _span(meta, self.path))

    def setting(self, meta, key, value):
        return ast.Setting(self._name(key), value, _span(meta, self.path))

    def search(self, meta, method, body):
        return ast.Search(self._name(method), body, _span(meta, self.path))

    def budget(self, meta, body):
        return ast.Budget(body, _span(meta, self.path))

    def objective(self, meta, expr):
        return ast.Objective(expr, _span(meta, self.path))

    def constraint(self, meta, *parts):
        return ast.Constraint(tuple(parts[0::2]), tuple(str(op) for op in parts[1::2]), _span(meta, self.path))

    def constraints(self, meta, *items):
        return ast.Constraints(tuple(items), _span(meta, self.path))

    def final(self, meta, name):
        return ast.Final(self._name(name), _span(meta, self.path))

    def baselines(self, meta, *items):
        return ast.Baselines(tuple(items), _span(meta, self.path))

    def validate(self, meta, *items):
        return ast.Validate(tuple(items), _span(meta, self.path))

    def experiment(self, meta, name, *body):
        return ast.Experiment(self._name(name), tuple(body), _span(meta, self.path))

    def start(self, meta, *items):
        return tuple(items)


def parse(text: str, path: str) -> tuple[ast.Module | None, list[Diagnostic]]:
    """Parse one file's text. Returns the module (None when syntax errors were found) and diagnostics."""
    lines = _Lines(text)
    if not text.strip():
        return None, [Diagnostic("E006", "file is empty", ast.Span(path, 1, 1, 1, 2),
                                 help="a spec holds an `experiment NAME { ... }` block or definitions to import")]
    comments, diags = _scan(text, path, lines)
    if diags:
        return None, diags

    # Syntax errors stop at the first: LALR recovery by dropping tokens mostly reports echoes of
    # the first mistake. Everything after parsing (the checker) reports all errors at once.
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        return None, [_syntax_diagnostic(exc, text, path, lines)]
    to_ast = _ToAst(path)
    try:
        items = to_ast.transform(tree)
    except VisitError as exc:  # a bug in this module, never user input: say so plainly
        raise RuntimeError(f"internal error while reading {path}: {exc.orig_exc!r}") from exc.orig_exc
    if to_ast.diagnostics:
        return None, to_ast.diagnostics
    return ast.Module(path, items, tuple(comments)), []
