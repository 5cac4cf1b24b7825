"""Hugging Face export (Llama, Mixtral) and the native format, loaded back by their readers."""

from dataclasses import replace

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from mixc.runtime.export import ExportError, export_hf, load_native, save_native, to_hf
from mixc.runtime.models import ModelConfig
from mixc.shape import ModelShape

DENSE = ModelShape("dense", 2, 32, 4, 64, 16, kv_heads=2)
MOE = ModelShape("moe", 2, 32, 4, 64, 16, experts=4, top_k=2)
MOLE = ModelShape("mole", 1, 32, 4, 64, 16, experts=4, top_k=2, rank=8, tie_embeddings=True)


def _model(shape, seed=0):
    torch.manual_seed(seed)
    return ModelConfig(shape, rope_theta=500.0, norm_eps=1e-6).build().eval()


def _tokens(seed=0):
    return torch.randint(0, 64, (3, 16), generator=torch.Generator().manual_seed(seed))


def _tokenizer_dir(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {f"w{i}": i for i in range(63)} | {"<unk>": 63}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    folder = tmp_path / "tok"
    folder.mkdir()
    tok.save(str(folder / "tokenizer.json"))
    return folder


@pytest.mark.parametrize("shape", [DENSE, replace(DENSE, tie_embeddings=True), MOE], ids=["dense", "tied", "moe"])
def test_hf_logits_match(shape, tmp_path):
    model = _model(shape)
    x = _tokens()
    with torch.no_grad():
        ours = model(x).logits
        assert (to_hf(model)(x).logits - ours).abs().max().item() < 1e-4
    out = export_hf(model, tmp_path / "hf", tokenizer_dir=_tokenizer_dir(tmp_path))
    loaded = AutoModelForCausalLM.from_pretrained(out).eval()
    expected = "LlamaForCausalLM" if shape.kind == "dense" else "MixtralForCausalLM"
    assert type(loaded).__name__ == expected
    with torch.no_grad():
        assert (loaded(x).logits - ours).abs().max().item() < 1e-4
    assert AutoTokenizer.from_pretrained(out)("w3 w5")["input_ids"] == [3, 5]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".hf")]  # no temporary left behind


def test_mole_and_shared_expert_refuse_hf(tmp_path):
    with pytest.raises(ExportError, match="^kind: mole"):
        export_hf(_model(MOLE), tmp_path / "x")
    with pytest.raises(ExportError, match="^shared_expert"):
        export_hf(_model(replace(MOE, shared_expert=True)), tmp_path / "y")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


@pytest.mark.parametrize("shape", [MOLE, MOE], ids=["mole", "moe"])
def test_native_round_trip(shape, tmp_path):
    model = _model(shape)
    save_native(model, tmp_path / "m")
    loaded = load_native(tmp_path / "m")
    x = _tokens(1)
    with torch.no_grad():
        assert torch.equal(model(x).logits, loaded(x).logits)
    if shape.tie_embeddings:
        assert loaded.head.weight is loaded.embed.weight


def test_native_truncated_weights_name_the_file(tmp_path):
    save_native(_model(MOLE), tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ExportError, match="model.safetensors"):
        load_native(tmp_path / "m")
