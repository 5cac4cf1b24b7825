"""The mixture-of-experts kind: top-k routed SwiGLU experts, dropless, optionally a shared expert.

Experts are stored like Mixtral's fused tensors, gate_up [E, 2f, d] (gate rows
first) and down [E, d, f], so `runtime/export.py` writes a MixtralForCausalLM by
renaming. Routing and the expert matmul are in `experts.py`, shared with MoLE.
"""

from __future__ import annotations

import torch
from torch import nn

from mixc.runtime.models.experts import Router, dispatch, expert_swiglu
from mixc.runtime.models.layers import Init, SwiGLU
from mixc.runtime.models.transformer import ModelConfig


class MoEFeedForward(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        s = config.shape
        self.grouped = config.router.grouped_mm
        self.router = Router(s.d_model, s.experts, s.top_k, config.router)
        self.gate_up = nn.Parameter(torch.empty(s.experts, 2 * s.ffn_hidden, s.d_model))
        self.down = nn.Parameter(torch.empty(s.experts, s.d_model, s.ffn_hidden))
        self.shared = SwiGLU(s.d_model, s.ffn_hidden) if s.shared_expert else None

    def reset_parameters(self, init: Init) -> None:
        # Parameter order (own tensors, then router, then shared expert): the order of the draws.
        nn.init.normal_(self.gate_up, 0.0, init.std)
        nn.init.normal_(self.down, 0.0, init.out)
        self.router.reset_parameters(init)
        if self.shared is not None:
            self.shared.reset_parameters(init)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = x.reshape(-1, x.shape[-1])  # [N, d]
        routing = self.router(flat)
        out = expert_swiglu(dispatch(flat, routing), self.gate_up, self.down, routing, self.grouped)
        if self.shared is not None:
            out = out + self.shared(flat)
        return out.view(x.shape), routing.aux
