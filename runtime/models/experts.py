"""What the MoE and MoLE feed-forwards share: the router, the token layout and the expert matmul.

Routing follows Mixtral (softmax over all experts in fp32, keep the top k,
renormalise their weights), so a trained MoE exports to MixtralForCausalLM
unchanged. Each token's k slots become rows grouped by expert. On CPU in eager
mode every group is padded to the largest, and one `torch.bmm` multiplies all
experts; padding rows have routing weight 0, so the result is exact. Otherwise
groups are contiguous and every expert multiplies its slice: `torch._grouped_mm`
does all experts in one call; where it is missing (or rows are not 16-byte
aligned) a per-expert loop writes each slice in place. Tokens reach their rows
and rows their tokens by gathers, forward and backward (no scatter-add). No
token is dropped and no capacity factor is needed. Auxiliary losses: Switch load
balancing (Fedus et al. 2021, eq. 4) and the router z-loss (Zoph et al. 2022,
eq. 5). Nothing here owns expert weights: each kind's feed-forward does."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mixc.runtime.models.layers import Init
from mixc.runtime.models.transformer import RouterConfig

HAS_GROUPED_MM = hasattr(torch, "_grouped_mm")
# Rows after padding over rows before, up to which padded groups in one batched matmul
# beat a matmul per expert on CPU: on two busy cores, gate_up of 8192 rows over 8 experts
# went 2.2x faster at 1.1x padding, 1.3x at 1.5x, and 0.9x (slower) at 2x.
PAD_LIMIT = 1.5


class Routing(NamedTuple):
    """Each token's k slots (token * k + choice) as rows of the expert-major matrix [R, .]
    the experts multiply: each expert's rows form one group, in token order. Groups are
    contiguous (R = N k), or each is padded to `capacity` rows (R = E capacity) so that
    one batched matmul takes them all; padding rows have weight 0 and no slot."""

    weights: torch.Tensor  # [R] routing weight of each row (renormalised over the token's k)
    counts: torch.Tensor  # [E] slots per expert
    source: torch.Tensor  # [R] token of each row (some token, on padding rows)
    row_of: torch.Tensor  # [N, k] row of each token's choices
    capacity: int | None  # rows of each padded group; None when groups are contiguous
    aux: torch.Tensor  # weighted load-balance + z loss (scalar, fp32)


class Router(nn.Module):
    def __init__(self, d_model: int, experts: int, top_k: int, config: RouterConfig):
        super().__init__()
        self.experts, self.top_k, self.config = experts, top_k, config
        self.weight = nn.Parameter(torch.empty(experts, d_model))

    def reset_parameters(self, init: Init) -> None:
        nn.init.normal_(self.weight, 0.0, init.std)

    def forward(self, x: torch.Tensor) -> Routing:
        """x [N, d] -> each token's k experts and weights, as rows grouped by expert."""
        logits = F.linear(x, self.weight).float()
        probs = logits.softmax(dim=-1)
        top_w, top_i = probs.topk(self.top_k, dim=-1)
        flat = top_i.flatten()  # [N k] expert of each slot
        # scatter_add rather than bincount: a fixed output shape keeps torch.compile happy.
        counts = torch.zeros(self.experts, dtype=torch.int64, device=x.device).scatter_add_(
            0, flat, torch.ones_like(flat)
        )
        load_balance = self.experts * (counts.float() / flat.numel() * probs.mean(dim=0)).sum()
        # logsumexp(logits) = logit - log(prob) of any expert; the top one's is at hand, which
        # spares the [N, E] passes of a logsumexp and its backward.
        lse = logits.gather(1, top_i[:, :1]).squeeze(1) - top_w[:, 0].log()
        aux = self.config.load_balance_coef * load_balance + self.config.z_loss_coef * lse.square().mean()
        weights = (top_w / top_w.sum(dim=-1, keepdim=True)).flatten()  # [N k]
        order = flat.argsort(stable=True)  # slot of each expert-sorted row
        sorted_row = torch.arange(flat.numel(), device=x.device)
        capacity = self._capacity(counts, x)
        if capacity is None:
            row_of = torch.empty_like(order).scatter_(0, order, sorted_row)
            return Routing(weights[order], counts, order // self.top_k, row_of.view(-1, self.top_k), None, aux)
        expert = flat[order]
        padded_row = expert * capacity + sorted_row - (counts.cumsum(0) - counts)[expert]  # [N k]
        row_of = torch.empty_like(order).scatter_(0, order, padded_row)
        # Padding rows point at slot 0 and get weight 0: no gradient reaches it from them.
        slot_of = order.new_zeros(self.experts * capacity).scatter_(0, padded_row, order)
        is_row = torch.zeros_like(slot_of, dtype=torch.bool).index_fill_(0, padded_row, True)
        return Routing(weights[slot_of] * is_row, counts, slot_of // self.top_k, row_of.view(-1, self.top_k),
                       capacity, aux)

    def _capacity(self, counts: torch.Tensor, x: torch.Tensor) -> int | None:
        """Rows per group if every group is padded to the largest: where one batched matmul
        pays (CPU, eager, padding at most PAD_LIMIT times the rows), else None."""
        if not self.config.grouped_mm or x.device.type != "cpu" or torch.compiler.is_compiling():
            return None
        largest = int(counts.max())  # a host read: free on CPU
        return largest if self.experts * largest <= PAD_LIMIT * x.shape[0] * self.top_k else None


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
        # grad.T stays a column-major view: for this 2d x 2d call (groups along the contracted
        # dimension) CUDA's kernel takes any group size, empty groups included, only with a
        # column-major first and a row-major second operand; a contiguous grad.T would need
        # every group non-empty and a multiple of 16 bytes. Checked on CPU: the strides passed
        # (tests/models/test_experts.py); the CUDA kernel itself has not run here.
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


def _gather_sum(rows: torch.Tensor, row_of: torch.Tensor) -> torch.Tensor:
    """Rows [R, d], row_of [N, k] -> each token's k rows summed [N, d]. Adds of k slices:
    on CPU several times faster than a reduction over the middle dimension."""
    slots = rows.index_select(0, row_of.flatten()).view(*row_of.shape, rows.shape[-1])
    out = slots[:, 0]
    for choice in range(1, slots.shape[1]):
        out = out + slots[:, choice]
    return out


class _Dispatch(torch.autograd.Function):
    """Tokens [N, d] -> their rows [R, d]. The backward gathers each token's k rows and
    adds them: gathers only, no scatter-add (serial on CPU, atomic on GPU)."""

    @staticmethod
    def forward(ctx, flat: torch.Tensor, source: torch.Tensor, row_of: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(row_of)
        return flat.index_select(0, source)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (row_of,) = ctx.saved_tensors
        return _gather_sum(grad, row_of), None, None


class _Combine(torch.autograd.Function):
    """Rows [R, d] and their weights [R] -> each token's weighted sum of its k rows [N, d]:
    the transpose of dispatch, and its backward is a dispatch. Padding rows have weight 0,
    so their gradient is 0 and adds nothing to the experts' weight gradients."""

    @staticmethod
    def forward(ctx, y: torch.Tensor, weights: torch.Tensor, source: torch.Tensor, row_of: torch.Tensor):
        ctx.save_for_backward(y, weights, source)
        return _gather_sum(y * weights.unsqueeze(-1), row_of)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        y, weights, source = ctx.saved_tensors
        grad_rows = grad.index_select(0, source)  # [R, d]
        grad_weights = torch.bmm(grad_rows.unsqueeze(1), y.unsqueeze(-1)).view(-1)  # row-wise dot products
        return grad_rows * weights.unsqueeze(-1), grad_weights, None, None


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
    """Tokens [N, d] -> the expert-major rows [R, d] the experts multiply."""
    return _Dispatch.apply(flat, routing.source, routing.row_of)


def _experts_matmul(x: torch.Tensor, weight: torch.Tensor, routing: Routing, grouped: bool) -> torch.Tensor:
    """Rows [R, in], weight [E, out, in] -> each group's rows times its expert's weight.T."""
    if routing.capacity is None:
        return expert_matmul(x, weight, routing.counts, grouped)
    # Padded groups: one bmm, which on CPU runs experts side by side, one thread each, where a
    # matmul per expert splits every small matmul over the threads and waits on each.
    E = weight.shape[0]
    return torch.bmm(x.view(E, routing.capacity, -1), weight.transpose(1, 2)).view(x.shape[0], -1)


def expert_swiglu(rows: torch.Tensor, gate_up: torch.Tensor, down: torch.Tensor, routing: Routing,
                  grouped: bool) -> torch.Tensor:
    """Expert-major rows [R, in] through their experts' SwiGLU (gate_up [E, 2f, in] with gate
    rows first, down [E, d, f]), weighted and summed back per token: [N, d]."""
    hidden = _SwiGLU.apply(_experts_matmul(rows, gate_up, routing, grouped))
    y = _experts_matmul(hidden, down, routing, grouped)
    return _Combine.apply(y, routing.weights.to(y.dtype), routing.source, routing.row_of)
