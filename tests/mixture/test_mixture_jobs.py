"""The design and solve jobs at tiny sizes, on a real byte-level token store: baselines moved into
the constraints, epoch caps held at every run's token count, fixed baselines' broken caps
recorded, and an infeasible solve that names its conflict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mixc.compiler.jobs import design as design_job
from mixc.compiler.jobs import solve as solve_job
from mixc.compiler.mixture.laws import fit_law
from mixc.jobfile import JobError
from mixc.jobs import (Constraint, DesignBaseline, DesignJob, Objective, ObjectiveTerm, SolveJob, SourceGroup,
                       Term)
from mixc.runtime.store import token_counts
from tests.helpers.jobs import run_job, source, tokenize_job, tokenizer_job

SOURCES = ("a", "b", "c")
PROXY, FINAL = 10_000, 40_000  # training tokens of the proxy recipe and of the final recipe


def weight(label: str, src: str, op: str, rhs: float) -> Constraint:
    return Constraint("weight", (Term(src, 1.0),), op, rhs, label)


def epochs(label: str, src: str, op: str, rhs: float) -> Constraint:
    return Constraint("epochs", (Term(src, 1.0),), op, rhs, label)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    """Three sources of about 9k, 4.5k and 1.5k byte tokens (all for training); their counts."""
    root = tmp_path_factory.mktemp("store")
    assert run_job(root, tokenizer_job(root / "tok")) == 0
    for name, docs in (("a", 60), ("b", 30), ("c", 10)):
        (root / f"{name}.txt").write_text("\n\n".join(f"document {i} of {name} " * 9 for i in range(docs)))
        assert run_job(root, tokenize_job(source(name, root / f"{name}.txt"), root / "tok", root / "s", 0.0)) == 0
    return root / "s", {s: n["train"] for s, n in token_counts(root / "s").items()}


def run_design(tmp_path: Path, store_root: Path, constraints, baselines=()) -> dict:
    job = DesignJob(method="dirichlet", runs=6, prior="natural", seed=0, store=str(store_root),
                    sources=tuple(SourceGroup(s, s) for s in SOURCES), constraints=tuple(constraints),
                    tokens=PROXY, baselines=tuple(baselines), output=str(tmp_path / "design"))
    design_job.run(job)
    return json.loads((tmp_path / "design" / "mixtures.json").read_text())


def test_natural_and_uniform_are_moved_to_the_closest_allowed_mixture(tmp_path, store):
    root, n = store
    out = run_design(tmp_path, root, [weight("t.mix:10", "a", "<=", 0.4), weight("t.mix:11", "c", "<=", 0.2)])
    p = np.array([n[s] for s in SOURCES], dtype=float) / sum(n.values())
    # Only a's cap binds natural (about 60% of the tokens): a at 40%, b and c share the rest as before.
    want = np.array([0.4, *(p[1:] * 0.6 / (1 - p[0]))])
    natural, uniform = out["baselines"]["natural"], out["baselines"]["uniform"]
    assert np.allclose(out["mixtures"]["natural"], want, atol=1e-5) and np.allclose(natural["unconstrained"], p)
    assert natural["moved"] and natural["binding"] == ["t.mix:10 weight(a) <= 40%"]
    assert natural["kl"] == pytest.approx(float(np.sum(want * np.log(want / p))), abs=1e-6)
    # Uniform: c at its 20% cap, a and b at 40% each -- a's cap binds too.
    assert np.allclose(out["mixtures"]["uniform"], [0.4, 0.4, 0.2], atol=1e-5)
    assert uniform["moved"] and set(uniform["binding"]) == {"t.mix:10 weight(a) <= 40%", "t.mix:11 weight(c) <= 20%"}
    assert uniform["kl"] == pytest.approx(0.8 * np.log(0.4 * 3) + 0.2 * np.log(0.2 * 3), abs=1e-6)
    assert out["violations"] == {} and out["tokens"] == n
    runs = np.array([out["mixtures"][f"run{i}"] for i in range(6)])
    assert np.all(runs[:, 0] <= 0.4 + 1e-9) and np.all(runs[:, 2] <= 0.2 + 1e-9)


def test_epoch_caps_hold_at_every_run_on_a_baseline(tmp_path, store):
    root, n = store
    cap = epochs("t.mix:12", "c", "<=", 2)
    out = run_design(tmp_path, root, [cap], [
        DesignBaseline("natural", None, (PROXY, FINAL)),  # validated: also trained with the final recipe
        DesignBaseline("uniform", None, (PROXY,)),
        DesignBaseline("fixed0", (0.3, 0.6, 0.1), (PROXY,)),
        DesignBaseline("fixed1", (0.2, 0.5, 0.3), (PROXY,)),
        DesignBaseline("fixed2", (0.3, 0.6, 0.1), (PROXY, FINAL)),
    ])
    at_proxy, at_final = 2 * n["c"] / PROXY, 2 * n["c"] / FINAL  # about 29% and 7%
    natural, uniform = out["baselines"]["natural"], out["baselines"]["uniform"]
    # The natural share of c (~10%) is fine for a proxy-sized run, not for the final one.
    assert natural["moved"] and natural["run_tokens"] == [PROXY, FINAL]
    assert out["mixtures"]["natural"][2] == pytest.approx(at_final, abs=1e-6)
    assert natural["binding"] == ["t.mix:12 epochs(c) <= 2"]
    assert uniform["moved"] and out["mixtures"]["uniform"][2] == pytest.approx(at_proxy, abs=1e-6)
    # Fixed mixtures are never moved: those that break the cap at some run on them are listed.
    assert out["violations"] == {"fixed1": ["t.mix:12 epochs(c) <= 2"], "fixed2": ["t.mix:12 epochs(c) <= 2"]}
    assert "fixed0" not in out["mixtures"]
    runs = np.array([out["mixtures"][f"run{i}"] for i in range(6)])
    assert np.all(runs[:, 2] <= at_proxy + 1e-9)  # proxy runs train at the proxy recipe's tokens


# ---- solve -------------------------------------------------------------------------------

TOKENS = {"a": 9000, "b": 4500, "c": 1500}


def solve_inputs(tmp_path: Path, X: np.ndarray, Y: np.ndarray) -> tuple[Path, Path]:
    """A fitted linear law and a design file with the sources' token counts."""
    law = fit_law("linear", X, Y, SOURCES, ("a",), cv_folds=0)
    (tmp_path / "fit").mkdir()
    (tmp_path / "fit" / "law.json").write_text(json.dumps(law.to_json()))
    (tmp_path / "design").mkdir()
    (tmp_path / "design" / "mixtures.json").write_text(json.dumps({"sources": list(SOURCES), "tokens": TOKENS}))
    return tmp_path / "fit", tmp_path / "design"


