"""What the MoE and MoLE feed-forwards share: the router, token sorting and the expert matmul.

Routing follows Mixtral (softmax over all experts in fp32, keep the top k,
renormalise their weights), so a trained MoE exports to MixtralForCausalLM
unchanged. Tokens are sorted by expert and every expert runs one matmul over its
contiguous slice: `torch._grouped_mm` does all experts in one call; where it is
missing (or rows are not 16-byte aligned) a per-expert loop writes each slice in
place. No token is dropped and no capacity factor is needed. Auxiliary losses:
Switch load balancing (Fedus et al. 2021, eq. 4) and the router z-loss (Zoph et
al. 2022, eq. 5). Nothing here owns expert weights: each kind's feed-forward does.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mixc.runtime.models.layers import Init
from mixc.runtime.models.transformer import RouterConfig

HAS_GROUPED_MM = hasattr(torch, "_grouped_mm")


class Routing(NamedTuple):
    token_of: torch.Tensor  # [N k] source token of each expert-sorted row
    order: torch.Tensor  # [N k] slot (token * k + choice) of each expert-sorted row
    unsort: torch.Tensor  # [N k] expert-sorted row of each slot: order's inverse
    weights: torch.Tensor  # [N, k] routing weight of each token's choices (slot order)
    counts: torch.Tensor  # [E] rows per expert
    aux: torch.Tensor  # weighted load-balance + z loss (scalar, fp32)


class Router(nn.Module):
    def __init__(self, d_model: int, experts: int, top_k: int, config: RouterConfig):
        super().__init__()
        self.experts, self.top_k, self.config = experts, top_k, config
        self.weight = nn.Parameter(torch.empty(experts, d_model))

    def reset_parameters(self, init: Init) -> None:
        nn.init.normal_(self.weight, 0.0, init.std)

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
        unsort = torch.empty_like(order).scatter_(0, order, torch.arange(order.numel(), device=x.device))
        return Routing(order // self.top_k, order, unsort, top_w, counts, aux)


def _grouped(x: torch.Tensor, out_features: int, grouped: bool) -> bool:
    """Whether _grouped_mm can take this call: asked for, present, 16-byte aligned rows."""
    size = x.element_size()
    return grouped and HAS_GROUPED_MM and (x.shape[1] * size) % 16 == 0 and (out_features * size) % 16 == 0


def _loop_matmul(a: torch.Tensor, b: torch.Tensor, counts: torch.Tensor, transpose_b: bool) -> torch.Tensor:
    """Each expert's rows of a times b[e] (or b[e].T), written in place: no copies, no concatenation."""
    out = a.new_empty(a.shape[0], b.shape[1] if transpose_b else b.shape[2])
    start = 0
    for e, n in enumerate(counts.tolist()):
        torch.mm(a[start : start + n], b[e].T if transpose_b else b[e], out=out[start : start + n])
        start += n
    return out


@torch.library.custom_op("mixc::expert_matmul", mutates_args=())
def _expert_matmul(x: torch.Tensor, weight: torch.Tensor, counts: torch.Tensor, grouped: bool) -> torch.Tensor:
    if _grouped(x, weight.shape[1], grouped):
        return torch._grouped_mm(x, weight.transpose(1, 2), offs=counts.cumsum(0).to(torch.int32))
    return _loop_matmul(x, weight, counts, transpose_b=True)


@_expert_matmul.register_fake
def _(x, weight, counts, grouped):
    return x.new_empty(x.shape[0], weight.shape[1])


def _expert_matmul_setup(ctx, inputs, output):
    x, weight, counts, grouped = inputs
    ctx.save_for_backward(x, weight, counts)
    ctx.grouped = grouped


