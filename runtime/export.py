"""Save trained models where other tools can load them.

- `export_hf`: a Hugging Face checkpoint directory, written with `save_pretrained`
  so `transformers.AutoModelForCausalLM.from_pretrained(dir)` loads it; a
  tokenizer folder (`tokenizer.json`, and `tokenizer_config.json` when present,
  as `runtime.tokenizer` writes), when given, is saved beside it as a fast
  tokenizer. One adapter per kind says how it maps onto Hugging Face: dense ->
  `LlamaForCausalLM`, MoE -> `MixtralForCausalLM`. MoLE has none (no Hugging
  Face architecture factors experts through a shared basis): it is written natively.
- `save_native` / `load_native`: mixc's own format for every kind: `model.json`
  (the `ModelConfig`) and `model.safetensors`.

Both build the directory beside its final path and rename it into place
(`mixc.atomic`), so a directory that exists is complete. Weights are split and
renamed, and q/k rows reordered for Hugging Face's half-split rotary convention;
experts already use Mixtral's fused layout. This module does not train and does
not read token stores.
"""

from __future__ import annotations

import json
import shutil
from abc import ABC, abstractmethod
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mixc.atomic import atomic_directory
from mixc.runtime.models import ModelConfig, RouterConfig, Transformer
from mixc.shape import ModelShape

NATIVE_CONFIG = "model.json"
NATIVE_WEIGHTS = "model.safetensors"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


class ExportError(ValueError):
    """A model that cannot be written in the requested format, or a directory that cannot be read."""


class HFAdapter(ABC):
    """How one model kind maps onto a Hugging Face architecture: its config and its feed-forward's weights.
    Everything else (embedding, attention, norms, head) maps the same way for every kind."""

    architecture: str  # the transformers model class, e.g. "LlamaForCausalLM"

    @abstractmethod
    def config(self, config: ModelConfig, common: dict[str, Any]) -> Any:
        """The transformers config: `common` (the fields every decoder shares) plus the kind's own."""

    @abstractmethod
    def feed_forward(self, ffn: nn.Module) -> dict[str, torch.Tensor]:
        """One block's feed-forward weights, named relative to the layer (`mlp.*`)."""


class LlamaAdapter(HFAdapter):
    """dense -> LlamaForCausalLM: the fused gate/up rows split into gate_proj and up_proj."""

    architecture = "LlamaForCausalLM"

    def config(self, config: ModelConfig, common: dict[str, Any]) -> Any:
        import transformers

        return transformers.LlamaConfig(**common, attention_bias=False, mlp_bias=False)

    def feed_forward(self, ffn: nn.Module) -> dict[str, torch.Tensor]:
        gate, up = ffn.gate_up.weight.chunk(2)
        return {"mlp.gate_proj.weight": gate, "mlp.up_proj.weight": up, "mlp.down_proj.weight": ffn.down.weight}


class MixtralAdapter(HFAdapter):
    """moe -> MixtralForCausalLM: our routing is Mixtral's and our expert tensors are in its fused layout."""

    architecture = "MixtralForCausalLM"

    def config(self, config: ModelConfig, common: dict[str, Any]) -> Any:
        import transformers

        shape = config.shape
        if shape.shared_expert:
            raise ExportError("shared_expert: MixtralForCausalLM has no shared expert; use the native format")
        return transformers.MixtralConfig(
            **common,
            num_local_experts=shape.experts,
            num_experts_per_tok=shape.top_k,
            router_aux_loss_coef=config.router.load_balance_coef,
        )

    def feed_forward(self, ffn: nn.Module) -> dict[str, torch.Tensor]:
        return {"mlp.gate.weight": ffn.router.weight, "mlp.experts.gate_up_proj": ffn.gate_up,
                "mlp.experts.down_proj": ffn.down}


HF_ADAPTERS: dict[str, HFAdapter] = {"dense": LlamaAdapter(), "moe": MixtralAdapter()}
# Kinds without a Hugging Face counterpart, and why: export_hf refuses them with this reason.
NO_HF_COUNTERPART = {"mole": "no Hugging Face architecture factors experts through a shared basis (W_i = A_i B)"}


def hf_adapter(kind: str) -> HFAdapter:
    """The adapter for `kind`; an ExportError naming the kind when it has none."""
    if kind not in HF_ADAPTERS:
        why = NO_HF_COUNTERPART.get(kind, "no adapter is registered for it")
        raise ExportError(f"kind: {kind} models have no Hugging Face counterpart ({why}); use the native format")
    return HF_ADAPTERS[kind]


def hf_config(model: Transformer) -> Any:
    """The transformers config (LlamaConfig, MixtralConfig) describing `model`."""
    shape, config = model.config.shape, model.config
    common = dict(
        vocab_size=shape.vocab,
        hidden_size=shape.d_model,
        intermediate_size=shape.ffn_hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.kv_heads,
        head_dim=shape.head_dim,
        hidden_act="silu",
        max_position_embeddings=shape.seq_len,
        rms_norm_eps=config.norm_eps,
        tie_word_embeddings=shape.tie_embeddings,
        rope_parameters={"rope_type": "default", "rope_theta": config.rope_theta},
        initializer_range=config.init_std,
        bos_token_id=None,
        eos_token_id=None,
    )
    return hf_adapter(shape.kind).config(config, common)


