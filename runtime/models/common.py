"""Blocks shared by the dense, MoE and MoLE models, and the model config that builds them.

RMSNorm, rotary embeddings (as complex products over adjacent pairs), causal SDPA attention with optional grouped-query
heads, the SwiGLU feed-forward, and the decoder stack. The feed-forward of each
block is the only part that differs between model kinds; `dense.py`, `moe.py`
and `mole.py` supply it. Nothing here knows about data, training or export.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mixc.shape import ModelShape


@dataclass(frozen=True)
class RouterConfig:
    """MoE/MoLE routing losses: Switch load balancing (Fedus et al. 2021) and
    router z-loss (Zoph et al. 2022, ST-MoE). `grouped_mm` False forces the
    per-expert loop instead of `torch._grouped_mm`."""

    load_balance_coef: float = 0.01
    z_loss_coef: float = 0.001
    grouped_mm: bool = True


@dataclass(frozen=True)
class ModelConfig:
    """A model: its shape plus the numerics that do not change parameter counts."""

    shape: ModelShape
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    init_std: float = 0.02
    router: RouterConfig = field(default_factory=RouterConfig)

    def build(self) -> "Transformer":
        """Validate the shape and construct the torch module for its kind."""
        shape = self.shape.resolved()
        config = ModelConfig(shape, self.rope_theta, self.norm_eps, self.init_std, self.router)
        if shape.kind == "dense":
            from mixc.runtime.models.dense import DenseTransformer as cls
        elif shape.kind == "moe":
            from mixc.runtime.models.moe import MoETransformer as cls
        else:
            from mixc.runtime.models.mole import MoLETransformer as cls
        return cls(config)


class Output(NamedTuple):
    logits: torch.Tensor | None  # only when no targets are given: training never forms all logits
    loss: torch.Tensor | None  # cross-entropy + auxiliary losses: what training minimises
    ce: torch.Tensor | None  # cross-entropy alone: what is reported
    aux: torch.Tensor  # routing losses (zero for dense models)


# Logits per chunk of `linear_cross_entropy` (16 MiB of fp32 on CPU). Smaller, cache-sized
# chunks were faster on an idle CPU but far slower on a loaded one: every chunk costs a
# handful of multi-threaded ops, each a chance to wait for a descheduled thread.
CHUNK_ELEMENTS_CPU = 1 << 22
CHUNK_ELEMENTS_ACCELERATOR = 1 << 26


class LinearCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of softmax(h W^T) against targets, never holding all logits.

    Rows are processed in chunks small enough to stay in cache; each chunk's
    gradient (softmax minus one-hot) is formed while its logits are at hand, so the
    backward pass is two stored tensors times a scalar. The same idea as the fused
    linear-cross-entropy of Liger-Kernel (Hsu et al. 2024) and Cut Cross-Entropy
    (Wijmans et al. 2024), here in plain torch; on CPU it removes most of the time
    the separate log-softmax, its backward and the one-hot scatter cost.
    """

    @staticmethod
    def forward(ctx, h, weight, targets, chunk_rows: int):
        want_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        n = h.shape[0]
        acc = torch.promote_types(h.dtype, torch.float32)  # softmax in at least fp32
        total = torch.zeros((), dtype=acc, device=h.device)
        grad_h = torch.empty_like(h) if want_grad else None
        grad_w = torch.zeros_like(weight, dtype=acc) if want_grad else None
        w = weight.to(h.dtype)
        for start in range(0, n, chunk_rows):
            rows, tgt = h[start : start + chunk_rows], targets[start : start + chunk_rows].unsqueeze(1)
            logp = (rows @ w.T).to(acc).log_softmax(dim=-1)
            total -= logp.gather(1, tgt).sum()
            if want_grad:
                # d(sum of -log p_target)/d logits = softmax - one-hot; the 1/n comes at the end.
                probs = logp.exp_().scatter_add_(1, tgt, logp.new_full(tgt.shape, -1.0)).to(h.dtype)
                torch.mm(probs, w, out=grad_h[start : start + chunk_rows])
                grad_w.addmm_(probs.T.to(acc), rows.to(acc))
        if want_grad:
            ctx.save_for_backward(grad_h.div_(n), grad_w.div_(n).to(weight.dtype))
        return total / n

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w = ctx.saved_tensors
        return grad_h * grad_out.to(grad_h.dtype), grad_w * grad_out.to(grad_w.dtype), None, None


