"""Job files: schema checks name the field; `python -m mixc.runtime` exit codes; adding a kind."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from mixc import jobfile
from mixc.jobfile import FieldError, JobFileError, Kind
from mixc.jobs import SourceSpec, TokenizeJob
from mixc.runtime.kinds import KINDS
from tests.helpers.jobs import run_job_process, source, tokenize_job, tokenizer_job, write_job


def parse(data: object, where: str = "job") -> jobfile.Job:
    return jobfile.parse(data, KINDS, where)


def load(path: Path) -> jobfile.Job:
    return jobfile.load(path, KINDS)


def good() -> dict:
    return tokenize_job(source("lit", "data/*.txt"), Path("tok"), Path("store"), holdout=0.02)


def error_of(data: object) -> str:
    with pytest.raises(JobFileError) as info:
        parse(data, where="j.json")
    return str(info.value)


def test_valid_job_loads_typed() -> None:
    job = parse(good())
    assert job.kind == "tokenize"
    assert isinstance(job.config, TokenizeJob)
    assert job.config.source == SourceSpec("lit", "text", None, ("data/*.txt",))
    assert job.config.holdout == 0.02 and isinstance(job.config.holdout, float)


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda j: j.pop("holdout"), "field 'holdout': missing"),
        (lambda j: j.update(holdout="2%"), "field 'holdout': expected a finite number, got the string \"2%\""),
        (lambda j: j.update(holdout=True), "field 'holdout': expected a finite number, got a boolean"),
        (lambda j: j.update(seed=1.5), "field 'seed': expected an integer"),
        (lambda j: j.update(holdout=1.5), "field 'holdout': must be in [0, 1]"),
        (lambda j: j["source"].update(files=[3]), "field 'source.files[0]': expected a string"),
        (lambda j: j["source"].update(files="a.txt"), "field 'source.files': expected a list"),
        (lambda j: j["source"].update(format="csv"), "field 'source.format': expected one of \"text\", \"jsonl\""),
        (lambda j: j["source"].update(format="jsonl"), "field 'source.field': a jsonl source needs"),
        (lambda j: j["source"].pop("field"), "field 'source.field': missing"),
        (lambda j: j.update(holdotu=0.1), "field 'holdotu': unknown field (did you mean 'holdout'?)"),
        (lambda j: j.update(schema=2), "field 'schema': expected 1, got 2"),
        (lambda j: j.update(kind="trian"), "field 'kind': expected one of eval, pack, tokenize, tokenizer, train"),
    ],
)
def test_bad_fields_are_named(edit, expected: str) -> None:
    job = good()
    edit(job)
    assert expected in error_of(job)
    assert error_of(job).startswith("j.json: ")


def test_tokenizer_kind_cross_field_checks() -> None:
    assert "field 'vocab': bpe needs a vocab" in error_of(tokenizer_job(Path("o"), "bpe", sources=[source("a", "x")]))
    assert "field 'vocab': must be null" in error_of(tokenizer_job(Path("o"), "byte", vocab=300))
    assert "field 'path': hf needs a path" in error_of(tokenizer_job(Path("o"), "hf"))
    assert "field 'sources[0].name'" in error_of(tokenizer_job(Path("o"), "bpe", 300, sources=[source("a/b", "x")]))


def test_unreadable_and_non_json_files(tmp_path: Path) -> None:
    with pytest.raises(JobFileError, match="cannot read job file"):
        load(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": 1,\n "kind": }')
    with pytest.raises(JobFileError, match=r"bad.json:2:10: not valid JSON"):
        load(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(JobFileError, match="must be a JSON object"):
        load(bad)


def test_cli_exit_codes_without_traceback(tmp_path: Path) -> None:
    bad = write_job(tmp_path, {**good(), "seed": "zero"})
    result = run_job_process(bad)
    assert result.returncode == 2
    assert "field 'seed': expected an integer" in result.stderr and "Traceback" not in result.stderr
    missing_files = write_job(tmp_path, tokenize_job(source("lit", str(tmp_path / "none*.txt")), tmp_path / "tok",
                                                     tmp_path / "store"), "j2.json")
    result = run_job_process(missing_files)
    assert result.returncode == 1
    assert "tok" in result.stderr and "Traceback" not in result.stderr
    assert run_job_process(tmp_path).returncode == 2  # a directory is not a job file


@dataclass(frozen=True)
class EchoJob:
    """A kind defined outside the runtime, registered with one line."""

    message: str
    times: int

    def __post_init__(self) -> None:
        if self.times < 1:
            raise FieldError("times", "must be >= 1")


def echo(config: EchoJob) -> None:
    print(config.message * config.times)


def test_a_new_kind_is_one_table_entry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setitem(KINDS, "echo", Kind(EchoJob, f"{__name__}:echo"))
    job = parse({"schema": 1, "kind": "echo", "message": "hi", "times": 2})
    job.run(job.config)
    assert capsys.readouterr().out == "hihi\n"
    assert "field 'times': must be >= 1" in error_of({"schema": 1, "kind": "echo", "message": "x", "times": 0})
    path = tmp_path / "e.json"
    path.write_text(json.dumps({"schema": 1, "kind": "echo", "message": "x", "times": 1}))
    assert load(path).kind == "echo"


def test_a_worker_without_its_layer_names_the_extra(tmp_path: Path) -> None:
    """A job whose modules are not installed ends in the install line, not a traceback."""
    import subprocess
    import sys

    job = write_job(tmp_path, good())
    code = ("import sys\nfor m in ('tokenizers', 'torch', 'zarr'):\n    sys.modules[m] = None\n"
            "from mixc.runtime.__main__ import main\nsys.exit(main([sys.argv[1]]))\n")
    r = subprocess.run([sys.executable, "-c", code, str(job)], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "python -m mixc.runtime needs the worker layer: pip install 'mixc[train]'" in r.stderr
    assert "Traceback" not in r.stderr
