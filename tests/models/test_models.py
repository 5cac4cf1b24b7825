"""The torch models: causality, the grouped-mm experts against the loop, GQA, tying, MoE -> MoLE."""

from dataclasses import replace

import pytest
import torch

from mixc.runtime.models import ModelConfig, RouterConfig
from mixc.runtime.models.mole import latent_factors, moe_to_mole
from mixc.shape import ModelShape

DENSE = ModelShape("dense", 2, 32, 4, 64, 16, kv_heads=2)
MOE = ModelShape("moe", 2, 32, 4, 64, 16, experts=4, top_k=2, shared_expert=True)
MOLE = ModelShape("mole", 2, 32, 4, 64, 16, experts=4, top_k=2, rank=8)


def _batch(seed=0, rows=3, T=16, vocab=64):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (rows, T + 1), generator=g)


@pytest.mark.parametrize("shape", [DENSE, MOE, MOLE], ids=lambda s: s.kind)
def test_forward_backward_and_causality(shape):
    torch.manual_seed(0)
    model = ModelConfig(shape).build()
    batch = _batch()
    out = model(batch[:, :-1], batch[:, 1:])
    assert out.logits is None  # training never forms the full logits
    with torch.no_grad():
        logits = model(batch[:, :-1]).logits
    assert logits.shape == (3, 16, 64)
    ce = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
    assert torch.isclose(ce, out.ce, atol=1e-6)  # chunked loss == the plain one
    assert abs(out.ce.item() - torch.log(torch.tensor(64.0)).item()) < 0.3  # near uniform at init
    out.loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    if shape.kind != "dense":
        assert out.aux.item() > 0
    # Changing the last token must not change any earlier position's logits.
    model.eval()
    changed = batch[:, :-1].clone()
    changed[:, -1] = (changed[:, -1] + 1) % 64
    with torch.no_grad():
        a, b = model(batch[:, :-1]).logits, model(changed).logits
    assert torch.allclose(a[:, :-1], b[:, :-1], atol=1e-6)
    assert not torch.allclose(a[:, -1], b[:, -1])


@pytest.mark.parametrize("shape", [MOE, MOLE], ids=lambda s: s.kind)
def test_grouped_mm_matches_loop(shape):
    torch.manual_seed(1)
    grouped = ModelConfig(shape, router=RouterConfig(grouped_mm=True)).build()
    loop = ModelConfig(shape, router=RouterConfig(grouped_mm=False)).build()
    loop.load_state_dict(grouped.state_dict())
    batch = _batch(1)
    outs = []
    for model in (grouped, loop):
        out = model(batch[:, :-1], batch[:, 1:])
        out.loss.backward()
        outs.append((out.loss.detach(), {n: p.grad for n, p in model.named_parameters()}))
    assert torch.allclose(outs[0][0], outs[1][0], atol=1e-6)
    for name, grad in outs[0][1].items():
        assert torch.allclose(grad, outs[1][1][name], atol=1e-5), name


def test_tied_embeddings_share_one_tensor():
    model = ModelConfig(replace(DENSE, tie_embeddings=True)).build()
    assert model.head.weight is model.embed.weight


def test_longer_than_seq_len_is_an_error():
    model = ModelConfig(DENSE).build()
    with pytest.raises(ValueError, match="seq_len 16"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_moe_to_mole_exact_at_full_rank():
    torch.manual_seed(2)
    moe = ModelConfig(MOE).build().eval()
    mole = moe_to_mole(moe, rank=MOE.d_model).eval()
    x = _batch(2)[:, :-1]
    with torch.no_grad():
        assert (moe(x).logits - mole(x).logits).abs().max().item() < 1e-4
    # The experts are genuinely factored: one basis per layer, E latent matrices.
    assert mole.blocks[0].ffn.basis.shape == (32, 32)
    assert not hasattr(mole.blocks[0].ffn, "gate_up")


def test_truncated_factors_are_the_best_rank_r_approximation():
    torch.manual_seed(3)
    W = torch.randn(4, 12, 16, dtype=torch.float64)
    singular = torch.linalg.svdvals(W.reshape(48, 16))
    for rank in (2, 8, 16):
        A, B = latent_factors(W, rank)
        error = torch.linalg.norm((A @ B - W).reshape(48, 16))
        assert torch.isclose(error, singular[rank:].square().sum().sqrt(), atol=1e-9)
    # A matrix of rank 5 is recovered exactly by rank 5 factors.
    low = (torch.randn(48, 5, dtype=torch.float64) @ torch.randn(5, 16, dtype=torch.float64)).reshape(4, 12, 16)
    A, B = latent_factors(low, 5)
    assert torch.allclose(A @ B, low, atol=1e-10)


def test_chunked_cross_entropy_matches_plain_over_many_chunks(monkeypatch):
    from mixc.runtime.models import loss
    from mixc.runtime.models.loss import linear_cross_entropy

    g = torch.Generator().manual_seed(4)
    h = torch.randn(300, 8, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.randn(20000, 8, dtype=torch.float64, generator=g, requires_grad=True)
    t = torch.randint(0, 20000, (300,), generator=g)
    monkeypatch.setattr(loss, "CHUNK_ELEMENTS_CPU", 17 * 20000)  # 17 rows per chunk, a ragged last one
    (3 * linear_cross_entropy(h, w, t)).backward()
    h2, w2 = h.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
    plain = torch.nn.functional.cross_entropy(h2 @ w2.T, t)
    (3 * plain).backward()
    assert torch.allclose(linear_cross_entropy(h, w, t), plain, atol=1e-12)
    assert torch.allclose(h.grad, h2.grad, atol=1e-12) and torch.allclose(w.grad, w2.grad, atol=1e-12)


@pytest.mark.slow
def test_compiled_moe_matches_eager():
    """torch.compile sees the expert matmul as one custom op and rotary as real arithmetic."""
    torch.manual_seed(5)
    shape = replace(MOE, kv_heads=2)
    model = ModelConfig(shape).build()
    batch = _batch(5)
    grads = []
    for net in (torch.compile(model), model):
        out = net(batch[:, :-1], batch[:, 1:])
        out.loss.backward()
        grads.append((out.loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
        model.zero_grad()
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-5)
    for name, grad in grads[0][1].items():
        assert torch.allclose(grad, grads[1][1][name], atol=1e-5), name


def test_mole_experts_start_at_the_scale_of_dense_experts():
    """W_i = A_i B with orthonormal B: A is drawn larger by sqrt(d / r) so that W_i's entries
    have the model's init std, as a MoE expert's do."""
    torch.manual_seed(0)
    big = ModelShape("mole", 1, 256, 4, 64, 16, experts=8, top_k=2, rank=16)
    mole, moe = ModelConfig(big).build(), ModelConfig(replace(big, kind="moe", rank=0)).build()
    ffn = mole.blocks[0].ffn
    experts = ffn.latent_gate_up @ ffn.basis  # [E, 2f, d]
    std = moe.blocks[0].ffn.gate_up.std().item()
    assert abs(experts.std().item() / std - 1) < 0.05
