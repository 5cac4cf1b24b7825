"""Packed proxies: K north-star proxies trained as one pack job against K separate train jobs.

    python benchmarks/packed.py [--quick] [--ks 1 4 8 16] [--trials N] [--threads N]

Figures:
  packed_speedup_k{K}     for K = 1, 4, 8, 16: the whole wall time of K separate train jobs
                          (`python -m mixc.runtime JOB`, one after another, as the workflow runs a
                          proxy: its own process, OMP_NUM_THREADS = --threads) over that of one
                          `pack` job of the same K members; process start, data loading, the final
                          evaluation and every write included. Median over alternating trials.
  packed_stacked_vs_loop  one step (forward and backward) of K = 8 proxies in one process: the
                          members one after another over the same step with `runtime.models.stacked`
                          (stacked weights, batched matmuls), median of alternating rounds
  packed_stacked_vs_vmap  the same against `torch.func.vmap` of `functional_call` over the members'
                          stacked parameters (the loss, a custom autograd function vmap cannot take,
                          member by member on its output)

The members are the quickstart's proxy run (dense, 2 layers, d_model 64, 4 heads, 4096-id BPE,
seq 128, batch 16, 147 steps = 300k tokens, 6 x 65,536 evaluation tokens), each on its own
random mixture of the six example sources and its own seed. `--quick` trains 10 steps and
evaluates 4,096 tokens per source, so start-up weighs more than in a real proxy: its speedups
are not the recipe's. Writes only to a temp dir.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DOMAINS = ["literature", "code", "legal", "dictionary", "email", "docs"]


def figure(name: str, value: float, unit: str = "") -> None:
    print(f"figure {name} {value:.4g} {unit}".rstrip(), flush=True)


def run_job(folder: Path, name: str, job: dict, threads: int) -> float:
    """Run `python -m mixc.runtime` on a job file, as the workflow does; return its wall seconds."""
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"schema": 1, **job}))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mixc.runtime", str(path)], cwd=REPO, env=env, check=False,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{name} job failed:\n{done.stderr[-2000:]}")
    return wall


def make_store(tmp: Path) -> None:
    """The six example sources tokenized with a 4096-id BPE, as the quickstart does."""
    def source(d: str) -> dict:
        files = [str(f) for f in sorted((REPO / "examples/data" / d).glob("*.txt.gz"))]
        return {"name": d, "format": "text", "field": None, "files": files, "unit": None}

    run_job(tmp, "tokenizer", {"kind": "tokenizer", "type": "bpe", "vocab": 4096, "path": None, "seed": 0,
                               "sources": [source(d) for d in DOMAINS], "sample_bytes": 2_000_000,
                               "holdout": 0.02, "output": str(tmp / "tok")}, threads=2)
    for d in DOMAINS:
        run_job(tmp, f"tokenize-{d}", {"kind": "tokenize", "tokenizer": str(tmp / "tok"), "store": str(tmp / "store"),
                                       "source": source(d), "holdout": 0.02, "seed": 0}, threads=2)


def proxy_job(tmp: Path, index: int, steps: int, eval_tokens: int) -> dict:
    """Member `index`: the quickstart's proxy run on its own random mixture and seed."""
    import numpy as np

    weights = np.random.default_rng(index).dirichlet(np.ones(len(DOMAINS)))
    model = {"kind": "dense", "layers": 2, "d_model": 64, "heads": 4, "kv_heads": 4, "vocab": 4096, "seq_len": 128,
             "ffn_hidden": 192, "experts": 0, "top_k": 0, "shared_expert": False, "rank": 0, "tie_embeddings": True}
    return {"model": model, "rope_theta": 10000.0, "load_balance_coef": 0.0, "z_loss_coef": 0.0,
            "store": str(tmp / "store"), "tokenizer": str(tmp / "tok"), "sources": DOMAINS,
            "weights": [float(w) for w in weights / weights.sum()], "weights_file": None, "control": None, "seed": index,
            "steps": steps, "batch_size": 16, "micro_batch": 16, "lr": 3e-3, "min_lr": 3e-4, "schedule": "cosine",
            "warmup_steps": 7, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.95, "grad_clip": 1.0,
            "checkpoint_every": 36, "log_every": 7, "eval_sources": DOMAINS, "eval_tokens": eval_tokens,
            "eval_seq_len": 128, "device": "cpu", "compile": None, "export": False,
            "output": str(tmp / "runs" / f"member{index}")}


def trial(tmp: Path, k: int, args: argparse.Namespace, pack_first: bool) -> tuple[float, float]:
    """(wall of K separate train jobs, wall of one pack of them), fresh outputs for both."""
    members = [proxy_job(tmp, i, args.steps, args.eval_tokens) for i in range(k)]

    def separate() -> float:
        shutil.rmtree(tmp / "runs", ignore_errors=True)
        return sum(run_job(tmp, f"train{i}", {"kind": "train", **m}, args.threads) for i, m in enumerate(members))

    def packed() -> float:
        shutil.rmtree(tmp / "runs", ignore_errors=True)
        return run_job(tmp, f"pack{k}", {"kind": "pack", "members": members}, args.threads)

    if pack_first:
        p = packed()
        return separate(), p
    s = separate()
    return s, packed()


