"""The expert feed-forwards against a plain per-expert reference, in every row layout:
padded groups in one bmm, contiguous groups in `_grouped_mm`, and the per-expert loop;
with balanced routing, an expert that gets no token, and routing too skewed to pad."""

import pytest
import torch
import torch.nn.functional as F

from mixc.runtime.models import ModelConfig, RouterConfig, experts
from mixc.shape import ModelShape

MOE = ModelShape("moe", 1, 32, 4, 64, 16, experts=4, top_k=2)
MOLE = ModelShape("mole", 1, 32, 4, 64, 16, experts=4, top_k=2, rank=8)
TOKENS = 64


def _feed_forward(shape, grouped):
    torch.manual_seed(0)
    return ModelConfig(shape, router=RouterConfig(grouped_mm=grouped)).build().blocks[0].ffn


def _inputs(ffn, routing):
    """Tokens [1, N, d], and router weights set so that routing is as named."""
    x = torch.randn(1, TOKENS, ffn.router.weight.shape[1], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        if routing == "empty expert":  # expert 3's logit is far below the others' for every token
            x += 3.0
            ffn.router.weight[3] = -0.5
        elif routing == "skewed":  # experts 0 and 1 take every token
            x += 3.0
            ffn.router.weight[:2] = 0.5
    return x.requires_grad_()


def _reference(ffn, x, config):
    """Each expert's tokens found by a mask and multiplied by its own matrices, plain autograd."""
    flat = x.reshape(-1, x.shape[-1])
    logits = flat @ ffn.router.weight.T
    probs = logits.softmax(dim=-1)
    top_w, top_i = probs.topk(ffn.router.top_k, dim=-1)
    top_w = top_w / top_w.sum(dim=-1, keepdim=True)
    inputs, gate_up = (flat, ffn.gate_up) if hasattr(ffn, "gate_up") else (flat @ ffn.basis.T, ffn.latent_gate_up)
    out = torch.zeros_like(flat)
    for e in range(gate_up.shape[0]):
        token, choice = (top_i == e).nonzero(as_tuple=True)
        gate, up = (inputs[token] @ gate_up[e].T).chunk(2, dim=-1)
        y = (F.silu(gate) * up) @ ffn.down[e].T
        out = out.index_add(0, token, y * top_w[token, choice].unsqueeze(-1))
    fraction = torch.stack([(top_i == e).sum() for e in range(gate_up.shape[0])]).float() / top_i.numel()
    load_balance = gate_up.shape[0] * (fraction * probs.mean(dim=0)).sum()
    z_loss = logits.logsumexp(dim=-1).square().mean()
    return out.view(x.shape), config.load_balance_coef * load_balance + config.z_loss_coef * z_loss


def _grads(ffn, x, forward):
    out, aux = forward()
    weights = torch.linspace(-1, 1, out.numel()).view(out.shape)  # a loss that weighs every output
    ((out * weights).sum() + aux).backward()
    grads = [x.grad.clone()] + [p.grad.clone() for p in ffn.parameters()]
    x.grad = None
    ffn.zero_grad()
    return out.detach(), aux.detach(), grads


@pytest.mark.parametrize("routing", ["balanced", "empty expert", "skewed"])
@pytest.mark.parametrize("layout", ["padded", "grouped", "loop"])
@pytest.mark.parametrize("shape", [MOE, MOLE], ids=lambda s: s.kind)
def test_expert_layouts_match_the_per_expert_reference(shape, layout, routing, monkeypatch):
    if layout == "grouped" and not experts.HAS_GROUPED_MM:
        pytest.skip("this torch has no _grouped_mm")
    # Pad whatever the padding costs, or never (contiguous groups in _grouped_mm).
    monkeypatch.setattr(experts, "PAD_LIMIT", float("inf") if layout == "padded" else 0.0)
    ffn = _feed_forward(shape, grouped=layout != "loop")
    x = _inputs(ffn, routing)
    routed = ffn.router(x.detach().view(TOKENS, -1))
    assert (routed.counts == 0).any() == (routing != "balanced")
    assert (routed.capacity is not None) == (layout == "padded")
    config = ffn.router.config
    out, aux, grads = _grads(ffn, x, lambda: ffn(x))
    ref_out, ref_aux, ref_grads = _grads(ffn, x, lambda: _reference(ffn, x, config))
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(aux, ref_aux, rtol=1e-5, atol=1e-7)
    names = ["x"] + [n for n, _ in ffn.named_parameters()]
    for name, grad, ref in zip(names, grads, ref_grads, strict=True):
        assert ref.abs().max() > 0, name  # every gradient is exercised
        torch.testing.assert_close(grad, ref, rtol=1e-5, atol=1e-6, msg=name)


def test_groups_are_padded_only_while_padding_adds_at_most_pad_limit_rows():
    ffn = _feed_forward(MOE, grouped=True)
    for routing, padded in (("balanced", True), ("skewed", False)):
        routed = ffn.router(_inputs(ffn, routing).detach().view(TOKENS, -1))
        rows = MOE.experts * routed.counts.max().item()
        assert rows <= experts.PAD_LIMIT * TOKENS * MOE.top_k if padded else rows > 3 * TOKENS * MOE.top_k / 2
        assert (routed.capacity is not None) == padded
        assert routed.source.shape == routed.weights.shape == (rows if padded else TOKENS * MOE.top_k,)


@pytest.mark.skipif(not experts.HAS_GROUPED_MM, reason="this torch has no _grouped_mm")
def test_weight_gradient_uses_the_layout_cuda_takes_for_any_group_size(monkeypatch):
    """CUDA's kernel for the 2d x 2d grouped matmul (groups along the contracted
    dimension) accepts empty and unaligned groups only when the first operand is
    column-major and the second row-major. The CPU kernel takes any layout, so check
    the strides the weight gradient passes, with an expert that gets no token."""
    monkeypatch.setattr(experts, "PAD_LIMIT", 0.0)
    seen = []
    grouped_mm = torch._grouped_mm

    def recording(a, b, offs=None, **kwargs):
        if a.dim() == 2 and b.dim() == 2:
            seen.append((a.stride(), b.stride(), offs.diff(prepend=offs.new_zeros(1)).tolist()))
        return grouped_mm(a, b, offs=offs, **kwargs)

    monkeypatch.setattr(torch, "_grouped_mm", recording)
    ffn = _feed_forward(MOE, grouped=True)
    x = _inputs(ffn, "empty expert")
    out, aux = ffn(x)
    (out.square().sum() + aux).backward()
    assert len(seen) == 2  # gate_up's and down's weight gradients
    for a_stride, b_stride, sizes in seen:
        assert a_stride[0] == 1 and b_stride[1] == 1  # column-major grad.T, row-major inputs
        assert 0 in sizes  # the empty expert's group
