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
    """

    @staticmethod
    def forward(ctx, h, weight, targets, chunk_rows: int):
        want_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        n = h.shape[0]
        acc = torch.promote_types(h.dtype, torch.float32)  # softmax in at least fp32
        total = torch.zeros((), dtype=acc, device=h.device)
        grad_h = torch.empty_like(h) if want_grad else None
        grad_w = torch.zeros_like(weight, dtype=acc) if want_grad else None
        w = weight.to(h.dtype)
        for start in range(0, n, chunk_rows):
            rows, tgt = h[start : start + chunk_rows], targets[start : start + chunk_rows].unsqueeze(1)
            logp = (rows @ w.T).to(acc).log_softmax(dim=-1)
            total -= logp.gather(1, tgt).sum()
            if want_grad:
                # d(sum of -log p_target)/d logits = softmax - one-hot; the 1/n comes at the end.
                probs = logp.exp_().scatter_add_(1, tgt, logp.new_full(tgt.shape, -1.0)).to(h.dtype)
                torch.mm(probs, w, out=grad_h[start : start + chunk_rows])
                grad_w.addmm_(probs.T.to(acc), rows.to(acc))
        if want_grad:
            ctx.save_for_backward(grad_h.div_(n), grad_w.div_(n).to(weight.dtype))
        return total / n

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w = ctx.saved_tensors
        return grad_h * grad_out.to(grad_h.dtype), grad_w * grad_out.to(grad_w.dtype), None, None


def linear_cross_entropy(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the logits h @ weight.T [N, V] at targets [N]."""
    budget = CHUNK_ELEMENTS_CPU if h.device.type == "cpu" else CHUNK_ELEMENTS_ACCELERATOR
    chunk_rows = max(16, budget // weight.shape[0])
    return LinearCrossEntropy.apply(h, weight, targets, chunk_rows)
