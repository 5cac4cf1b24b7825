"""The training loss: cross-entropy of the output layer's logits, without ever forming all of them.

With small models and a few-thousand-token vocabulary the output layer is most
of the work, so this is where most of the eager speed comes from
(`benchmarks/train_speed.py`). Nothing here knows about model kinds.
"""

from __future__ import annotations

import torch

# Logits per chunk of `linear_cross_entropy` (16 MiB of fp32 on CPU). Smaller, cache-sized
# chunks were faster on an idle CPU but far slower on a loaded one: every chunk costs a
# handful of multi-threaded ops, each a chance to wait for a descheduled thread.
CHUNK_ELEMENTS_CPU = 1 << 22
CHUNK_ELEMENTS_ACCELERATOR = 1 << 26


class LinearCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of softmax(h W^T) against targets, never holding all logits.

    Rows are processed in chunks small enough to stay in cache; each chunk's
    gradient (softmax minus one-hot) is formed while its logits are at hand, so the
    backward pass is two stored tensors times a scalar. The same idea as the fused
    linear-cross-entropy of Liger-Kernel (Hsu et al. 2024) and Cut Cross-Entropy
    (Wijmans et al. 2024), here in plain torch; on CPU it removes most of the time
    the separate log-softmax, its backward and the one-hot scatter cost.

    Under autocast (bf16 on CUDA) all three GEMMs (logits, and the gradients of h and W) run
    in the autocast dtype, accumulating W's gradient in fp32: autocast does not reach the
    `out=` and in-place matmuls a chunked loop needs, and in fp32 those two gradient GEMMs
    alone were about a fifth of a small model's FLOPs at a fraction of the bf16 rate.
    """

    @staticmethod
    def forward(ctx, h, weight, targets, chunk_rows: int):
        want_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        loss, grad_h, grad_w = chunked(h, weight, targets, chunk_rows, want_grad)
        if want_grad:
            ctx.save_for_backward(grad_h, grad_w)
        return loss

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w = ctx.saved_tensors
        return grad_h * grad_out.to(grad_h.dtype), grad_w * grad_out.to(grad_w.dtype), None, None


def gemm_dtype(h: torch.Tensor) -> torch.dtype:
    """The dtype the loss's matmuls run in: autocast's where it is on for h's device, else h's."""
    device = h.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else h.dtype


def chunked(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk_rows: int,
            want_grad: bool) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(mean loss, d loss / d h, d loss / d W), the gradients None unless `want_grad`."""
    n = h.shape[0]
    acc = torch.promote_types(h.dtype, torch.float32)  # softmax and the sums in at least fp32
    low = gemm_dtype(h)
    total = torch.zeros((), dtype=acc, device=h.device)
    grad_h = torch.empty_like(h) if want_grad else None
    grad_w = torch.zeros_like(weight, dtype=acc) if want_grad else None
    w = weight.to(low)
    for start in range(0, n, chunk_rows):
        rows, tgt = h[start : start + chunk_rows].to(low), targets[start : start + chunk_rows].unsqueeze(1)
        logp = torch.mm(rows, w.T).to(acc).log_softmax(dim=-1)
        total -= logp.gather(1, tgt).sum()
        if want_grad:
            # d(sum of -log p_target)/d logits = softmax - one-hot; the 1/n comes at the end.
            probs = logp.exp_().scatter_add_(1, tgt, logp.new_full(tgt.shape, -1.0)).to(low)
            if low == h.dtype == acc:  # full precision (CPU): straight into the outputs
                torch.mm(probs, w, out=grad_h[start : start + chunk_rows])
                grad_w.addmm_(probs.T, rows)
            else:
                grad_h[start : start + chunk_rows] = torch.mm(probs, w)
                grad_w += torch.mm(probs.T, rows).to(acc)
    if not want_grad:
        return total / n, None, None
    return total / n, grad_h.div_(n), grad_w.div_(n).to(weight.dtype)


def linear_cross_entropy(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the logits h @ weight.T [N, V] at targets [N]. Without gradients
    (evaluation, `torch.no_grad`) no gradient is formed: a custom autograd function's
    `needs_input_grad` looks at its inputs, not at the grad mode."""
    budget = CHUNK_ELEMENTS_CPU if h.device.type == "cpu" else CHUNK_ELEMENTS_ACCELERATOR
    chunk_rows = max(16, budget // weight.shape[0])
    if not torch.is_grad_enabled():
        return chunked(h, weight, targets, chunk_rows, want_grad=False)[0]
    return LinearCrossEntropy.apply(h, weight, targets, chunk_rows)
