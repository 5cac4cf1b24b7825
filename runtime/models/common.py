"""Blocks shared by the dense, MoE and MoLE models, and the model config that builds them.

RMSNorm, rotary embeddings (the half-split convention LLaMA uses, so exported
weights need no permutation), causal SDPA attention with optional grouped-query
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

from runtime.shape import ModelShape


@dataclass(frozen=True)
class RouterConfig:
    """MoE/MoLE routing losses: Switch load balancing (Fedus et al. 2021) and
    router z-loss (Zoph et al. 2022, ST-MoE); `grouped_mm` False forces the loop."""

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
            from runtime.models.dense import DenseTransformer as cls
        elif shape.kind == "moe":
            from runtime.models.moe import MoETransformer as cls
        else:
            from runtime.models.mole import MoLETransformer as cls
        return cls(config)


class Output(NamedTuple):
    logits: torch.Tensor
    loss: torch.Tensor | None  # cross-entropy + auxiliary losses: what training minimises
    ce: torch.Tensor | None  # cross-entropy alone: what is reported
    aux: torch.Tensor  # routing losses (zero for dense models)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


def rope_tables(head_dim: int, seq_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables [seq_len, head_dim] for the half-split rotary convention."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, heads, T, head_dim]: rotate pairs (i, i + head_dim/2) by position-dependent angles."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class Attention(nn.Module):
    """Causal self-attention; q, k and v come from one fused projection (one matmul)."""

    def __init__(self, shape: ModelShape):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = shape.heads, shape.kv_heads, shape.head_dim
        self.qkv = nn.Linear(shape.d_model, (self.heads + 2 * self.kv_heads) * self.head_dim, bias=False)
        self.out = nn.Linear(self.heads * self.head_dim, shape.d_model, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        qkv = self.qkv(x).view(B, T, self.heads + 2 * self.kv_heads, self.head_dim).transpose(1, 2)
        q, k, v = qkv.split([self.heads, self.kv_heads, self.kv_heads], dim=1)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=self.kv_heads != self.heads)
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

    def forward(self, x, cos, sin):
        x = x + self.attn(self.attn_norm(x), cos, sin)
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
        cos, sin = rope_tables(shape.head_dim, shape.seq_len, config.rope_theta)
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
        x = self.embed(idx)
        aux = x.new_zeros((), dtype=torch.float32)
        for block in self.blocks:
            x, block_aux = block(x, cos, sin)
            aux = aux + block_aux
        logits = self.head(self.norm(x))
        if targets is None:
            return Output(logits, None, None, aux)
        ce = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())
        return Output(logits, ce + aux, ce, aux)
