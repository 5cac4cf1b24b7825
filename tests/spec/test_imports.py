"""Imports stay inside the project root, and nothing of a file outside it, or of a file that
is not a spec, reaches any output format of `mixc check` (specs from pull requests run in CI)."""

from __future__ import annotations

import os

import pytest

from mixc.compiler.cli import main
from mixc.spec.load import load, project_root

SECRET = "SECRET_TOKEN=abc123xyz"
FORMATS = ("text", "json", "github", "sarif")
EXPERIMENT = '\nexperiment e {\n  source a = text("/data/a/*.txt")\n}\n'


@pytest.fixture
def project(tmp_path):
    """tmp/secret.env beside tmp/project (a git repository) holding specs/."""
    (tmp_path / "secret.env").write_text(SECRET + "\n")
    (tmp_path / "project" / ".git").mkdir(parents=True)
    (tmp_path / "project" / "specs").mkdir()
    return tmp_path


def _spec(project, name: str, imported: str) -> str:
    path = project / "project" / "specs" / name
    path.write_text(f'import "{imported}"\n' + EXPERIMENT)
    return str(path)


def _outputs(capsys, *args: str) -> dict[str, tuple[int, str]]:
    out = {}
    for fmt in FORMATS:
        status = main(["check", "--format", fmt, *args])
        captured = capsys.readouterr()
        out[fmt] = status, captured.out + captured.err
    return out


def _assert_not_leaked(outputs: dict[str, tuple[int, str]], code: str) -> None:
    for fmt, (status, text) in outputs.items():
        assert status == 1, (fmt, text)
        assert code in text, (fmt, text)
        assert "abc123xyz" not in text and "SECRET_TOKEN" not in text, (fmt, text)


@pytest.mark.parametrize("how", ["absolute", "relative", "link"])
def test_import_from_outside_the_root_is_refused_unread(project, capsys, how):
    secret = project / "secret.env"
    if how == "link":
        (project / "project" / "specs" / "lib.mix").symlink_to(secret)
    imported = {"absolute": str(secret), "relative": "../../secret.env", "link": "lib.mix"}[how]
    spec = _spec(project, "x.mix", imported)
    outputs = _outputs(capsys, spec)
    _assert_not_leaked(outputs, "E013")
    assert outputs["text"][1].splitlines()[0] == f"{spec}:1:8: error[E013]: cannot import \"{imported}\": " + (
        "the path is absolute" if how == "absolute" else "it leads outside the project")


def test_a_file_that_is_not_a_spec_is_never_quoted(project, capsys):
    # Inside the root (--root widens it to the secret's folder), read, and still not shown.
    spec = _spec(project, "x.mix", "../../secret.env")
    _assert_not_leaked(_outputs(capsys, "--root", str(project), spec), "E014")
    (project / "project" / "specs" / "latin1.mix").write_bytes(b"# caf\xe9 " + SECRET.encode() + b"\n")
    spec = _spec(project, "y.mix", "latin1.mix")
    _assert_not_leaked(_outputs(capsys, spec), "E014")


def test_a_spec_that_links_out_of_the_project_is_not_read(project, capsys):
    link = project / "project" / "specs" / "evil.mix"
    link.symlink_to(project / "secret.env")
    _assert_not_leaked(_outputs(capsys, str(link)), "E013")


def test_default_root_is_the_git_repository_else_the_spec_folder(project, tmp_path):
    assert project_root(str(project / "project" / "specs" / "x.mix")) == str(project / "project")
    (tmp_path / "loose").mkdir()
    assert project_root(str(tmp_path / "loose" / "x.mix")) == str(tmp_path / "loose")


def test_imports_inside_the_root_still_work(project):
    lib = project / "project" / "lib"
    lib.mkdir()
    (lib / "models.mix").write_text("model m = dense(layers: 1, d_model: 32, heads: 2, seq_len: 32)\n")
    (project / "project" / "specs" / "ok.mix").write_text('import "../lib/models.mix"\n' + EXPERIMENT)
    loaded = load(str(project / "project" / "specs" / "ok.mix"))
    assert not loaded.diagnostics and [m.path for m in loaded.imported] == [os.path.normpath(lib / "models.mix")]
    # Without a repository the spec's folder is the root, so ../lib is outside it.
    os.rename(project / "project" / ".git", project / "project" / "not-git")
    (loaded_diag,) = load(str(project / "project" / "specs" / "ok.mix")).diagnostics
    assert loaded_diag.code == "E013"


def test_root_option_must_be_a_folder(project, capsys):
    assert main(["check", "--root", str(project / "nowhere"), _spec(project, "x.mix", "a.mix")]) == 2
    assert "is not a folder" in capsys.readouterr().err