def _half_split_rows(weight: torch.Tensor, head_dim: int) -> torch.Tensor:
    """Reorder each head's q/k rows from our rotary pairs (2j, 2j+1) to Hugging Face's (j, j + head_dim/2)."""
    d_in = weight.shape[-1]
    return weight.view(-1, head_dim // 2, 2, d_in).transpose(1, 2).reshape(-1, d_in)


def _attention_state(block: nn.Module, shape: ModelShape) -> dict[str, torch.Tensor]:
    """One block's norms and attention under Llama/Mixtral names (q/k/v split apart), relative to the layer."""
    q_rows, kv_rows = shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    q, k, v = block.attn.qkv.weight.split([q_rows, kv_rows, kv_rows])
    return {
        "input_layernorm.weight": block.attn_norm.weight,
        "post_attention_layernorm.weight": block.ffn_norm.weight,
        "self_attn.q_proj.weight": _half_split_rows(q, shape.head_dim),
        "self_attn.k_proj.weight": _half_split_rows(k, shape.head_dim),
        "self_attn.v_proj.weight": v,
        "self_attn.o_proj.weight": block.attn.out.weight,
    }


def hf_state_dict(model: Transformer) -> dict[str, torch.Tensor]:
    """Our parameters under the Hugging Face names of the kind's architecture."""
    shape = model.config.shape
    adapter = hf_adapter(shape.kind)
    out = {
        "model.embed_tokens.weight": model.embed.weight,
        "model.norm.weight": model.norm.weight,
        "lm_head.weight": model.head.weight,  # the same tensor as the embedding when tied
    }
    for i, block in enumerate(model.blocks):
        layer = _attention_state(block, shape) | adapter.feed_forward(block.ffn)
        out |= {f"model.layers.{i}.{name}": tensor for name, tensor in layer.items()}
    return {k: v.detach().contiguous() for k, v in out.items()}


def to_hf(model: Transformer) -> Any:
    """An in-memory Hugging Face model (LlamaForCausalLM, MixtralForCausalLM) with `model`'s weights."""
    import transformers

    architecture = getattr(transformers, hf_adapter(model.config.shape.kind).architecture)
    hf = architecture(hf_config(model))
    hf.load_state_dict(hf_state_dict(model), strict=True)
    return hf.eval()


def export_hf(model: Transformer, out_dir: Path, tokenizer_dir: Path | None = None) -> Path:
    """Write `model` (a kind with an adapter) as a Hugging Face checkpoint directory, with its tokenizer."""
    hf = to_hf(model)
    with atomic_directory(out_dir) as tmp:
        hf.save_pretrained(tmp)
        if tokenizer_dir is not None:
            from transformers import PreTrainedTokenizerFast

            PreTrainedTokenizerFast.from_pretrained(str(tokenizer_dir)).save_pretrained(tmp)
    return Path(out_dir)
def config_to_dict(config: ModelConfig) -> dict:
    """`config` as the plain JSON object `model.json` holds."""
    return asdict(config)


def config_from_dict(data: dict) -> ModelConfig:
    """The ModelConfig `config_to_dict` wrote."""
    data = dict(data)
    shape = ModelShape.from_dict(data.pop("shape"))
    router = RouterConfig(**data.pop("router", {}))
    return ModelConfig(shape, router=router, **data)


def save_native(model: Transformer, out_dir: Path, tokenizer_dir: Path | None = None) -> Path:
    """mixc's own format (any kind): model.json + model.safetensors (+ the tokenizer folder's files)."""
    from safetensors.torch import save_file

    # Tied weights are stored once; load_native re-ties them through the config.
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    if model.config.shape.tie_embeddings:
        state.pop("head.weight")
    with atomic_directory(out_dir) as tmp:
        (tmp / NATIVE_CONFIG).write_text(json.dumps(config_to_dict(model.config), indent=2) + "\n")
        save_file(state, str(tmp / NATIVE_WEIGHTS))
        if tokenizer_dir is not None:
            for name in TOKENIZER_FILES:
                if (Path(tokenizer_dir) / name).exists():
                    shutil.copyfile(Path(tokenizer_dir) / name, tmp / name)
    return Path(out_dir)


def load_native(model_dir: Path) -> Transformer:
    """The model `save_native` wrote into `model_dir`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    model_dir = Path(model_dir)
    config_path, weights_path = model_dir / NATIVE_CONFIG, model_dir / NATIVE_WEIGHTS
    try:
        config = config_from_dict(json.loads(config_path.read_text()))
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise ExportError(f"{config_path}: not a readable model config ({err})") from None
    model = config.build()
    try:
        state = load_file(str(weights_path))
    except (OSError, SafetensorError) as err:
        raise ExportError(f"{weights_path}: not a readable weights file ({err})") from None
    if config.shape.tie_embeddings:
        state["head.weight"] = state["embed.weight"]
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ExportError(f"{weights_path}: weights do not match {config_path} ({err})") from None
    return model.eval()
