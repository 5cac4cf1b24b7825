"""Checking .mix text in-process, without files or the CLI."""

from __future__ import annotations

from mixc.spec.check import check
from mixc.spec.load import load_bytes


def check_text(text: str | bytes, path: str = "t.mix"):
    data = text.encode() if isinstance(text, str) else text
    return check(load_bytes(data, path))
