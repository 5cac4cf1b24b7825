"""Train-step speed of mixc's models against Hugging Face's, side by side, on CPU in fp32.

Figures (ratios are Hugging Face's step time over ours, so above 1 means we are faster):
  dense_vs_hf_llama            our dense model, eager, vs LlamaForCausalLM
  moe_vs_hf_mixtral            our MoE model, eager, vs MixtralForCausalLM (its default experts code)
  dense_compiled_vs_hf_llama   our dense model under torch.compile vs the same eager Llama
  moe_compiled_vs_hf_mixtral   our MoE model under torch.compile vs the same eager Mixtral
  train_peak_rss_mb            peak resident memory of a process training our MoE config alone

Both sides get the same weights (ours exported with runtime.export.to_hf), the
same batch, the same fused AdamW, and each computes its loss its own way (ours:
chunked linear cross-entropy; Hugging Face: `labels=`). The configs are the
quickstart example's proxy (dense) and target (MoE) models, i.e. what mixc trains
on CPU. Timed rounds alternate between the two sides (which side goes first
alternates too) so that load from other processes hits both alike; each figure is
the median over rounds of Hugging Face's time over ours in the same round, printed
with the spread of those per-round ratios and of each side's step time.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

from mixc.runtime.export import to_hf
from mixc.runtime.models import ModelConfig
from mixc.shape import ModelShape

CONFIGS = {
    "dense": (ModelShape("dense", 2, 64, 4, 4096, 128), 16),
    "moe": (ModelShape("moe", 4, 128, 4, 4096, 128, experts=8, top_k=2), 32),
}


def _batch(shape: ModelShape, rows: int) -> torch.Tensor:
    return torch.randint(0, shape.vocab, (rows, shape.seq_len + 1), generator=torch.Generator().manual_seed(0))


def _our_step(model, batch):
    return model(batch[:, :-1], batch[:, 1:]).loss


def _hf_step(model, batch):
    targets = batch[:, 1:].contiguous()
    return model(input_ids=batch[:, :-1], labels=targets, shift_labels=targets).loss


def _trainer(model, loss_fn, batch):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)

    def step():
        loss = loss_fn(model, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def _timed(step, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - start) / n


def _spread(values: list[float], scale: float = 1.0) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"median {mid * scale:.2f} (min {low * scale:.2f}, max {high * scale:.2f})"


def compare(kind: str, compiled: bool, rounds: int, steps: int) -> float:
    """Median over alternating rounds of hf s/step over ours, for one config."""
    shape, rows = CONFIGS[kind]
    torch.manual_seed(0)
    ours = ModelConfig(shape).build().train()
    hf = to_hf(ours).train()
    batch = _batch(shape, rows)
    ours_fn = torch.compile(ours) if compiled else ours
    ours_step, hf_step = _trainer(ours_fn, _our_step, batch), _trainer(hf, _hf_step, batch)
    warm = time.perf_counter()
    for _ in range(3):  # warm-up (and compilation)
        ours_step()
        hf_step()
    print(f"{kind}{' compiled' if compiled else ''}: warm-up {time.perf_counter() - warm:.1f} s")
    ours_t, hf_t = [], []
    for i in range(rounds):
        if i % 2:
            hf_t.append(_timed(hf_step, steps))
            ours_t.append(_timed(ours_step, steps))
        else:
            ours_t.append(_timed(ours_step, steps))
            hf_t.append(_timed(hf_step, steps))
    ratios = [h / o for o, h in zip(ours_t, hf_t)]
    tokens = rows * shape.seq_len
    print(f"  {rounds} rounds of {steps} steps; ms/step: ours {_spread(ours_t, 1e3)}, hf {_spread(hf_t, 1e3)}")
    print(f"  ours {tokens / statistics.median(ours_t):,.0f} tok/s, hf {tokens / statistics.median(hf_t):,.0f} tok/s; "
          f"hf/ours per round {_spread(ratios)}")
    return statistics.median(ratios)


def _rss_child(steps: int) -> None:
    shape, rows = CONFIGS["moe"]
    torch.manual_seed(0)
    model = ModelConfig(shape).build().train()
    step = _trainer(model, _our_step, _batch(shape, rows))
    for _ in range(steps):
        step()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15, help="alternating timed rounds")
    parser.add_argument("--steps", type=int, default=1, help="steps per timed round")
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled figures")
    parser.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        _rss_child(5)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fp32, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other processes slow both sides)")
    for kind, name in (("dense", "dense_vs_hf_llama"), ("moe", "moe_vs_hf_mixtral")):
        print(f"figure {name} {compare(kind, False, args.rounds, args.steps):.2f} x")
    if not args.no_compile:
        for kind, name in (("dense", "dense_compiled_vs_hf_llama"), ("moe", "moe_compiled_vs_hf_mixtral")):
            print(f"figure {name} {compare(kind, True, args.rounds, args.steps):.2f} x")
    child = subprocess.run([sys.executable, __file__, "--rss-child"], capture_output=True, text=True, check=True)
    print(f"figure train_peak_rss_mb {float(child.stdout.split()[-1]):.0f} MB")


if __name__ == "__main__":
    main()
