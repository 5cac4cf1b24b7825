"""The dense decoder: every block's feed-forward is one SwiGLU MLP. Nothing else lives here."""

from __future__ import annotations

import torch
from torch import nn

from mixc.runtime.models.common import ModelConfig, SwiGLU, Transformer


class DenseFeedForward(SwiGLU):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return super().forward(x), x.new_zeros((), dtype=torch.float32)


class DenseTransformer(Transformer):
    def make_ffn(self, config: ModelConfig) -> nn.Module:
        return DenseFeedForward(config.shape.d_model, config.shape.ffn_hidden)
