"""Property: mutating a valid spec (byte flips, token deletions and duplications, truncation)
only ever produces diagnostics — never an exception — and whatever still checks also formats."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mixc.spec.fmt import format_text
from tests.helpers.paths import ROOT
from tests.helpers.specs import check_text

SEEDS = [(ROOT / "tests/spec/data/north_star.mix").read_bytes()]
TOKENS = re.compile(rb'"(?:[^"\\\n]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|\d[\w.%]*|<=|>=|==|\S')


def _tokens(data: bytes) -> list[tuple[int, int]]:
    return [m.span() for m in TOKENS.finditer(data)]


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "delete", "duplicate", "truncate", "insert"]))
        spans = _tokens(bytes(data))
        if kind == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        elif kind == "delete" and spans:
            a, b = draw(st.sampled_from(spans))
            del data[a:b]
        elif kind == "duplicate" and spans:
            a, b = draw(st.sampled_from(spans))
            data[b:b] = data[a:b]
        elif kind == "truncate":
            del data[draw(st.integers(0, len(data))):]
        elif kind == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.sampled_from([b"{", b"}", b"(", b'"', b"#", b"-", b"%", b"1e999", b"\xff", b"\x00", b":", b","]))
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutations_only_produce_diagnostics(data):
    experiment, diags = check_text(data, "m.mix")
    assert (experiment is None) == any(d.severity == "error" for d in diags)
    for d in diags:
        assert d.span.line >= 1 and d.span.col >= 1 and d.message
    if experiment is not None:
        text = data.decode("utf-8").removeprefix("\ufeff")
        out, fdiags = format_text(text, "m.mix")
        assert fdiags == [] and format_text(out, "m.mix")[0] == out
