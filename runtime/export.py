"""Save trained models where other tools can load them.

- `export_hf`: dense -> `LlamaForCausalLM`, MoE -> `MixtralForCausalLM`, written
  with `save_pretrained` so `transformers.AutoModelForCausalLM.from_pretrained(dir)`
  loads it; a tokenizer folder (`tokenizer.json`, and `tokenizer_config.json` when
  present, as `runtime.tokenizer` writes), when given, is saved beside it as a
  fast tokenizer. MoLE has no Hugging Face counterpart and is written natively.
- `save_native` / `load_native`: mixc's own format for every kind: `model.json`
  (the `ModelConfig`) and `model.safetensors`.

Both build the directory beside its final path and rename it into place
(`mixc.atomic`), so a directory that exists is complete. Weights are split, renamed, and q/k rows
reordered for Hugging Face's half-split rotary convention; experts already use
Mixtral's fused layout. This
module does not train and does not read token stores.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import torch

from mixc.atomic import atomic_directory
from mixc.runtime.models.common import ModelConfig, RouterConfig, Transformer
from mixc.shape import ModelShape

NATIVE_CONFIG = "model.json"
NATIVE_WEIGHTS = "model.safetensors"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


class ExportError(ValueError):
    """A model that cannot be written in the requested format, or a directory that cannot be read."""


def hf_config(model: Transformer):
    """The LlamaConfig or MixtralConfig describing `model`."""
    import transformers

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
    if shape.kind == "dense":
        return transformers.LlamaConfig(**common, attention_bias=False, mlp_bias=False)
    if shape.kind == "moe":
        if shape.shared_expert:
            raise ExportError("shared_expert: MixtralForCausalLM has no shared expert; use the native format")
        return transformers.MixtralConfig(
            **common,
            num_local_experts=shape.experts,
            num_experts_per_tok=shape.top_k,
            router_aux_loss_coef=config.router.load_balance_coef,
        )
    raise ExportError(f"kind: {shape.kind} models have no Hugging Face counterpart; use the native format")


def _half_split_rows(weight: torch.Tensor, head_dim: int) -> torch.Tensor:
    """Reorder each head's q/k rows from our rotary pairs (2j, 2j+1) to Hugging Face's (j, j + head_dim/2)."""
    d_in = weight.shape[-1]
    return weight.view(-1, head_dim // 2, 2, d_in).transpose(1, 2).reshape(-1, d_in)


def hf_state_dict(model: Transformer) -> dict[str, torch.Tensor]:
    """Our parameters under Llama/Mixtral names (q/k/v and gate/up split apart)."""
    shape = model.config.shape
    q_rows, kv_rows = shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    out = {
        "model.embed_tokens.weight": model.embed.weight,
        "model.norm.weight": model.norm.weight,
        "lm_head.weight": model.head.weight,  # the same tensor as the embedding when tied
    }
    for i, block in enumerate(model.blocks):
        p = f"model.layers.{i}."
        q, k, v = block.attn.qkv.weight.split([q_rows, kv_rows, kv_rows])
        q, k = _half_split_rows(q, shape.head_dim), _half_split_rows(k, shape.head_dim)
        out |= {
            p + "input_layernorm.weight": block.attn_norm.weight,
            p + "post_attention_layernorm.weight": block.ffn_norm.weight,
            p + "self_attn.q_proj.weight": q,
            p + "self_attn.k_proj.weight": k,
            p + "self_attn.v_proj.weight": v,
            p + "self_attn.o_proj.weight": block.attn.out.weight,
        }
        if shape.kind == "dense":
            gate, up = block.ffn.gate_up.weight.chunk(2)
            out |= {
                p + "mlp.gate_proj.weight": gate,
                p + "mlp.up_proj.weight": up,
                p + "mlp.down_proj.weight": block.ffn.down.weight,
            }
        else:
            out |= {
                p + "mlp.gate.weight": block.ffn.router.weight,
                p + "mlp.experts.gate_up_proj": block.ffn.gate_up,
                p + "mlp.experts.down_proj": block.ffn.down,
            }
    return {k: v.detach().contiguous() for k, v in out.items()}


def to_hf(model: Transformer):
    """An in-memory LlamaForCausalLM / MixtralForCausalLM with `model`'s weights."""
    import transformers

    config = hf_config(model)
    cls = transformers.LlamaForCausalLM if model.config.shape.kind == "dense" else transformers.MixtralForCausalLM
    hf = cls(config)
    hf.load_state_dict(hf_state_dict(model), strict=True)
    return hf.eval()


def export_hf(model: Transformer, out_dir: Path, tokenizer_dir: Path | None = None) -> Path:
    """Write `model` (dense or MoE) as a Hugging Face checkpoint directory, with its tokenizer."""
    hf = to_hf(model)
    with atomic_directory(out_dir) as tmp:
        hf.save_pretrained(tmp)
        if tokenizer_dir is not None:
            from transformers import PreTrainedTokenizerFast

            PreTrainedTokenizerFast.from_pretrained(str(tokenizer_dir)).save_pretrained(tmp)
    return Path(out_dir)


def config_to_dict(config: ModelConfig) -> dict:
    return asdict(config)


def config_from_dict(data: dict) -> ModelConfig:
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
