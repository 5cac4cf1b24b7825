"""Online mixtures (DoReMi, Aioli) against static ones on ../shared/corpus, at the same target compute.

Six domains (code, dictionary, email_chat, legal, literature, tech_docs), byte-level tokens, 5%
of each domain's documents held out. Every method ends in the same final run (one dense model,
`--steps` steps of 16 windows of 64 tokens, cosine schedule), trained with 3 seeds:
  stratified  uniform weights, the measure Aioli's authors found most methods fail to beat
  natural     each domain's share of the training tokens
  regmix      `--proxies` short proxy runs (a quarter of the steps) on Dirichlet mixtures around
              natural; the auto law (the law, or stack, that cross-validates best) fitted to the
              six held-out losses and solved for their average (compiler.mixture), the final run
              on the solution
  doremi      a reference run on uniform and a DoReMi proxy against it (each half the steps,
              the paper's step size 1 and smoothing 1e-3); the final run on the proxy's
              average weights
  aioli       Aioli online in the final run itself (2 rounds, a quarter of each probing)
The searches of regmix and doremi run once (seed 0); the seeds vary the final runs. Their cost
beyond the final runs is printed (search_steps_<method>, in steps of the final model), as is
the time each method took.

Figures, each the mean over the seeds of the final runs' held-out losses (nats per token):
  avg_loss_<method>       the average over the six domains (Aioli's measure)
  avg_loss_sd_<method>    its standard deviation over the seeds
  worst_loss_<method>     the worst domain's loss
  avg_gain_sds_<method>   (stratified - method) average loss over the larger of the two sds
A method that loses to stratified is reported as measured. Run:
    python benchmarks/online.py [--steps 160] [--proxies 16] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
DOMAINS = ("code", "dictionary", "email_chat", "legal", "literature", "tech_docs")
SEEDS = (0, 1, 2)
MODEL = {"kind": "dense", "layers": 1, "d_model": 48, "heads": 4, "kv_heads": 4, "vocab": 257, "seq_len": 64,
         "ffn_hidden": 128, "experts": 0, "top_k": 0, "shared_expert": False, "rank": 0, "tie_embeddings": True}
BATCH = 16
EVAL_TOKENS = 8192  # per domain, held out


def run_job(work: Path, job: dict) -> None:
    """One runtime job file, in this process; a failure stops the benchmark with its message."""
    from mixc.runtime.__main__ import main

    path = work / "jobs" / f"{job['kind']}-{len(list((work / 'jobs').glob('*.json')))}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(job))
    if main([str(path)]) != 0:
        raise SystemExit(f"job {path} failed")


def tokenize(work: Path, corpus: Path) -> Path:
    store = work / "store"
    if all((store / d).is_dir() for d in DOMAINS):
        return store
    tok = work / "tokenizer"
    run_job(work, {"schema": 1, "kind": "tokenizer", "type": "byte", "vocab": None, "path": None, "sources": [],
                   "sample_bytes": 1024, "seed": 0, "holdout": 0.0, "output": str(tok)})
    for d in DOMAINS:
        run_job(work, {"schema": 1, "kind": "tokenize", "store": str(store), "tokenizer": str(tok), "holdout": 0.05,
                       "seed": 0, "source": {"name": d, "format": "text", "field": None,
                                             "files": [str(corpus / d / "*.txt.gz")], "unit": None}})
    return store


def train(work: Path, store: Path, name: str, steps: int, seed: int, weights: list[float] | None,
          control: dict | None = None) -> dict:
    """A train job's metrics (run in this process; a finished one is read back)."""
    out = work / "runs" / name
    if not (out / "metrics.json").exists():
        run_job(work, {
            "schema": 1, "kind": "train", "model": MODEL, "rope_theta": 10000.0, "load_balance_coef": 0.0,
            "z_loss_coef": 0.0, "store": str(store), "tokenizer": None, "sources": list(DOMAINS), "weights": weights,
            "weights_file": None, "control": control, "seed": seed, "steps": steps, "batch_size": BATCH,
            "micro_batch": BATCH, "lr": 3e-3, "min_lr": 3e-4, "schedule": "cosine",
            "warmup_steps": max(1, steps // 20), "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.95, "grad_clip": 1.0,
            "checkpoint_every": steps, "log_every": max(1, steps // 4), "eval_sources": list(DOMAINS),
            "eval_tokens": EVAL_TOKENS, "eval_seq_len": MODEL["seq_len"], "device": "cpu", "compile": False,
            "export": False, "output": str(out)})
    return json.loads((out / "metrics.json").read_text())


def losses(metrics: dict) -> np.ndarray:
    return np.array([metrics["eval"][d]["loss"] for d in DOMAINS])


def natural(store: Path) -> list[float]:
    from mixc.runtime.store import open_source

    tokens = np.array([open_source(store, d).tokens("train") for d in DOMAINS], dtype=float)
    return (tokens / tokens.sum()).tolist()


def regmix(work: Path, store: Path, steps: int, proxies: int) -> list[float]:
    """The auto law on `proxies` short runs, solved for the average held-out loss."""
    from mixc.compiler.mixture import sizes
    from mixc.compiler.mixture.design import DesignConfig, design
    from mixc.compiler.mixture.laws import fit_law
    from mixc.compiler.mixture.laws.crossval import Aim
    from mixc.compiler.mixture.polytope import Polytope
    from mixc.compiler.mixture.solve import Objective, solve, within_support

    poly = Polytope(DOMAINS)
    X = design(poly, DesignConfig(runs=proxies, seed=0), np.array(natural(store))).mixtures
    Y = np.stack([losses(train(work, store, f"regmix_proxy{i}", steps, 100 + i, [float(w) for w in x]))
                  for i, x in enumerate(X)])
    law = fit_law("auto", X, Y, DOMAINS, DOMAINS, cv_folds=sizes.FOLDS, aim=Aim.mean(len(DOMAINS)))
    print(f"regmix: auto chose {law.name} on {proxies} runs of {steps} steps")
    objective = Objective(tuple((1.0 / len(DOMAINS), d) for d in DOMAINS))
    return [float(w) for w in solve(law, within_support(law, poly), objective).weights]


def doremi(work: Path, store: Path, steps: int) -> list[float]:
    """DoReMi's average weights from a proxy against a uniform reference (the paper's defaults)."""
    uniform = [1.0 / len(DOMAINS)] * len(DOMAINS)
    train(work, store, "doremi_reference", steps, 0, uniform)
    control = {"kind": "doremi", "phases": [], "aioli": None,
               "doremi": {"reference": str(work / "runs" / "doremi_reference" / "model"), "step_size": 1.0,
                          "smoothing": 1e-3}}
    return train(work, store, "doremi_proxy", steps, 0, uniform, control)["mixture"]["learned"]


AIOLI = {"kind": "aioli", "phases": [], "doremi": None,
         "aioli": {"rounds": 2, "learn_fraction": 0.25, "sweeps": 1, "smoothing": 0.1, "step_size": 1.0,
                   "eval_tokens": 2048}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=160, help="steps of every final run")
    parser.add_argument("--proxies", type=int, default=16, help="regmix proxy runs")
    parser.add_argument("--work", type=Path, default=None, help="keep the work here (finished runs are reused)")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    work = args.work or Path(tempfile.mkdtemp(prefix="mixc-online-"))
    store = tokenize(work, args.corpus)
    steps = args.steps
    uniform = [1.0 / len(DOMAINS)] * len(DOMAINS)
    searches = {  # method: (how its final runs get their mixture, search steps in final-run steps)
        "stratified": (lambda: uniform, 0.0),
        "natural": (lambda: natural(store), 0.0),
        "regmix": (lambda: regmix(work, store, steps // 4, args.proxies), args.proxies / 4),
        "doremi": (lambda: doremi(work, store, steps // 2), 1.0),
        "aioli": (None, 0.0),
    }
    results: dict[str, np.ndarray] = {}
    for method, (mixture, search_steps) in searches.items():
        started = time.perf_counter()
        weights = mixture() if mixture else uniform
        runs = [train(work, store, f"{method}_final{s}", steps, s, weights, None if mixture else AIOLI) for s in SEEDS]
        results[method] = np.stack([losses(m) for m in runs])
        learned = runs[0].get("mixture", {}).get("learned", weights)
        print(f"{method}: weights {', '.join(f'{d} {w:.3f}' for d, w in zip(DOMAINS, learned))} "
              f"({time.perf_counter() - started:.0f} s)")
        print(f"figure search_steps_{method} {search_steps * steps:.0f} steps")
    base = results["stratified"].mean(axis=1)
    for method, L in results.items():
        avg = L.mean(axis=1)  # per seed: the average over the domains
        print(f"figure avg_loss_{method} {avg.mean():.4f} nats")
        print(f"figure avg_loss_sd_{method} {avg.std(ddof=1):.4f} nats")
        print(f"figure worst_loss_{method} {L.max(axis=1).mean():.4f} nats")
        sd = max(avg.std(ddof=1), base.std(ddof=1), 1e-12)
        print(f"figure avg_gain_sds_{method} {(base.mean() - avg.mean()) / sd:.2f}")
    print(f"work: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
