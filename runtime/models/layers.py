"""The layers every model kind shares: RMSNorm, rotary embeddings, causal attention, SwiGLU.

Each layer initialises its own weights (`reset_parameters(init)`); the model calls
them in parameter order, which is also the order they draw from torch's generator,
so reordering the calls (or the attributes) changes the model every seed gives.
Nothing here knows about model kinds, data, training or export.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mixc.shape import ModelShape


@dataclass(frozen=True)
class Init:
    """Standard deviations of the initial weights: `std` for most matrices, `out` for the
    projections that write into the residual stream (GPT-2 scales those by 1/sqrt(2 layers)
    so the residual stream's variance does not grow with depth)."""

    std: float
    out: float


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)

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
    """Causal self-attention; q, k and v come from one fused projection (one matmul),
    with fewer k/v heads than q heads when the shape asks for grouped-query attention."""

    def __init__(self, shape: ModelShape):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = shape.heads, shape.kv_heads, shape.head_dim
        self.qkv = nn.Linear(shape.d_model, (self.heads + 2 * self.kv_heads) * self.head_dim, bias=False)
        self.out = nn.Linear(self.heads * self.head_dim, shape.d_model, bias=False)

    def reset_parameters(self, init: Init) -> None:
        nn.init.normal_(self.qkv.weight, 0.0, init.std)
        nn.init.normal_(self.out.weight, 0.0, init.out)

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

    def reset_parameters(self, init: Init) -> None:
        nn.init.normal_(self.gate_up.weight, 0.0, init.std)
        nn.init.normal_(self.down.weight, 0.0, init.out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)
