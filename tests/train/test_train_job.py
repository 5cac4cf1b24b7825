"""The train job end to end on real (tiny) data: outputs, metrics, eval, export, resume, bad input."""

from __future__ import annotations

import json

import pytest

from mixc.runtime.export import load_native
from tests.helpers.jobs import model, run_job, train_job


def _metrics(out):
    return json.loads((out / "metrics.json").read_text())


def test_train_writes_its_outputs(store, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_job(tmp_path, train_job(store, out, export=True)) == 0
    m = _metrics(out)
    assert m["steps"] == 12 and m["tokens"] == 12 * 4 * 16 and len(m["loss_curve"]) == 12
    assert m["tokens_per_s"] > 0 and m["wall_time_s"] > 0
    assert set(m["epochs"]) == {"legal", "literature"} and all(e > 0 for e in m["epochs"].values())
    assert m["loss_curve"][-1][1] < m["loss_curve"][0][1]  # it learns
    assert set(m["eval"]) == {"legal", "literature"} and m["eval"]["legal"]["tokens"] == 256
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000010", "step-00000012"]
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert type(AutoModelForCausalLM.from_pretrained(out / "hf")).__name__ == "LlamaForCausalLM"
    assert AutoTokenizer.from_pretrained(out / "hf")("ab")["input_ids"] == [97, 98]  # the byte tokenizer
    assert load_native(out / "model").config.shape.kind == "dense"
    err = capsys.readouterr().err
    assert "step 4/12 loss" in err and "step 12/12 loss" in err  # plain log lines when not a terminal


@pytest.mark.parametrize("kind", ["moe", "mole"])
def test_sparse_models_train(store, tmp_path, kind):
    out = tmp_path / kind
    assert run_job(tmp_path, train_job(store, out, model=model(kind), steps=6, export=True)) == 0
    m = _metrics(out)
    assert m["loss_curve"][-1][1] < m["loss_curve"][0][1]
    assert (out / "hf").exists() == (kind == "moe")


def test_eval_job_matches_the_train_jobs_final_eval(store, tmp_path):
    out = tmp_path / "run"
    assert run_job(tmp_path, train_job(store, out)) == 0
    job = {"schema": 1, "kind": "eval", "model": str(out / "model"), "store": str(store["store"]),
           "sources": ["legal", "literature"], "tokens": 256, "seq_len": None, "batch_size": 3, "device": "cpu",
           "output": str(tmp_path / "ev")}
    assert run_job(tmp_path, job, "eval.json") == 0
    losses = json.loads((tmp_path / "ev" / "eval.json").read_text())["losses"]
    for source, result in _metrics(out)["eval"].items():
        assert losses[source]["tokens"] == result["tokens"]
        assert losses[source]["loss"] == pytest.approx(result["loss"], abs=1e-6)  # batch size does not matter
    assert run_job(tmp_path, job, "eval.json") == 0  # deterministic
    assert json.loads((tmp_path / "ev" / "eval.json").read_text())["losses"] == losses


def test_progress_bar_on_a_terminal(monkeypatch):
    import io

    from mixc.runtime.train import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    monkeypatch.setattr("sys.stderr", term)
    bar = Progress(total=4, every=2, enabled=True)
    for step in range(4):
        bar.update(step, 2.5 - step / 10, 1e-3, 1000.0)
    bar.close()
    frames = term.getvalue().split("\r")[1:]  # a frame on each log step only: the losses are read then
    assert len(frames) == 2 and frames[0].startswith("[" + "#" * 15 + "." * 15 + "] 2/4 loss 2.4000")
    assert frames[-1].startswith("[" + "#" * 30 + "] 4/4 loss 2.2000") and frames[-1].endswith("\n")


def test_evaluation_windows_are_the_jobs_not_the_models(store, tmp_path):
    """eval_seq_len sets the window length (runs with other contexts score the same text);
    a window longer than the model's context is refused when the job file is read."""
    out = tmp_path / "short"
    assert run_job(tmp_path, train_job(store, out, steps=2, eval_seq_len=8, eval_tokens=32)) == 0
    assert {r["tokens"] for r in _metrics(out)["eval"].values()} == {32}  # 4 windows of 8 predicted tokens
    assert run_job(tmp_path, train_job(store, tmp_path / "long", eval_seq_len=32), "long.json") == 2


def test_evaluation_logits_are_fp32_under_bf16_autocast():
    """The body may run in bf16 (CUDA), but the logits and their log-softmax are fp32: the loss
    equals the fp32 head applied to the bf16 body's output, not the bf16 logits' loss."""
    import torch

    from mixc.runtime.evaluate import window_loss
    from mixc.runtime.models import ModelConfig
    from mixc.runtime.models.loss import linear_cross_entropy
    from mixc.shape import ModelShape

    torch.manual_seed(0)
    model = ModelConfig(ModelShape("dense", 1, 64, 4, 3000, 32)).build().eval()
    windows = torch.randint(0, 3000, (4, 33))
    bf16 = torch.autocast("cpu", dtype=torch.bfloat16)
    with torch.no_grad():
        loss = window_loss(model, windows, bf16).item()
        with bf16:
            h, _ = model.hidden(windows[:, :-1])
            rounded = model(windows[:, :-1], windows[:, 1:]).ce.item()
        exact = linear_cross_entropy(h.float().flatten(0, 1), model.head.weight, windows[:, 1:].flatten()).item()
    assert loss == exact and loss != rounded


def test_a_compile_that_cannot_build_falls_back_to_eager(store, tmp_path, capsys):
    """No working C++ compiler (as on a node without one): torch.compile fails at the first step;
    the job warns, trains eagerly and computes exactly what an eager job does."""
    import torch._inductor.config

    eager = tmp_path / "eager"
    assert run_job(tmp_path, train_job(store, eager, steps=4, eval_tokens=0), "eager.json") == 0
    out = tmp_path / "compiled"
    with torch._inductor.config.patch({"cpp.cxx": ("/nonexistent/c++",)}):
        assert run_job(tmp_path, train_job(store, out, steps=4, eval_tokens=0, compile=True)) == 0
    err = capsys.readouterr().err
    assert "warning: torch.compile failed (" in err and "training eagerly" in err and "compile: false" in err
    metrics = _metrics(out)
    assert metrics["compiled"] is False
    assert metrics["loss_curve"] == _metrics(eager)["loss_curve"]


def test_losses_read_on_log_steps_still_name_the_first_bad_step(store, tmp_path, capsys):
    """Losses stay on the device until a log step (no sync every step); a loss that is not
    finite is still reported with its own step, the same one a job reading every step names."""
    import re

    bad = dict(lr=1e30, min_lr=0.0, warmup_steps=0, schedule="constant", grad_clip=None, checkpoint_every=100,
               eval_tokens=0)
    named = {}
    for every in (1, 4):
        out = tmp_path / f"every-{every}"
        assert run_job(tmp_path, train_job(store, out, log_every=every, **bad), f"{every}.json") == 1
        err = capsys.readouterr().err
        found = re.search(r"loss is (nan|inf) at step (\d+); stopping \(no checkpoint had been written\)", err)
        assert found, err
        named[every] = int(found.group(2))
        assert not (out / "metrics.json").exists()
    assert named[4] == named[1] and named[1] % 4  # found between log steps