def end_to_end(tmp: Path, args: argparse.Namespace) -> None:
    tokens = args.steps * 16 * 128
    for k in args.ks:
        speedups = []
        for t in range(args.trials):
            s, p = trial(tmp, k, args, pack_first=(t + k) % 2 == 0)
            speedups.append(s / p)
            print(f"K={k:2d} trial {t}: separate {s:7.1f} s ({k * tokens / s:,.0f} tok/s), "
                  f"pack {p:7.1f} s ({k * tokens / p:,.0f} tok/s), speedup {s / p:.2f}x; "
                  f"load average {os.getloadavg()[0]:.1f}", flush=True)
        print(f"K={k:2d}: speedup median {statistics.median(speedups):.2f}x, "
              f"spread {min(speedups):.2f}-{max(speedups):.2f}x over {len(speedups)} trials")
        figure(f"packed_speedup_k{k}", statistics.median(speedups), "x")


def step_kernels(k: int, rounds: int, threads: int) -> None:
    """One forward and backward of K proxies: loop, stacked (batched matmuls) and vmap, alternating."""
    import torch
    from torch import nn
    from torch.func import functional_call, stack_module_state, vmap

    from mixc.runtime.models import ModelConfig
    from mixc.runtime.models.loss import linear_cross_entropy
    from mixc.runtime.models.stacked import Stacked
    from mixc.shape import ModelShape

    torch.set_num_threads(threads)
    shape = ModelShape("dense", 2, 64, 4, 4096, 128, tie_embeddings=True)
    models = []
    for seed in range(k):
        torch.manual_seed(seed)
        models.append(ModelConfig(shape).build())
    batch = torch.randint(0, shape.vocab, (k, 16, shape.seq_len + 1), generator=torch.Generator().manual_seed(0))
    idx, targets = batch[:, :, :-1], batch[:, :, 1:]
    stacked = Stacked(models)

    class Hidden(nn.Module):  # what vmap maps: the body, up to the final norm
        def __init__(self, model: nn.Module):
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.model.hidden(x)[0]

    fallbacks: set[str] = set()  # ops vmap runs one member at a time, for want of a batching rule
    params, buffers = stack_module_state([Hidden(m) for m in models])
    base, shared = Hidden(models[0]), {n: b[0] for n, b in buffers.items()}
    body = vmap(lambda p, x: functional_call(base, (p, shared), (x,)))

    def loop() -> None:
        sum(m(i, t).loss for m, i, t in zip(models, idx, targets)).backward()

    def batched() -> None:
        stacked(idx, targets).loss.sum().backward()

    head = params.get("model.head.weight", params["model.embed.weight"])  # tied: one tensor

    def mapped() -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            h = body(params, idx)
        fallbacks.update(str(w.message).split("for ")[-1].split(".")[0] for w in caught if "batching rule" in str(w.message))
        sum(linear_cross_entropy(h[j].flatten(0, 1), head[j], targets[j].flatten()) for j in range(k)).backward()

    ways = {"loop": loop, "stacked": batched, "vmap": mapped}
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, way in ways.items():
            start = time.perf_counter()
            way()
            times[name].append(time.perf_counter() - start)
    ms = {name: statistics.median(t[1:]) * 1e3 for name, t in times.items()}  # the first round warms up
    spread = ", ".join(f"{n} {ms[n]:.0f} ms ({min(t[1:]) * 1e3:.0f}-{max(t[1:]) * 1e3:.0f})" for n, t in times.items())
    print(f"one step of {k} proxies, {threads} thread(s), forward and backward: {spread}; "
          f"vmap has no batching rule for {', '.join(sorted(fallbacks)) or 'none of its ops'}")
    figure("packed_stacked_vs_loop", ms["loop"] / ms["stacked"], "x")
    figure("packed_stacked_vs_vmap", ms["vmap"] / ms["stacked"], "x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 steps, 4096 evaluation tokens, 2 trials")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of every job (the workflow's: 1)")
    args = parser.parse_args()
    args.steps, args.eval_tokens = (10, 4096) if args.quick else (147, 65536)
    if args.quick:
        args.trials = min(args.trials, 2)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; members of {args.steps} steps, "
          f"{args.eval_tokens} evaluation tokens per source; {args.threads} thread(s) per job", flush=True)
    step_kernels(8, rounds=6 if args.quick else 11, threads=args.threads)
    with tempfile.TemporaryDirectory(prefix="mixc-packed-") as name:
        tmp = Path(name)
        make_store(tmp)
        end_to_end(tmp, args)


if __name__ == "__main__":
    main()
