"""The dense kind: every block's feed-forward is one SwiGLU MLP. Nothing else lives here."""

from __future__ import annotations

import torch

from mixc.runtime.models.layers import SwiGLU
from mixc.runtime.models.transformer import ModelConfig


class DenseFeedForward(SwiGLU):
    """A SwiGLU of width `ffn_hidden`, with no auxiliary loss."""

    def __init__(self, config: ModelConfig):
        super().__init__(config.shape.d_model, config.shape.ffn_hidden)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return super().forward(x), x.new_zeros((), dtype=torch.float32)
