"""Model FLOPs utilisation of training on one CUDA GPU, bf16 autocast, torch.compile.

Figures:
  mfu_dense_60m   dense, 10 layers, d_model 768, 12 heads, SwiGLU width 1536
                  (59M non-embedding parameters), vocab 32768 tied, seq_len 1024
  mfu_moe         MoE with the same attention and about the same active size:
                  8 experts of width 768, top-2 (190M parameters in all, 84M active
                  with the 25M embedding)

MFU = (training FLOPs per token from mixc.shape.size: 6N + attention + logits)
x tokens per second / the GPU's dense bf16 peak (Chowdhery et al. 2022). The peak
is looked up from the device name (H100/H200: 989 TFLOP/s, A100: 312) or given
with --peak-tflops. Without a CUDA device the script says so and measures nothing.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from mixc.runtime.models import ModelConfig
from mixc.shape import ModelShape, size

SHAPES = {
    "mfu_dense_60m": ModelShape("dense", 10, 768, 12, 32768, 1024, ffn_hidden=1536, tie_embeddings=True),
    "mfu_moe": ModelShape("moe", 10, 768, 12, 32768, 1024, ffn_hidden=768, experts=8, top_k=2,
                          tie_embeddings=True),
}
PEAKS = {"H100": 989.0, "H200": 989.0, "GH200": 989.0, "A100": 312.0}


def measure(shape: ModelShape, batch: int, steps: int, peak: float) -> float:
    torch.manual_seed(0)
    model = ModelConfig(shape).build().cuda()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    net = torch.compile(model)
    data = torch.randint(0, shape.vocab, (batch, shape.seq_len + 1), device="cuda")

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = net(data[:, :-1], data[:, 1:]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    start = time.perf_counter()
    for _ in range(5):
        step()
    torch.cuda.synchronize()
    print(f"  warm-up and compile {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    tokens_per_s = steps * batch * shape.seq_len / (time.perf_counter() - start)
    s = size(shape)
    print(f"  {s.total_params / 1e6:.1f}M parameters ({s.active_params / 1e6:.1f}M active), "
          f"{s.flops_per_token / 1e6:.0f} MFLOP/token, {tokens_per_s:,.0f} tokens/s")
    return 100 * s.flops_per_token * tokens_per_s / (peak * 1e12)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32, help="sequences per step")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: the MFU figures need a GPU; nothing was measured")
        return 0
    name = torch.cuda.get_device_name()
    peak = args.peak_tflops or next((v for k, v in PEAKS.items() if k in name), None)
    if peak is None:
        print(f"unknown peak for {name}: pass --peak-tflops", file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = True
    print(f"{name}, peak {peak:.0f} TFLOP/s bf16, torch {torch.__version__}")
    for figure, shape in SHAPES.items():
        print(f"{figure}:")
        print(f"figure {figure} {measure(shape, args.batch, args.steps, peak):.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
