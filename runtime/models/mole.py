"""The Mixture of Latent Experts kind, and conversion of a trained MoE into one.

In an MoE layer every expert i owns full gate and up matrices [f, d]. MoLE
(after Liu et al. 2025, "Mixture of Latent Experts") factors them through one
latent basis B [r, d] shared by all experts of the layer: W_i = A_i B, with a
per-expert A_i [2f, r] holding the expert's gate and up rows. Each token is
projected into the latent space once (z = B x), and experts then work in r
dimensions; the down projections [d, f] stay per expert. The router, the expert
matmul and the optional shared expert are the same parts MoE uses (`experts.py`,
`layers.py`); MoLE composes them, it does not extend the MoE feed-forward.

Parameter count of one MoLE feed-forward (d = d_model, f = expert width,
E = experts, k = top_k, r = rank, plus 3 d f when there is a shared expert):

    total  = d E  +  r d  +  E (2 f r + f d)
    active = d E  +  r d  +  k (2 f r + f d)

against d E + 3 E d f for the MoE it replaces; `mixc.shape.size` uses this.

`moe_to_mole` stacks a layer's expert gate/up matrices into one [E 2f, d] matrix
and keeps its top-r singular directions (truncated SVD, best rank-r
approximation in Frobenius norm by Eckart-Young); the conversion is exact when
r is at least that matrix's rank (always so for r = d).
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from torch import nn

from mixc.runtime.models.experts import Router, dispatch, expert_swiglu
from mixc.runtime.models.layers import Init, SwiGLU
from mixc.runtime.models.transformer import ModelConfig, Transformer


class MoLEFeedForward(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        s = config.shape
        self.grouped = config.router.grouped_mm
        self.router = Router(s.d_model, s.experts, s.top_k, config.router)
        self.down = nn.Parameter(torch.empty(s.experts, s.d_model, s.ffn_hidden))
        self.basis = nn.Parameter(torch.empty(s.rank, s.d_model))
        self.latent_gate_up = nn.Parameter(torch.empty(s.experts, 2 * s.ffn_hidden, s.rank))
        self.shared = SwiGLU(s.d_model, s.ffn_hidden) if s.shared_expert else None

    def reset_parameters(self, init: Init) -> None:
        # Parameter order (own tensors, then router, then shared expert): the order of the draws.
        nn.init.normal_(self.down, 0.0, init.out)
        # Orthonormal basis rows B [r, d]: an entry of W_i = A_i B has variance var(A) r / d, so
        # A is drawn at std sqrt(d / r) for the experts to start at the scale of a dense
        # expert's weights (std), not sqrt(r / d) times smaller.
        nn.init.orthogonal_(self.basis)
        d, r = self.basis.shape[1], self.basis.shape[0]
        nn.init.normal_(self.latent_gate_up, 0.0, init.std * math.sqrt(d / r))
        self.router.reset_parameters(init)
        if self.shared is not None:
            self.shared.reset_parameters(init)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = x.reshape(-1, x.shape[-1])  # [N, d]
        routing = self.router(flat)
        # Project every token once, before it is copied k times for its experts: [N k, r].
        latent = dispatch(flat @ self.basis.T, routing)
        out = expert_swiglu(latent, self.latent_gate_up, self.down, routing, self.grouped)
        if self.shared is not None:
            out = out + self.shared(flat)
        return out.view(x.shape), routing.aux


def latent_factors(gate_up: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Expert matrices [E, 2f, d] -> (A [E, 2f, rank], B [rank, d]) minimising ||W - A B||_F."""
    E, rows, d = gate_up.shape
    U, S, Vh = torch.linalg.svd(gate_up.reshape(E * rows, d).double(), full_matrices=False)
    A = (U[:, :rank] * S[:rank]).reshape(E, rows, rank)
    return A.to(gate_up.dtype), Vh[:rank].to(gate_up.dtype)


@torch.no_grad()
def moe_to_mole(moe: Transformer, rank: int) -> Transformer:
    """A MoLE model whose experts are the rank-`rank` factorisation of `moe`'s; all other
    weights (attention, norms, routers, down projections, shared experts) are copied."""
    if moe.config.shape.kind != "moe":
        raise ValueError(f"moe_to_mole converts a moe model, not a {moe.config.shape.kind} one")
    config = replace(moe.config, shape=replace(moe.config.shape, kind="mole", rank=rank))
    mole = config.build()
    state = {k: v for k, v in moe.state_dict().items() if not k.endswith(".ffn.gate_up")}
    for i, block in enumerate(moe.blocks):
        A, B = latent_factors(block.ffn.gate_up, rank)
        state[f"blocks.{i}.ffn.basis"] = B
        state[f"blocks.{i}.ffn.latent_gate_up"] = A
    mole.load_state_dict(state, strict=True)
    return mole
