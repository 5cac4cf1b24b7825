"""`mixc check` end to end: exit statuses, output formats, and staying light (no torch)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mixc.compiler.cli import main
from tests.helpers.paths import ROOT

BAD = ('experiment x {\n  source a = text("a")\n  model m = dense(layers: 2, d_model: 64, heads: 3, seq_len: 64)\n'
       '  train r { model: m, tokens: 1k }\n  search regmix { runs: 2, train: r }\n  minimize loss(a)\n}\n')
WARN = 'experiment x {\n  source a = text("a")\n  model m = dense(layers: 2, d_model: 64, heads: 4, seq_len: 64)\n}\n'


@pytest.fixture
def files(tmp_path):
    (tmp_path / "bad.mix").write_text(BAD)
    (tmp_path / "warn.mix").write_text(WARN)
    return tmp_path


def test_exit_statuses(files, capsys):
    assert main(["check", str(ROOT / "examples/quickstart.mix")]) == 0
    assert main(["check", str(files / "bad.mix")]) == 1
    assert main(["check", str(files / "warn.mix")]) == 0
    assert main(["check", "--strict", str(files / "warn.mix")]) == 1
    assert main(["check", str(files / "missing.mix")]) == 2
    assert main(["check"]) == 2
    assert main(["check", "--format", "yaml", str(files / "bad.mix")]) == 2


def test_text_format_has_location_caret_and_help(files, capsys):
    main(["check", str(files / "bad.mix")])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{files / 'bad.mix'}:3:50: error[E027]: 3 heads do not divide d_model 64"
    assert out[1] == " 3 |   model m = dense(layers: 2, d_model: 64, heads: 3, seq_len: 64)"
    assert out[2] == "   | " + " " * 49 + "^"
    assert out[3].startswith("  help: ")


def test_json_format(files, capsys):
    main(["check", "--format", "json", str(files / "bad.mix")])
    (d,) = json.loads(capsys.readouterr().out)["diagnostics"]
    assert (d["code"], d["severity"], d["line"], d["col"]) == ("E027", "error", 3, 50)


def test_github_format(files, capsys):
    main(["check", "--format", "github", str(files / "bad.mix")])
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"::error file={files / 'bad.mix'},line=3,col=50,")
    assert "::3 heads do not divide d_model 64" in line


def test_sarif_format(files, capsys):
    main(["check", "--format", "sarif", str(files / "bad.mix"), str(files / "warn.mix")])
    doc = json.loads(capsys.readouterr().out)
    assert doc["version"] == "2.1.0"
    results = doc["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"E027", "W001"}
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        region = r["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] == 3


def test_stdin(monkeypatch, capsys):
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BAD.encode())))
    assert main(["check", "-"]) == 1
    assert capsys.readouterr().out.startswith("<stdin>:3:50: error[E027]")


def test_check_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from mixc.compiler.cli import main\n"
        f"rc = main(['check', {str(ROOT / 'examples/quickstart.mix')!r}])\n"
        "heavy = [m for m in ('torch', 'cvxpy', 'snakemake', 'transformers', 'numpy', 'networkx', 'scipy', 'zarr')\n"
        "         if m in sys.modules]\n"
        "assert rc == 0 and not heavy, (rc, heavy)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_console_script_never_tracebacks_on_garbage(tmp_path):
    f = tmp_path / "garbage.mix"
    f.write_bytes(bytes(range(256)) * 8)
    r = subprocess.run([sys.executable, "-m", "mixc", "check", str(f)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1 and "Traceback" not in r.stderr and "error[E005]" in r.stdout
