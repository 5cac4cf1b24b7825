"""The mixture-of-experts decoder: top-k routed SwiGLU experts, dropless.

Routing follows Mixtral (softmax over all experts in fp32, keep the top k,
renormalise their weights), so a trained model exports to MixtralForCausalLM
unchanged. Tokens are sorted by expert and every expert runs one matmul over its
contiguous slice: `torch._grouped_mm` does all experts in one call, and a plain
per-expert loop is the fallback where it is missing. No token is dropped and no
capacity factor is needed. Auxiliary losses: Switch load balancing
(Fedus et al. 2021, eq. 4) and the router z-loss (Zoph et al. 2022, eq. 5).
The MoLE model (`mole.py`) reuses the router and the expert matmul from here.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from runtime.models.common import ModelConfig, RouterConfig, SwiGLU, Transformer

HAS_GROUPED_MM = hasattr(torch, "_grouped_mm")


class Routing(NamedTuple):
    token_of: torch.Tensor  # [N k] source token of each expert-sorted row
    weights: torch.Tensor  # [N k, 1] routing weight of each sorted row
    counts: torch.Tensor  # [E] rows per expert
    aux: torch.Tensor  # weighted load-balance + z loss (scalar, fp32)


class Router(nn.Module):
    def __init__(self, d_model: int, experts: int, top_k: int, config: RouterConfig):
        super().__init__()
        self.experts, self.top_k, self.config = experts, top_k, config
        self.weight = nn.Parameter(torch.empty(experts, d_model))

    def forward(self, x: torch.Tensor) -> Routing:
        """x [N, d] -> which expert each token-slot goes to, sorted by expert."""
        logits = F.linear(x, self.weight).float()
        probs = logits.softmax(dim=-1)
        top_w, top_i = probs.topk(self.top_k, dim=-1)
        top_w = top_w / top_w.sum(dim=-1, keepdim=True)
        flat = top_i.flatten()
        order = flat.argsort(stable=True)
        # scatter_add rather than bincount: a fixed output shape keeps torch.compile happy.
        counts = torch.zeros(self.experts, dtype=torch.int64, device=x.device).scatter_add_(
            0, flat, torch.ones_like(flat)
        )
        fraction = counts.float() / flat.numel()
        load_balance = self.experts * (fraction * probs.mean(dim=0)).sum()
        z_loss = logits.logsumexp(dim=-1).square().mean()
        aux = self.config.load_balance_coef * load_balance + self.config.z_loss_coef * z_loss
        return Routing(order // self.top_k, top_w.flatten()[order].unsqueeze(-1), counts, aux)


def expert_matmul(x: torch.Tensor, weight: torch.Tensor, counts: torch.Tensor, grouped: bool) -> torch.Tensor:
    """Rows of x sorted by expert, weight [E, out, in] -> x_e @ weight[e].T for each expert's rows."""
    if grouped and HAS_GROUPED_MM:
        offsets = counts.cumsum(0).to(torch.int32)
        return torch._grouped_mm(x, weight.transpose(1, 2), offs=offsets)
    pieces = x.split(counts.tolist())
    return torch.cat([piece @ weight[e].T for e, piece in enumerate(pieces)])


def combine(y: torch.Tensor, routing: Routing, tokens: int) -> torch.Tensor:
    """Weight each expert output row and sum the k rows of every token back into place."""
    out = y.new_zeros(tokens, y.shape[-1])
    return out.index_add_(0, routing.token_of, y * routing.weights.to(y.dtype))


class MoEFeedForward(nn.Module):
    """Experts stored like Mixtral's fused tensors: gate_up [E, 2f, d] (gate rows first), down [E, d, f]."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        s = config.shape
        self.grouped = config.router.grouped_mm
        self.router = Router(s.d_model, s.experts, s.top_k, config.router)
        self.gate_up = nn.Parameter(torch.empty(s.experts, 2 * s.ffn_hidden, s.d_model))
        self.down = nn.Parameter(torch.empty(s.experts, s.d_model, s.ffn_hidden))
        self.shared = SwiGLU(s.d_model, s.ffn_hidden) if s.shared_expert else None

    def experts_input(self, x: torch.Tensor, routing: Routing) -> tuple[torch.Tensor, torch.Tensor]:
        """The sorted rows the experts' gate/up weights multiply, and those weights."""
        return x[routing.token_of], self.gate_up

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        routing = self.router(x)
        rows, gate_up = self.experts_input(x, routing)
        gate, up = expert_matmul(rows, gate_up, routing.counts, self.grouped).chunk(2, dim=-1)
        y = expert_matmul(F.silu(gate) * up, self.down, routing.counts, self.grouped)
        out = combine(y, routing, x.shape[0])
        if self.shared is not None:
            out = out + self.shared(x)
        return out.view(shape), routing.aux


class MoETransformer(Transformer):
    def make_ffn(self, config: ModelConfig) -> nn.Module:
        return MoEFeedForward(config)
