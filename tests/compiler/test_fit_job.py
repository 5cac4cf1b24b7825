"""The fit job: out-of-fold predictions beside each run's measured losses, and the runs rule of
`mixc check` (E104) enforced again, in the same words, when it runs."""

import json

import numpy as np
import pytest

from mixc.compiler.jobs import fit
from mixc.compiler.mixture import sizes
from mixc.compiler.mixture.laws import Aim, fit_and_validate
from mixc.jobfile import JobError
from mixc.jobs import FitJob, Objective, ObjectiveTerm
from tests.helpers.mixtures import SOURCES, make_runs

TARGETS = ("code", "web")


def _job(tmp_path, n: int, law: str) -> FitJob:
    """A design of n mixtures and n finished proxy runs whose metrics hold the synthetic losses."""
    W, Y = make_runs(n)
    (tmp_path / "design").mkdir()
    (tmp_path / "design" / "mixtures.json").write_text(
        json.dumps({"mixtures": {f"run{i}": w.tolist() for i, w in enumerate(W)}}))
    runs = []
    for i, (web, code) in enumerate(Y):
        folder = tmp_path / f"proxy{i}"
        folder.mkdir()
        (folder / "metrics.json").write_text(json.dumps({"eval": {"g_web": {"loss": web}, "g_code": {"loss": code},
                                                                  "g_other": {"loss": 9.0}}}))
        runs.append(str(folder))
    return FitJob(law=law, seed=0, design=str(tmp_path / "design"), eval_groups={"web": "g_web", "code": "g_code"},
                  targets=TARGETS, runs=tuple(runs), sources=SOURCES, output=str(tmp_path / "fit"),
                  objective=Objective("max", (ObjectiveTerm(2.0, "code"), ObjectiveTerm(1.0, "web")), 0.0, None))


@pytest.mark.parametrize("law", ["loglinear", "auto"])
def test_runs_json_holds_each_runs_out_of_fold_prediction(tmp_path, law):
    job = _job(tmp_path, 24, law)
    fit.run(job)
    rows = json.loads((tmp_path / "fit" / "runs.json").read_text())
    fitted = json.loads((tmp_path / "fit" / "law.json").read_text())
    assert len(rows) == 24 and all(set(r) == {"run", "mixture", "losses", "oof", "fold"} for r in rows)
    assert all(set(r["oof"]) == set(TARGETS) and 0 <= r["fold"] < fitted["cv"]["folds"] for r in rows)
    X = np.array([r["mixture"] for r in rows])
    Y = np.array([[r["losses"][t] for t in TARGETS] for r in rows])
    _, oof = fit_and_validate(law, X, Y, SOURCES, TARGETS, aim=fit.aim(job))
    assert np.allclose([[r["oof"][t] for t in TARGETS] for r in rows], oof.predictions)
    assert [r["fold"] for r in rows] == oof.fold.tolist()
    assert fitted["cv"]["min_train_rows"] == fitted["cv"]["parameters"] + 1 <= fitted["cv"]["train_rows"]


def test_too_few_runs_fail_before_fitting_in_checks_words(tmp_path):
    job = _job(tmp_path, 11, "loglinear")
    with pytest.raises(JobError) as err:
        fit.run(job)
    assert str(err.value) == (f"{sizes.requirement('loglinear', 4)}; the design has 11 proxy runs: "
                              f"{sizes.remedy('loglinear', 4)}")
    assert "needs at least 12 runs for 4 sources" in str(err.value)
    assert not (tmp_path / "fit").exists()


def test_laws_are_judged_by_their_prediction_of_the_objective(tmp_path):
    job = _job(tmp_path, 24, "auto")
    assert fit.aim(job) == Aim((2.0, 1.0), "max")  # in the job's target order: code, then web
    fit.run(job)
    fitted = json.loads((tmp_path / "fit" / "law.json").read_text())
    rows = json.loads((tmp_path / "fit" / "runs.json").read_text())
    pred = np.array([[r["oof"][t] for t in TARGETS] for r in rows])
    true = np.array([[r["losses"][t] for t in TARGETS] for r in rows])
    cv = fitted["cv"]
    chosen = cv["candidates"][fitted["law"]]
    # The chosen law's out-of-fold objective is max(2 code, web), and its RMSE is what auto recorded.
    objective = lambda L: np.maximum(2.0 * L[:, 0], L[:, 1])  # noqa: E731
    assert chosen["rmse"] == pytest.approx(np.sqrt(np.mean((objective(pred) - objective(true)) ** 2)))