def run_solve(tmp_path: Path, fit: Path, design: Path, constraints, tokens, extrapolate: bool, name: str) -> dict:
    job = SolveJob(fit=str(fit), design=str(design), sources=SOURCES,
                   objective=Objective("sum", (ObjectiveTerm(1.0, "a"),), 0.0, None),
                   constraints=tuple(constraints), extrapolate=extrapolate, tokens=tuple(tokens),
                   output=str(tmp_path / name))
    solve_job.run(job)
    return json.loads((tmp_path / name / "solution.json").read_text())


def test_the_solution_keeps_epoch_caps_at_every_run_on_it(tmp_path):
    X = np.random.default_rng(0).dirichlet(np.ones(3), size=30)
    fit, design = solve_inputs(tmp_path, X, 3.0 - 2.0 * X[:, 2] + 1.0 * X[:, 1])  # more c and less b is better
    cs = [epochs("t.mix:12", "c", "<=", 2), epochs("t.mix:13", "b", ">=", 1)]
    both = run_solve(tmp_path, fit, design, cs, (PROXY, FINAL), True, "both")
    # A cap binds at the larger count (the final run), a floor at the smaller (the chosen run).
    assert both["mixture"]["c"] == pytest.approx(2 * TOKENS["c"] / FINAL, abs=1e-6)
    assert both["mixture"]["b"] == pytest.approx(TOKENS["b"] / PROXY, abs=1e-6)
    assert set(both["binding"]) == {"t.mix:12", "t.mix:13"}
    # Solved for one of the two runs only, the other run would break a cap.
    final_only = run_solve(tmp_path, fit, design, cs, (FINAL,), True, "final_only")
    assert final_only["mixture"]["b"] < TOKENS["b"] / PROXY - 0.1  # chosen (proxy tokens) sees b under once
    proxy_only = run_solve(tmp_path, fit, design, cs, (PROXY,), True, "proxy_only")
    assert proxy_only["mixture"]["c"] > 2 * TOKENS["c"] / FINAL + 0.1  # the final run sees c over twice


