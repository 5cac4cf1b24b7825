"""Shape rules and the pure-Python size formulas, checked against the real torch modules."""

import subprocess
import sys

import pytest

from mixc.runtime.models import ModelConfig
from mixc.shape import ModelShape, ShapeError, default_ffn_hidden, size

SHAPES = [
    ModelShape("dense", 2, 32, 4, 100, 16),
    ModelShape("dense", 3, 48, 6, 97, 32, kv_heads=2, tie_embeddings=True, ffn_hidden=40),
    ModelShape("moe", 2, 32, 4, 100, 16, experts=4, top_k=2),
    ModelShape("moe", 1, 32, 4, 50, 16, kv_heads=1, experts=3, top_k=1, shared_expert=True),
    ModelShape("mole", 2, 32, 4, 100, 16, experts=4, top_k=2, rank=8),
    ModelShape("mole", 1, 32, 2, 64, 8, experts=2, top_k=2, rank=32, shared_expert=True, tie_embeddings=True),
]



@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s.kind}-{s.layers}x{s.d_model}")
def test_counts_match_torch_modules(shape):
    model = ModelConfig(shape).build()
    counted = size(shape)
    assert counted.total_params == sum(p.numel() for p in model.parameters())
    # Active: replace the expert tensors' count by top_k of E experts' share.
    expert_params = sum(
        p.numel() for n, p in model.named_parameters() if n.endswith((".gate_up", ".latent_gate_up", ".ffn.down"))
    )
    inactive = expert_params * (shape.experts - shape.top_k) // shape.experts if shape.experts else 0
    assert counted.active_params == counted.total_params - inactive
    embed = model.embed.weight.numel() + (0 if shape.tie_embeddings else model.head.weight.numel())
    assert counted.embedding_params == embed


def test_flops_per_token_formula():
    shape = ModelShape("dense", 2, 32, 4, 100, 16)
    s = size(shape)
    non_embedding = s.active_params - s.embedding_params
    assert s.flops_per_token == 6 * non_embedding + 6 * 32 * 100 + 12 * 2 * 32 * 16
    moe = size(ModelShape("moe", 2, 32, 4, 100, 16, experts=8, top_k=1))
    assert moe.active_params < moe.total_params
    assert moe.flops_per_token == 6 * (moe.active_params - moe.embedding_params) + 6 * 3200 + 12 * 2 * 32 * 16


def test_default_ffn_hidden():
    assert default_ffn_hidden(64) == 192  # 170.7 rounded up to a multiple of 32
    assert default_ffn_hidden(768) == 2048


@pytest.mark.parametrize(
    "change, field",
    [
        (dict(heads=5), "heads"),
        (dict(kv_heads=3), "kv_heads"),
        (dict(kind="moe", experts=2, top_k=3), "top_k"),
        (dict(kind="mole", experts=2, top_k=1, rank=64), "rank"),
        (dict(kind="mole", experts=2, top_k=1), "rank"),
        (dict(seq_len=4), "seq_len"),
        (dict(layers=0), "layers"),
        (dict(kind="sparse"), "kind"),
        (dict(experts=4), "experts"),
        (dict(kind="moe", experts=0, top_k=1), "experts"),
    ],
)
def test_bad_shapes_name_the_field(change, field):
    base = dict(kind="dense", layers=2, d_model=32, heads=4, vocab=100, seq_len=16)
    with pytest.raises(ShapeError) as err:
        ModelShape(**{**base, **change}).resolved()
    assert err.value.field == field
    assert str(err.value).startswith(field + ":")


def test_from_dict_rejects_unknown_and_missing():
    with pytest.raises(ShapeError, match="^topk:"):
        ModelShape.from_dict(dict(kind="moe", layers=1, d_model=8, heads=2, vocab=10, seq_len=8, topk=1))
    with pytest.raises(ShapeError, match="^vocab: missing"):
        ModelShape.from_dict(dict(kind="dense", layers=1, d_model=8, heads=2, seq_len=8))
    shape = SHAPES[4]
    assert ModelShape.from_dict(shape.to_dict()) == shape


def test_shape_module_does_not_import_torch():
    code = "import sys, mixc.shape; print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