def linear_cross_entropy(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the logits h @ weight.T [N, V] at targets [N]."""
    budget = CHUNK_ELEMENTS_CPU if h.device.type == "cpu" else CHUNK_ELEMENTS_ACCELERATOR
    chunk_rows = max(16, budget // weight.shape[0])
    return LinearCrossEntropy.apply(h, weight, targets, chunk_rows)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


def rope_table(head_dim: int, seq_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin [seq_len, 1, head_dim/2] of the rotary angles t f_j (Su et al. 2021),
    with the usual frequencies f_j = theta^(-2j/head_dim)."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq).unsqueeze(1)
    return angles.cos(), angles.sin()


Rope = torch.Tensor | tuple[torch.Tensor, torch.Tensor]  # complex e^{i angle}, or (cos, sin)


def apply_rope(x: torch.Tensor, rope: Rope) -> torch.Tensor:
    """x [B, T, heads, head_dim]: rotate each adjacent pair (2j, 2j+1) by its position's angle.

    Eager mode gets the angles as complex numbers: one complex multiply forward and one
    backward, several times cheaper than slicing and concatenating halves. Under
    torch.compile it gets (cos, sin) instead, because inductor fuses real arithmetic but
    not complex. Hugging Face's Llama rotates pairs (j, j + head_dim/2); `runtime.export`
    permutes q/k rows to match it."""
    pairs = x.float().reshape(*x.shape[:-1], -1, 2)
    if isinstance(rope, tuple):
        cos, sin = rope
        a, b = pairs.unbind(-1)
        rotated = torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1)
    else:
        rotated = torch.view_as_real(torch.view_as_complex(pairs) * rope)
    return rotated.flatten(-2).type_as(x)


class Attention(nn.Module):
    """Causal self-attention; q, k and v come from one fused projection (one matmul)."""

    def __init__(self, shape: ModelShape):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = shape.heads, shape.kv_heads, shape.head_dim
        self.qkv = nn.Linear(shape.d_model, (self.heads + 2 * self.kv_heads) * self.head_dim, bias=False)
        self.out = nn.Linear(self.heads * self.head_dim, shape.d_model, bias=False)

    def forward(self, x: torch.Tensor, rope: Rope) -> torch.Tensor:
        B, T, _ = x.shape
        H, G = self.heads, self.kv_heads
        qkv = self.qkv(x).view(B, T, H + 2 * G, self.head_dim)
        qk = apply_rope(qkv[:, :, : H + G], rope)  # q and k rotated in one op
        q, k, v = qk[:, :, :H], qk[:, :, H:], qkv[:, :, H + G :]
        y = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True, enable_gqa=G != H
        )
        return self.out(y.transpose(1, 2).reshape(B, T, -1))


class SwiGLU(nn.Module):
    """down(silu(gate x) * up x); gate and up are one fused [2f, d] matrix (gate rows first)."""

    def __init__(self, d_model: int, hidden: int):
        super().__init__()
        self.gate_up = nn.Linear(d_model, 2 * hidden, bias=False)
        self.down = nn.Linear(hidden, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class Block(nn.Module):
    """Attention then feed-forward, each pre-normed and residual. The feed-forward maps
    x [B, T, d] to (y [B, T, d], auxiliary loss scalar)."""

    def __init__(self, config: ModelConfig, ffn: nn.Module):
        super().__init__()
        shape = config.shape
        self.attn_norm = RMSNorm(shape.d_model, config.norm_eps)
        self.attn = Attention(shape)
        self.ffn_norm = RMSNorm(shape.d_model, config.norm_eps)
        self.ffn = ffn

    def forward(self, x, rope):
        x = x + self.attn(self.attn_norm(x), rope)
        y, aux = self.ffn(self.ffn_norm(x))
        return x + y, aux


class Transformer(nn.Module):
    """Pre-norm decoder stack; subclasses say which feed-forward each block has."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        shape = config.shape
        self.embed = nn.Embedding(shape.vocab, shape.d_model)
        self.blocks = nn.ModuleList(Block(config, self.make_ffn(config)) for _ in range(shape.layers))
        self.norm = RMSNorm(shape.d_model, config.norm_eps)
        self.head = nn.Linear(shape.d_model, shape.vocab, bias=False)
        if shape.tie_embeddings:
            self.head.weight = self.embed.weight
        cos, sin = rope_table(shape.head_dim, shape.seq_len, config.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters()

    def make_ffn(self, config: ModelConfig) -> nn.Module:
        raise NotImplementedError

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Normal(0, std) almost everywhere, residual-output projections scaled by 1/sqrt(2 layers)
        (GPT-2) so the residual stream's variance does not grow with depth; norms at one."""
        std = self.config.init_std
        out_std = std / math.sqrt(2 * self.config.shape.layers)
        for name, p in self.named_parameters():
            if p.dim() == 1:
                p.fill_(1.0)
            elif name.endswith(".basis"):
                # MoLE's shared basis: orthonormal rows, so W_i = A_i B starts distributed like A_i.
                nn.init.orthogonal_(p)
            elif name.endswith(("out.weight", "down.weight", ".down")):
                p.normal_(0.0, out_std)
            else:
                p.normal_(0.0, std)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> Output:
        T = idx.shape[1]
        if T > self.config.shape.seq_len:
            raise ValueError(f"sequence of {T} tokens exceeds the model's seq_len {self.config.shape.seq_len}")
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        rope = (cos, sin) if torch.compiler.is_compiling() else torch.complex(cos, sin)
        x = self.embed(idx)
        aux = x.new_zeros((), dtype=torch.float32)
        for block in self.blocks:
            x, block_aux = block(x, rope)
            aux = aux + block_aux
        x = self.norm(x)
        if targets is None:
            return Output(self.head(x), None, None, aux)
        ce = linear_cross_entropy(x.flatten(0, 1), self.head.weight, targets.flatten())
        return Output(None, ce + aux, ce, aux)
