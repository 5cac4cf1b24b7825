"""The language's catalogues agree with what the compiler and runtime implement."""

import pytest

from mixc.compiler.clusters import EMBEDDINGS as EMBEDDING_KINDS
from mixc.compiler.devices import DEVICES as DEVICE_TABLE
from mixc.compiler.mixture.design import METHODS
from mixc.compiler.mixture.laws import NAMES
from mixc.compiler.mixture.rounds import METHODS as PROPOSALS
from mixc.shape import ModelShape, ShapeError, problems, validate
from mixc.spec.experiment import DESIGNS, DEVICES, EMBEDDINGS, LAWS, PROPOSE
from tests.helpers.specs import check_text


def test_laws_designs_devices_match():
    assert set(LAWS) == set(NAMES)
    assert set(DESIGNS) == set(METHODS)
    assert set(DEVICES) == set(DEVICE_TABLE)
    assert set(PROPOSE) == set(PROPOSALS)
    assert EMBEDDINGS == EMBEDDING_KINDS  # the same default first


# Bad models as a spec writes them, and the same shape as the runtime gets it.
BAD_MODELS = [
    ("dense(layers: 2, d_model: 64, heads: 6, seq_len: 128)", ModelShape("dense", 2, 64, 6, 256, 128)),
    ("dense(layers: 2, d_model: 24, heads: 8, seq_len: 128)", ModelShape("dense", 2, 24, 8, 256, 128)),
    ("moe(layers: 2, d_model: 64, heads: 4, experts: 2, top_k: 4, seq_len: 128)",
     ModelShape("moe", 2, 64, 4, 256, 128, experts=2, top_k=4)),
    ("mole(layers: 2, d_model: 64, heads: 4, kv_heads: 3, experts: 4, rank: 128, seq_len: 128)",
     ModelShape("mole", 2, 64, 4, 256, 128, kv_heads=3, experts=4, top_k=2, rank=128)),
    ("moe(layers: 1, d_model: 96, heads: 5, kv_heads: 2, experts: 2, top_k: 3, seq_len: 64)",
     ModelShape("moe", 1, 96, 5, 256, 64, kv_heads=2, experts=2, top_k=3)),
]
SPEC_KEY = {"ffn_hidden": "d_ff"}


@pytest.mark.parametrize("model,shape", BAD_MODELS, ids=[m for m, _ in BAD_MODELS])
def test_shape_errors_are_the_runtimes(model, shape):
    """E027 is `mixc.shape`'s rules, at the key each names: the checker keeps no rules of its own."""
    line = f"  model m = {model}"
    _, diags = check_text('experiment x {\n  source a = text("a")\n' + line + "\n}\n")
    expected = problems(shape)
    assert expected, "each case breaks at least one rule"
    with pytest.raises(ShapeError) as first:
        validate(shape)
    assert (first.value.field, first.value.message) == (expected[0].field, expected[0].message)

    got = [(d.message, d.help, d.span.col) for d in diags if d.code == "E027"]
    key_col = {p.field: line.index(f"{SPEC_KEY.get(p.field, p.field)}: ") + len(SPEC_KEY.get(p.field, p.field)) + 3
               for p in expected}
    assert got == [(p.message, p.hint or None, key_col[p.field]) for p in expected]
