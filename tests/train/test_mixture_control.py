"""Mixture controllers at tiny sizes: DoReMi's and Aioli's updates against steps worked by hand,
phases, state that restores exactly, and a sampler drawing each step from its own weights."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mixc.jobfile import JobError
from mixc.jobs import AioliControl, DoReMiControl
from mixc.runtime.mixture_control import Aioli, DoReMi, Phases, aioli_update, estimate_law
from mixc.runtime.sampler import MixtureSampler, SamplerError


def test_doremi_step_matches_the_paper_worked_by_hand():
    d = DoReMi([1 / 3] * 3, DoReMiControl("ref", step_size=1.0, smoothing=0.1), steps=10)
    alpha = d.update(0, np.array([0.3, -0.2, 0.0]))  # the negative excess is clipped to 0
    e = math.exp(0.3)
    raised = [e / 3, 1 / 3, 1 / 3]
    expected = [0.9 * r / sum(raised) + 0.1 / 3 for r in raised]
    assert alpha == pytest.approx(expected, abs=1e-12)
    assert alpha == pytest.approx([0.3959973, 0.3020014, 0.3020014], abs=1e-7)
    second = d.update(1, np.array([0.0, 0.5, 0.0]))
    raised = [expected[0], expected[1] * math.exp(0.5), expected[2]]
    assert second == pytest.approx([0.9 * r / sum(raised) + 0.1 / 3 for r in raised], abs=1e-12)
    assert d.learned() == pytest.approx([(a + b) / 2 for a, b in zip(expected, second)], abs=1e-12)


def test_doremi_smoothing_keeps_every_domain_above_its_floor():
    d = DoReMi([0.25] * 4, DoReMiControl("ref", step_size=50.0, smoothing=0.2), steps=10)
    for step in range(10):
        alpha = d.update(step, np.array([1.0, 0.0, 0.0, 0.0]))
    assert min(alpha) >= 0.2 / 4 - 1e-12 and alpha[0] == pytest.approx(1 - 3 * 0.05)


def test_aioli_law_and_update_worked_by_hand():
    mixtures = np.array([[0.0, 1.0], [1.0, 0.0]])
    drops = np.array([[0.0, 0.3], [0.4, 0.1]])  # probing source 1, then source 0
    assert estimate_law(mixtures, drops) == pytest.approx(np.array([[0.4, 0.0], [0.1, 0.3]]))
    p = aioli_update(np.array([0.5, 0.5]), mixtures, drops, step_size=2.0)
    a, b = 0.5 * math.exp(2 * 0.5), 0.5 * math.exp(2 * 0.3)  # column sums of A: 0.5 and 0.3
    assert p == pytest.approx([a / (a + b), b / (a + b)], abs=1e-12)


def test_aioli_round_probes_each_source_then_trains_on_the_update():
    config = AioliControl(rounds=1, learn_fraction=0.5, sweeps=1, smoothing=0.0, step_size=2.0, eval_tokens=16)
    c = Aioli([0.5, 0.5], config, steps=8, seed=0)
    first, second = (int(j) for j in c.order[0])
    assert [c.measures(s) for s in range(8)] == [True, False, True, False, True, False, False, False]
    assert c.weights(0)[first] == 1.0 and c.weights(2)[second] == 1.0
    drop = {first: [0.4, 0.1] if first == 0 else [0.0, 0.3], second: [0.4, 0.1] if second == 0 else [0.0, 0.3]}
    before = np.array([3.0, 3.0])
    after_first = before - np.array(drop[first])
    after_second = after_first - np.array(drop[second])
    for step, losses in ((0, before), (2, after_first), (4, after_second)):
        c.observe(step, losses)
    a, b = 0.5 * math.exp(2 * 0.5), 0.5 * math.exp(2 * 0.3)
    assert c.weights(4) == pytest.approx([a / (a + b), b / (a + b)], abs=1e-12)
    for step in range(8):
        c.draw(step)
    assert c.learned() == pytest.approx([a / (a + b), b / (a + b)], abs=1e-12)  # the probes are left out
    assert [s for s, _ in c.schedule()] == [0, 2, 4]


def test_aioli_refuses_rounds_too_short_for_their_probes():
    config = AioliControl(rounds=4, learn_fraction=0.9, sweeps=2, smoothing=0.1, step_size=1.0, eval_tokens=16)
    with pytest.raises(JobError, match="cannot hold 6 probes"):
        Aioli([1 / 3] * 3, config, steps=24, seed=0)


def test_phases_switch_at_their_starts():
    c = Phases([0, 6], [[1.0, 0.0], [0.25, 0.75]])
    assert [c.weights(s)[0] for s in (0, 5, 6, 9)] == [1.0, 1.0, 0.25, 0.25]
    assert c.support() == pytest.approx([0.625, 0.375])
    for step in range(10):
        c.draw(step)
    assert c.schedule() == [[0, [1.0, 0.0]], [6, [0.25, 0.75]]]


def test_state_restores_exactly_through_json():
    config = AioliControl(rounds=2, learn_fraction=0.5, sweeps=1, smoothing=0.2, step_size=1.0, eval_tokens=16)
    run = Aioli([0.5, 0.5], config, steps=16, seed=3)
    rng = np.random.default_rng(0)
    for step in range(9):
        if run.measures(step):
            run.observe(step, 3 - 0.1 * step + 0.01 * rng.random(2))
        run.draw(step)
    resumed = Aioli([0.5, 0.5], config, steps=16, seed=3)
    resumed.load_state_dict(json.loads(json.dumps(run.state_dict())))
    for step in range(9, 16):
        losses = 3 - 0.1 * step + 0.01 * rng.random(2)
        for c in (run, resumed):
            if c.measures(step):
                c.observe(step, losses)
            c.draw(step)
    assert resumed.weights(15).tolist() == run.weights(15).tolist()
    assert resumed.state_dict() == run.state_dict()
    with pytest.raises(JobError, match="'aioli'"):
        DoReMi([0.5, 0.5], DoReMiControl("ref", 1.0, 0.1), steps=16).load_state_dict(run.state_dict())


def test_sampler_batches_are_a_function_of_step_and_weights(store):
    sources = ["legal", "literature"]
    a = MixtureSampler(store["store"], sources, [0.5, 0.5], seq_len=16, batch_size=8, seed=0)
    b = MixtureSampler(store["store"], sources, [0.5, 0.5], seq_len=16, batch_size=8, seed=0)
    one_hot = [0.0, 1.0]
    assert (a.rows(0, one_hot) == 1).all()
    first = a.batch(0, one_hot)
    b.batch(0, [0.5, 0.5])
    assert np.array_equal(b.batch(1, [0.25, 0.75]), a.batch(1, [0.25, 0.75]))
    assert np.array_equal(MixtureSampler(store["store"], sources, [0.5, 0.5], 16, 8, 0).batch(0, one_hot), first)
    assert a.epochs()["legal"] < b.epochs()["legal"]  # counted with each step's own weights
    narrow = MixtureSampler(store["store"], sources, [0.0, 1.0], seq_len=16, batch_size=8, seed=0)
    with pytest.raises(SamplerError, match="draws on legal"):
        narrow.batch(0, [0.5, 0.5])
