"""A train job whose mixture another job decides: weights read from a file when it starts."""

from __future__ import annotations

import json

from tests.helpers.jobs import run_job, train_job


def test_weights_from_file_equal_given_weights(store, tmp_path):
    (tmp_path / "mix.json").write_text(json.dumps({"mixtures": {"run3": [0.3, 0.7]}}))
    given, from_file = tmp_path / "given", tmp_path / "file"
    assert run_job(tmp_path, train_job(store, given, steps=4)) == 0
    job = train_job(store, from_file, steps=4, weights=None,
                    weights_file={"path": str(tmp_path / "mix.json"), "key": "run3"})
    assert run_job(tmp_path, job, "file.json") == 0
    curve = lambda out: json.loads((out / "metrics.json").read_text())["loss_curve"]  # noqa: E731
    assert curve(given) == curve(from_file)


def test_missing_or_wrong_weights_file_is_a_clear_error(store, tmp_path, capsys):
    job = train_job(store, tmp_path / "a", steps=2, weights=None,
                    weights_file={"path": str(tmp_path / "nowhere.json"), "key": "run0"})
    assert run_job(tmp_path, job) == 1
    assert "nowhere.json: missing" in capsys.readouterr().err
    (tmp_path / "mix.json").write_text(json.dumps({"mixtures": {"run0": [1.0]}}))
    job["weights_file"] = {"path": str(tmp_path / "mix.json"), "key": "run0"}
    assert run_job(tmp_path, job) == 1
    assert "one weight per source" in capsys.readouterr().err
    job["weights"] = [0.5, 0.5]  # both given: the job file itself is wrong
    assert run_job(tmp_path, job) == 2
    assert not (tmp_path / "a" / "metrics.json").exists()