@torch.library.custom_op("mixc::expert_matmul_backward", mutates_args=())
def _expert_matmul_grads(
    grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, counts: torch.Tensor, grouped: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    grad = grad.contiguous()  # _grouped_mm's backward cannot take stride-0 gradients
    if _grouped(x, weight.shape[1], grouped):
        offsets = counts.cumsum(0).to(torch.int32)
        grad_w = torch._grouped_mm(grad.T, x, offs=offsets)  # [E, out, in]
        return torch._grouped_mm(grad, weight, offs=offsets), grad_w
    grad_w = torch.empty_like(weight)
    start = 0
    for e, n in enumerate(counts.tolist()):
        torch.mm(grad[start : start + n].T, x[start : start + n], out=grad_w[e])
        start += n
    return _loop_matmul(grad, weight, counts, transpose_b=False), grad_w


@_expert_matmul_grads.register_fake
def _(grad, x, weight, counts, grouped):
    return torch.empty_like(x), torch.empty_like(weight)


def _expert_matmul_backward(ctx, grad):
    x, weight, counts = ctx.saved_tensors
    grad_x, grad_w = _expert_matmul_grads(grad, x, weight, counts, ctx.grouped)
    return grad_x, grad_w, None, None


_expert_matmul.register_autograd(_expert_matmul_backward, setup_context=_expert_matmul_setup)


def expert_matmul(x: torch.Tensor, weight: torch.Tensor, counts: torch.Tensor, grouped: bool) -> torch.Tensor:
    """Rows of x sorted by expert, weight [E, out, in] -> x_e @ weight[e].T for each expert's rows.

    A custom op, so torch.compile treats it as one opaque call (its tracer cannot take
    fp32 `_grouped_mm` nor the loop's data-dependent split); under autocast both sides
    are cast to the autocast dtype, which the op itself would not do."""
    device = x.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype
    return _expert_matmul(x.to(dtype), weight.to(dtype), counts, grouped)


class _Dispatch(torch.autograd.Function):
    """Tokens [N, d] -> their k copies sorted by expert [N k, d]. The backward gathers
    each token's k rows back through the inverse permutation and sums them: gathers
    only, no scatter-add (serial on CPU, atomic on GPU)."""

    @staticmethod
    def forward(ctx, flat: torch.Tensor, token_of: torch.Tensor, unsort: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(unsort)
        ctx.tokens = flat.shape[0]
        return flat.index_select(0, token_of)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (unsort,) = ctx.saved_tensors
        return grad.index_select(0, unsort).view(ctx.tokens, -1, grad.shape[-1]).sum(1), None, None


class _Permute(torch.autograd.Function):
    """Rows x[index] for a permutation `index`; the backward is the gather by its inverse."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, index: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(inverse)
        return x.index_select(0, index)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (inverse,) = ctx.saved_tensors
        return grad.index_select(0, inverse), None, None


class _SwiGLU(torch.autograd.Function):
    """[M, 2f] gate-then-up rows -> silu(gate) * up [M, f]. Its backward writes the gate
    and up gradients into one [M, 2f] tensor, where autograd's would concatenate them."""

    @staticmethod
    def forward(ctx, gate_up: torch.Tensor) -> torch.Tensor:
        gate, up = gate_up.chunk(2, dim=-1)
        silu = F.silu(gate)
        ctx.save_for_backward(gate_up, silu)
        return silu * up

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        gate_up, silu = ctx.saved_tensors
        gate, up = gate_up.chunk(2, dim=-1)
        out = torch.empty_like(gate_up)
        f = gate.shape[-1]
        torch.ops.aten.silu_backward.grad_input(grad * up, gate, grad_input=out[:, :f])
        torch.mul(grad, silu, out=out[:, f:])
        return out


def dispatch(flat: torch.Tensor, routing: Routing) -> torch.Tensor:
    """Tokens [N, d] -> the expert-sorted rows [N k, d] the experts multiply."""
    return _Dispatch.apply(flat, routing.token_of, routing.unsort)


def expert_swiglu(rows: torch.Tensor, gate_up: torch.Tensor, down: torch.Tensor, routing: Routing,
                  grouped: bool) -> torch.Tensor:
    """Expert-sorted rows [N k, in] through their experts' SwiGLU (gate_up [E, 2f, in] with gate
    rows first, down [E, d, f]), weighted and summed back per token: [N, d]."""
    hidden = _SwiGLU.apply(expert_matmul(rows, gate_up, routing.counts, grouped))
    y = expert_matmul(hidden, down, routing.counts, grouped)
    slots = _Permute.apply(y, routing.unsort, routing.order).view(*routing.weights.shape, -1)  # [N, k, d]
    return (slots * routing.weights.unsqueeze(-1).to(y.dtype)).sum(1)
