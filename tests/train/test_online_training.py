"""Train jobs whose mixture moves, at tiny sizes on real text: phases switch where they say,
DoReMi and Aioli write their schedule and learned mixture, and a run stopped mid-way resumes
bit-identically on CPU, its controller's state included."""

from __future__ import annotations

import json

import pytest

from mixc import jobfile
from mixc.runtime.kinds import KINDS
from mixc.runtime.train import train
from tests.helpers.jobs import run_job, train_job


class Stop(Exception):
    pass


def stop_after_step_7(done: int) -> None:
    if done == 7:
        raise Stop


def phases(*pairs) -> dict:
    return {"kind": "phases", "phases": [{"start": s, "weights": w, "weights_file": None} for s, w in pairs],
            "doremi": None, "aioli": None}


def aioli(rounds: int = 2) -> dict:
    return {"kind": "aioli", "phases": [], "doremi": None,
            "aioli": {"rounds": rounds, "learn_fraction": 0.5, "sweeps": 1, "smoothing": 0.2, "step_size": 4.0,
                      "eval_tokens": 64}}


@pytest.fixture(scope="module")
def reference(store, tmp_path_factory):
    """DoReMi's reference: the same tiny model on the uniform mixture."""
    out = tmp_path_factory.mktemp("reference") / "run"
    assert run_job(out.parent, train_job(store, out, eval_tokens=0, weights=[0.5, 0.5])) == 0
    return out / "model"


def doremi(reference) -> dict:
    return {"kind": "doremi", "phases": [], "aioli": None,
            "doremi": {"reference": str(reference), "step_size": 20.0, "smoothing": 0.1}}


def metrics(out) -> dict:
    return json.loads((out / "metrics.json").read_text())


def resumes_exactly(store, tmp_path, **change) -> dict:
    """The job run whole, and stopped after step 7 then rerun (from its step-5 checkpoint): the
    same losses, evaluation and mixture, bit for bit. Returns the whole run's metrics."""
    whole = tmp_path / "whole"
    assert run_job(tmp_path, train_job(store, whole, **change), "whole.json") == 0
    out = tmp_path / "stopped"
    job = jobfile.parse(train_job(store, out, **change), KINDS).config
    with pytest.raises(Stop):
        train(job, on_step=stop_after_step_7)
    train(job)
    a, b = metrics(whole), metrics(out)
    assert b["resumed_from_step"] == 5
    for key in ("loss_curve", "eval", "mixture", "epochs"):
        assert a[key] == b[key], key
    return a


def test_phases_switch_mixture_and_resume_exactly(store, tmp_path):
    m = resumes_exactly(store, tmp_path, weights=None, control=phases((0, [1.0, 0.0]), (6, [0.0, 1.0])))
    assert m["mixture"]["schedule"] == [[0, [1.0, 0.0]], [6, [0.0, 1.0]]]
    # Six steps on each source, every window counted with its own step's mixture.
    assert m["epochs"]["legal"] > 0 and m["epochs"]["literature"] > 0
    only_literature = metrics_of(store, tmp_path, weights=[0.0, 1.0])
    assert only_literature["epochs"]["legal"] == 0 and m["epochs"]["literature"] == pytest.approx(
        only_literature["epochs"]["literature"] / 2)


def metrics_of(store, tmp_path, **change) -> dict:
    out = tmp_path / "plain"
    assert run_job(tmp_path, train_job(store, out, **change), "plain.json") == 0
    return metrics(out)


def test_doremi_learns_weights_against_its_reference_and_resumes_exactly(store, tmp_path, reference):
    m = resumes_exactly(store, tmp_path, weights=[0.5, 0.5], control=doremi(reference))
    mixture = m["mixture"]
    assert mixture["kind"] == "doremi" and len(mixture["schedule"]) == 12
    learned = mixture["learned"]
    assert sum(learned) == pytest.approx(1.0) and min(learned) >= 0.1 / 2 - 1e-12
    assert learned != [0.5, 0.5]  # the proxy's excess losses moved the weights
    written = json.loads((tmp_path / "whole" / "mixtures.json").read_text())
    assert written["mixtures"]["learned"] == learned
    # Batches are drawn from the starting mixture: half the rows from each source.
    plain = metrics_of(store, tmp_path, weights=[0.5, 0.5])
    assert m["epochs"] == plain["epochs"]


def test_doremi_refuses_a_reference_that_cannot_score_its_windows(store, tmp_path, reference):
    from tests.helpers.jobs import model

    job = train_job(store, tmp_path / "run", control=doremi(reference), model=model(seq_len=32), eval_seq_len=16)
    assert run_job(tmp_path, job) == 1


def test_aioli_probes_updates_and_resumes_exactly(store, tmp_path):
    m = resumes_exactly(store, tmp_path, steps=12, weights=[0.5, 0.5], control=aioli(rounds=1))
    schedule = m["mixture"]["schedule"]
    # One round of 12 steps: two probes of 3 steps (0.9 on one source, 0.1 on the other), then p.
    assert [s for s, _ in schedule] == [0, 3, 6]
    assert sorted(max(w) for _, w in schedule[:2]) == [pytest.approx(0.9), pytest.approx(0.9)]
    # learned: the average of p over the steps that trained on it (one p here), equal to it up to rounding
    assert schedule[2][1] == pytest.approx(m["mixture"]["learned"], rel=1e-12) and schedule[2][1] != [0.5, 0.5]


def test_an_aioli_run_too_short_for_its_rounds_is_refused_with_the_field(store, tmp_path):
    assert run_job(tmp_path, train_job(store, tmp_path / "run", steps=4, control=aioli(rounds=2))) == 2


def test_online_runs_are_never_packed(store, tmp_path, reference):
    member = {k: v for k, v in train_job(store, tmp_path / "m0", control=doremi(reference)).items()
              if k not in ("schema", "kind")}
    other = member | {"output": str(tmp_path / "m1")}
    with pytest.raises(jobfile.JobFileError, match=r"members\[0\]\.control.*trains alone"):
        jobfile.parse({"schema": 1, "kind": "pack", "members": [member, other]}, KINDS)
