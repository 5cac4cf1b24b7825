"""Golden tests: one failing spec per diagnostic code, and exactly what `mixc check` prints for it.

Each `tests/spec/golden/<CODE>_<what>.mix` is checked through the CLI entry point from the
repository root, with the relative path, so the output is stable; it must equal the
`.expected` file beside it, exit 1 (0 for warnings only) and carry its code. Files that
should not be committed (non-UTF-8 bytes, NUL bytes, an oversized file) are written by the
test under the same relative path in a temporary folder. Every code in the catalogue
needs at least one golden, so a new code cannot arrive without one.

Regenerate after a deliberate change to the messages, then read the diff:
    MIXC_REGEN=1 .venv/bin/python -m pytest tests/spec/test_golden.py
"""

from __future__ import annotations

import os
import pathlib

import pytest

from mixc.compiler.cli import main
from mixc.spec.diagnostics import CODES
from mixc.spec.parse import MAX_BYTES
from tests.helpers.paths import ROOT

GOLDEN = pathlib.Path("tests/spec/golden")  # relative to ROOT: the paths printed in the output
REGEN = os.environ.get("MIXC_REGEN") == "1"

_VALID = b'experiment tiny {\n  source web = text("data/web/*.txt")\n}\n'

# Goldens whose bytes are made here rather than committed: name -> file contents.
GENERATED: dict[str, bytes] = {
    # Latin-1 "é" (0xe9) in a comment on line 2: not UTF-8.
    "E005_not_utf8": b'experiment tiny {\n  # caf\xe9\n  source web = text("data/web/*.txt")\n}\n',
    "E005_binary": b'experiment tiny {\n  source web = text("data/web/*.txt")\0\0\0\n}\n',
    # One byte over the limit: a valid spec padded with a comment.
    "E009_too_large": _VALID + b"#" + b"x" * (MAX_BYTES - len(_VALID) - 1) + b"\n",
}

COMMITTED = sorted(p.stem for p in (ROOT / GOLDEN).glob("*.mix"))
ALL = sorted(COMMITTED + list(GENERATED))


def _code(name: str) -> str:
    return name.split("_", 1)[0]


# Codes only `mixc build` reports (they look at the data files, which `check` never needs).
BUILD_CODES = {"E101", "E105"}


def _run(name: str, cwd: pathlib.Path, capsys, monkeypatch) -> tuple[int, str]:
    monkeypatch.chdir(cwd)
    spec = str(GOLDEN / f"{name}.mix")
    if _code(name) in BUILD_CODES:
        import tempfile

        with tempfile.TemporaryDirectory() as out:
            status = main(["build", spec, "-o", out])
        captured = capsys.readouterr()
        return status, captured.err + captured.out
    status = main(["check", spec])
    return status, capsys.readouterr().out


@pytest.mark.parametrize("name", ALL)
def test_golden(name: str, tmp_path, capsys, monkeypatch):
    cwd = ROOT
    if name in GENERATED:
        (tmp_path / GOLDEN).mkdir(parents=True)
        (tmp_path / GOLDEN / f"{name}.mix").write_bytes(GENERATED[name])
        cwd = tmp_path
    status, out = _run(name, cwd, capsys, monkeypatch)

    expected_path = ROOT / GOLDEN / f"{name}.expected"
    if REGEN:
        expected_path.write_text(out)
    assert expected_path.exists(), f"no {expected_path.name}; run with MIXC_REGEN=1 and review it"
    assert out == expected_path.read_text()

    code = _code(name)
    assert f"[{code}]: " in out, f"{name} does not produce {code}"
    assert status == (0 if code.startswith("W") else 1)
    assert "Traceback" not in out


def test_every_code_has_a_golden():
    covered = {_code(n) for n in ALL}
    assert not set(CODES) - covered, f"codes without a golden spec: {sorted(set(CODES) - covered)}"
    assert not covered - set(CODES), f"goldens named for codes not in CODES: {sorted(covered - set(CODES))}"


def test_no_stray_expected_files():
    stems = {p.stem for p in (ROOT / GOLDEN).glob("*.expected")}
    assert stems == set(ALL), f"unmatched: {sorted(stems ^ set(ALL))}"


def test_generated_goldens_are_not_committed():
    for name in GENERATED:
        assert not (ROOT / GOLDEN / f"{name}.mix").exists()


def test_strict_turns_a_warning_into_failure(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    name = next(n for n in COMMITTED if n.startswith("W"))
    assert main(["check", "--strict", str(GOLDEN / f"{name}.mix")]) == 1
    assert capsys.readouterr().out == (ROOT / GOLDEN / f"{name}.expected").read_text()


# ---- the reference (spec/LANGUAGE.md) stays in step with the catalogue -----------------


def test_language_reference_documents_every_code():
    text = (ROOT / "spec/LANGUAGE.md").read_text()
    headings = {line[4:].split(" ", 1)[0]: line[4:] for line in text.splitlines() if line.startswith("### ")}
    for code, title in CODES.items():
        assert headings.get(code) == f"{code} {title}", f"spec/LANGUAGE.md needs a heading `### {code} {title}`"
    assert not set(headings) - set(CODES), f"documented codes not in CODES: {sorted(set(headings) - set(CODES))}"


def test_language_reference_examples_check_clean_and_are_formatted():
    from mixc.spec.check import check
    from mixc.spec.fmt import format_text
    from mixc.spec.load import load_bytes

    text = (ROOT / "spec/LANGUAGE.md").read_text()
    blocks = text.split("```mix\n")[1:]
    assert blocks, "the reference shows at least one whole spec in a ```mix block"
    for block in blocks:
        example = block.split("```", 1)[0]
        experiment, diags = check(load_bytes(example.encode(), "example.mix"))
        assert experiment is not None and not diags, diags
        assert format_text(example)[0] == example
