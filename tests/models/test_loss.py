"""The chunked output-layer loss: equal to the plain cross-entropy of all logits, no gradient
work without grad mode, and its matmuls in the autocast dtype under autocast (here CPU bf16,
the path CUDA takes with bf16)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from mixc.runtime.models.loss import CHUNK_ELEMENTS_CPU, linear_cross_entropy


class MatmulDtypes(TorchDispatchMode):
    """Records the input dtypes of every matmul aten runs."""

    def __init__(self):
        super().__init__()
        self.seen: list[tuple[torch.dtype, ...]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket in (torch.ops.aten.mm, torch.ops.aten.addmm, torch.ops.aten.addmm_):
            self.seen.append(tuple(a.dtype for a in args if isinstance(a, torch.Tensor)))
        return func(*args, **(kwargs or {}))


def inputs(n: int = 300, d: int = 24, v: int = 50_000, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, d, generator=g).requires_grad_()
    w = (torch.randn(v, d, generator=g) * 0.1).requires_grad_()
    return h, w, torch.randint(0, v, (n,), generator=g)


def test_equals_the_plain_cross_entropy_with_its_gradients():
    h, w, t = inputs()  # 50k vocab: 83 rows a chunk, so several chunks
    loss = linear_cross_entropy(h, w, t)
    gh, gw = torch.autograd.grad(loss, (h, w))
    ref = F.cross_entropy(h @ w.T, t)
    rh, rw = torch.autograd.grad(ref, (h, w))
    torch.testing.assert_close(loss, ref, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(gh, rh, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(gw, rw, rtol=1e-5, atol=1e-8)


def test_no_gradient_work_without_grad_mode():
    h, w, t = inputs()
    with MatmulDtypes() as trained:
        with_grad = linear_cross_entropy(h, w, t)
    with torch.no_grad(), MatmulDtypes() as evaluated:
        without = linear_cross_entropy(h, w, t)
    chunks = -(-300 // max(16, CHUNK_ELEMENTS_CPU // 50_000))  # 4 chunks of 83 rows
    assert len(trained.seen) == 3 * chunks and len(evaluated.seen) == chunks  # logits only
    assert torch.equal(with_grad.detach(), without) and without.grad_fn is None


def test_under_autocast_every_matmul_runs_in_its_dtype():
    h, w, t = inputs()
    ref = linear_cross_entropy(h, w, t)
    rh, rw = torch.autograd.grad(ref, (h, w))
    with torch.autocast("cpu", dtype=torch.bfloat16), MatmulDtypes() as seen:
        loss = linear_cross_entropy(h, w, t)
    gh, gw = torch.autograd.grad(loss, (h, w))
    assert seen.seen and all(set(dtypes) == {torch.bfloat16} for dtypes in seen.seen), seen.seen
    assert loss.dtype == gh.dtype == gw.dtype == torch.float32  # fp32 softmax, sums and gradients
    assert not torch.equal(loss, ref)
    torch.testing.assert_close(loss, ref, rtol=1e-2, atol=0)
    torch.testing.assert_close(gh, rh, rtol=0.05, atol=2e-4)
    torch.testing.assert_close(gw, rw, rtol=0.05, atol=2e-5)