def test_an_infeasible_solve_names_the_constraints_and_caps_in_conflict(tmp_path):
    rng = np.random.default_rng(1)
    c = rng.uniform(0.0, 0.2, size=30)  # the proxy runs never gave c more than 20%
    share = rng.uniform(size=30)
    X = np.stack([(1 - c) * share, (1 - c) * (1 - share), c], axis=1)
    fit, design = solve_inputs(tmp_path, X, 3.0 - X[:, 0])
    cs = [weight("t.mix:11", "c", ">=", 0.3), weight("t.mix:12", "a", "<=", 0.9)]
    with pytest.raises(JobError) as err:
        run_solve(tmp_path, fit, design, cs, (), False, "capped")
    message = str(err.value)
    assert f"t.mix:11 weight(c) >= 30%; runs' range of c: weight(c) <= {100 * X[:, 2].max():.4g}%" in message
    assert "t.mix:12" not in message  # not part of the conflict
    assert "extrapolate: true" in message and "runs" in message
    free = run_solve(tmp_path, fit, design, cs, (), True, "free")  # as the message suggests
    assert free["mixture"]["c"] >= 0.3 - 1e-6


# ---- lowering: which token counts the jobs get -------------------------------------------

LOWERED = """experiment e {{
  tokenizer = byte
  source a = text("a.txt")
  source b = text("b.txt")
  model m = dense(layers: 1, d_model: 32, heads: 2, seq_len: 32)
  train proxy_run {{ model: m, tokens: 10k, batch: 4 }}
  train final_run {{ model: m, tokens: 40k, batch: 4 }}
  search regmix {{ runs: 8, train: proxy_run, law: linear }}
  minimize loss(a)
  subject to {{
    {constraint}
  }}
  final final_run
  baselines uniform, natural, mixture(a: 30%, b: 70%)
  validate natural, mixture(a: 30%, b: 70%)
}}
"""


def lowered(tmp_path: Path, constraint: str) -> dict:
    from mixc.compiler.lower import lower
    from mixc.spec.check import check_file

    for name in ("a", "b"):
        (tmp_path / f"{name}.txt").write_text(f"some text of {name}\n")
    (tmp_path / "e.mix").write_text(LOWERED.format(constraint=constraint))
    experiment, diags, _ = check_file(str(tmp_path / "e.mix"))
    assert experiment is not None, diags
    graph, diags = lower(experiment)
    assert not diags
    return {j.kind: j.config for j in graph.jobs if j.kind in ("design", "solve")}


def test_lowering_gives_the_design_and_the_solve_every_run_s_token_count(tmp_path):
    jobs = lowered(tmp_path, "epochs(b) <= 2")
    assert jobs["solve"].tokens == (PROXY, FINAL)  # chosen at the proxy recipe, final at its own
    design = {b.name: b for b in jobs["design"].baselines}
    assert jobs["design"].tokens == PROXY
    assert design["natural"].tokens == (PROXY, FINAL) and design["uniform"].tokens == (PROXY,)
    assert design["fixed0"].weights == pytest.approx((0.3, 0.7)) and design["fixed0"].tokens == (PROXY, FINAL)
    # Without epoch caps token counts do not matter: left out, so the final recipe can change freely.
    jobs = lowered(tmp_path, "weight(a) <= 40%")
    assert jobs["solve"].tokens == () and jobs["design"].baselines == ()
