"""Helpers for the language tests: check text in-process, without files or the CLI."""

from __future__ import annotations

import pathlib

from mixc.spec.check import check
from mixc.spec.load import load_bytes

ROOT = pathlib.Path(__file__).resolve().parents[2]


def check_text(text: str | bytes, path: str = "t.mix"):
    data = text.encode() if isinstance(text, str) else text
    return check(load_bytes(data, path))
