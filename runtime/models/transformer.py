"""The model config and the decoder every kind shares: config, block, model, top to bottom.

`ModelConfig(shape).build()` validates the shape and builds a `Transformer` whose
blocks hold the feed-forward the shape's kind registered (`registry.py`). The
kinds differ only in that feed-forward; this module imports none of them.
Nothing here knows about data, training or export.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import torch
from torch import nn

from mixc.runtime.models.registry import FeedForward, FeedForwardBuilder, feed_forward_for
from mixc.runtime.models.layers import Attention, Init, RMSNorm, Rope, rope_table
from mixc.runtime.models.loss import linear_cross_entropy
from mixc.shape import ModelShape


@dataclass(frozen=True)
class RouterConfig:
    """MoE/MoLE routing losses: Switch load balancing (Fedus et al. 2021) and
    router z-loss (Zoph et al. 2022, ST-MoE). `grouped_mm` False forces the
    per-expert loop instead of padded groups in one bmm (CPU, eager) or `torch._grouped_mm`
    (elsewhere)."""

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

    def build(self) -> Transformer:
        """Validate the shape and construct the model; the kind decides the feed-forward."""
        config = replace(self, shape=self.shape.resolved())
        return Transformer(config, feed_forward_for(config.shape.kind))


class Output(NamedTuple):
    logits: torch.Tensor | None  # only when no targets are given: training never forms all logits
    loss: torch.Tensor | None  # cross-entropy + auxiliary losses: what training minimises
    ce: torch.Tensor | None  # cross-entropy alone: what is reported
    aux: torch.Tensor  # routing losses (zero for dense models)


class Block(nn.Module):
    """Attention then feed-forward, each pre-normed and residual."""

    def __init__(self, config: ModelConfig, ffn: FeedForward):
        super().__init__()
        shape = config.shape
        self.attn_norm = RMSNorm(shape.d_model, config.norm_eps)
        self.attn = Attention(shape)
        self.ffn_norm = RMSNorm(shape.d_model, config.norm_eps)
        self.ffn = ffn

    def reset_parameters(self, init: Init) -> None:
        self.attn_norm.reset_parameters()
        self.attn.reset_parameters(init)
        self.ffn_norm.reset_parameters()
        self.ffn.reset_parameters(init)

    def forward(self, x: torch.Tensor, rope: Rope) -> tuple[torch.Tensor, torch.Tensor]:
        x = x + self.attn(self.attn_norm(x), rope)
        y, aux = self.ffn(self.ffn_norm(x))
        return x + y, aux


class Transformer(nn.Module):
    """Pre-norm decoder stack: embedding, blocks, final norm, output head (optionally tied)."""

    def __init__(self, config: ModelConfig, feed_forward: FeedForwardBuilder):
        super().__init__()
        self.config = config
        shape = config.shape
        self.embed = nn.Embedding(shape.vocab, shape.d_model)
        # Each block's feed-forward is built before its attention: the default initialisers of
        # nn.Linear draw from the generator, and this order fixes what every seed gives.
        self.blocks = nn.ModuleList(Block(config, feed_forward(config)) for _ in range(shape.layers))
        self.norm = RMSNorm(shape.d_model, config.norm_eps)
        self.head = nn.Linear(shape.d_model, shape.vocab, bias=False)
        if shape.tie_embeddings:
            self.head.weight = self.embed.weight
        cos, sin = rope_table(shape.head_dim, shape.seq_len, config.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Normal(0, std) almost everywhere, residual-output projections at std / sqrt(2 layers)
        (GPT-2), norms at one; every module initialises its own, in parameter order."""
        std = self.config.init_std
        init = Init(std, std / math.sqrt(2 * self.config.shape.layers))
        nn.init.normal_(self.embed.weight, 0.0, init.std)
        for block in self.blocks:
            block.reset_parameters(init)
        self.norm.reset_parameters()
        if not self.config.shape.tie_embeddings:
            nn.init.normal_(self.head.weight, 0.0, init.std)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> Output:
        """idx [B, T] -> logits [B, T, V]; with targets [B, T], the losses instead."""
        x, aux = self.hidden(idx)
        if targets is None:
            return Output(self.head(x), None, None, aux)
        ce = linear_cross_entropy(x.flatten(0, 1), self.head.weight, targets.flatten())
        return Output(None, ce + aux, ce, aux)

    def hidden(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """idx [B, T] -> (the final norm's output [B, T, d], the routers' auxiliary loss)."""
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
        return self.norm(x), aux
