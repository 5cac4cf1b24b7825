"""Model shapes: what a dense, MoE or MoLE model looks like, its rules, its size and its cost.

Pure Python on purpose: `mixc check` reports these rules (E027, with `problems`) and
the compiler budgets training runs with these same formulas, without importing torch. This module must not import torch,
numpy or anything from `spec` / `compiler`; the torch modules in `runtime.models`
are built from a `ModelShape` and tests check that the counts here equal theirs.

Parameter counts (no biases anywhere; d = d_model, f = ffn_hidden, V = vocab,
E = experts, k = top_k, r = rank, h = head dim = d / heads, g = kv_heads):

    embedding        V d                         (+ V d for the output head if untied)
    attention        d (heads h) + 2 d (g h) + (heads h) d
    norms            2 d per layer, + d at the end
    dense FFN        3 d f                        (SwiGLU: gate, up, down)
    MoE FFN          d E + E 3 d f  (+ 3 d f shared expert)
    MoLE FFN         d E + r d + E (2 f r + f d)  (+ 3 d f shared expert)

Active parameters count k experts instead of E (the router, the MoLE basis and the
shared expert are always active). Training FLOPs per token follow the PaLM
accounting (Chowdhery et al. 2022, appendix B): 6 N for the active non-embedding
weights, 6 d V for the logits, and 12 L d T for attention scores and values over a
context of T tokens (the full T x T product; causal masking is not discounted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Iterator

KINDS = ("dense", "moe", "mole")


class ShapeError(ValueError):
    """A model shape that cannot work: `field` names the offending parameter, `message` says
    what is wrong and `hint` (possibly empty) how to fix it."""

    def __init__(self, field: str, message: str, hint: str = ""):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.hint = hint


def default_ffn_hidden(d_model: int, multiple_of: int = 32) -> int:
    """SwiGLU hidden width: 8/3 d rounded up to a multiple (LLaMA's rule), so that
    the three SwiGLU matrices cost about as much as a 4d two-matrix MLP."""
    return multiple_of * math.ceil(8 * d_model / 3 / multiple_of)


@dataclass(frozen=True)
class ModelShape:
    """Everything that fixes a model's parameter tensors.

    `kv_heads` 0 means "same as heads" (no GQA) and `ffn_hidden` 0 means
    `default_ffn_hidden(d_model)`; `resolved()` fills both in. For MoE and MoLE
    `ffn_hidden` is the width of one expert.
    """

    kind: str
    layers: int
    d_model: int
    heads: int
    vocab: int
    seq_len: int
    kv_heads: int = 0
    ffn_hidden: int = 0
    experts: int = 0
    top_k: int = 0
    shared_expert: bool = False
    rank: int = 0
    tie_embeddings: bool = False

    def resolved(self) -> "ModelShape":
        """Validate, then fill in the defaults (kv_heads, ffn_hidden)."""
        validate(self)
        return replace(
            self,
            kv_heads=self.kv_heads or self.heads,
            ffn_hidden=self.ffn_hidden or default_ffn_hidden(self.d_model),
        )

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> "ModelShape":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ShapeError(unknown[0], f"unknown model parameter (known: {', '.join(sorted(known))})")
        for name in ("kind", "layers", "d_model", "heads", "vocab", "seq_len"):
            if name not in data:
                raise ShapeError(name, "missing")
        return cls(**data)


def _not_positive(shape: ModelShape, name: str) -> ShapeError | None:
    value = getattr(shape, name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        return ShapeError(name, f"must be a positive integer, got {value!r}")
    return None


def validate(shape: ModelShape) -> None:
    """Raise ShapeError naming the first field that breaks a shape rule."""
    for problem in _broken(shape):
        raise problem


def problems(shape: ModelShape) -> tuple[ShapeError, ...]:
    """Every shape rule the shape breaks, in the order `validate` checks them (its first is
    what `validate` raises): `mixc check` reports them all at once."""
    return tuple(_broken(shape))


def _broken(shape: ModelShape) -> Iterator[ShapeError]:
    if shape.kind not in KINDS:
        yield ShapeError("kind", f"must be one of {', '.join(KINDS)}, got {shape.kind!r}")
        return
    sizes = [p for p in (_not_positive(shape, n) for n in ("layers", "d_model", "heads", "vocab", "seq_len")) if p]
    if sizes:  # the rules below divide by these
        yield from sizes
        return
    if shape.seq_len < 8:
        yield ShapeError("seq_len", f"must be at least 8, got {shape.seq_len}")
    yield from _attention(shape)
    if shape.ffn_hidden and (p := _not_positive(shape, "ffn_hidden")):
        yield p
    yield from _dense(shape) if shape.kind == "dense" else _experts(shape)


def _attention(shape: ModelShape) -> Iterator[ShapeError]:
    if shape.d_model % shape.heads:
        yield ShapeError("heads", f"{shape.heads} heads do not divide d_model {shape.d_model}",
                         "choose heads that divide d_model")
    elif shape.head_dim % 2:
        yield ShapeError("heads", f"head size d_model/heads = {shape.head_dim} is odd",
                         "rotary embeddings need an even head size")
    if shape.kv_heads:
        if p := _not_positive(shape, "kv_heads"):
            yield p
        elif shape.heads % shape.kv_heads:
            yield ShapeError("kv_heads", f"heads {shape.heads} is not divisible by kv_heads {shape.kv_heads}",
                             "choose kv_heads that divide heads")


def _dense(shape: ModelShape) -> Iterator[ShapeError]:
    for name in ("experts", "top_k", "rank", "shared_expert"):
        if getattr(shape, name):
            yield ShapeError(name, "only applies to moe and mole models")


def _experts(shape: ModelShape) -> Iterator[ShapeError]:
    counts = [p for p in (_not_positive(shape, n) for n in ("experts", "top_k")) if p]
    yield from counts
    if not counts and shape.top_k > shape.experts:
        yield ShapeError("top_k", f"top_k {shape.top_k} exceeds experts {shape.experts}",
                         "a token cannot be routed to more experts than there are")
    if shape.kind == "moe" and shape.rank:
        yield ShapeError("rank", "only applies to mole models")
    if shape.kind == "mole":
        if p := _not_positive(shape, "rank"):
            yield p
        elif shape.rank > shape.d_model:
            yield ShapeError("rank", f"latent rank {shape.rank} is more than d_model {shape.d_model}",
                             "the latent basis has at most d_model directions")


@dataclass(frozen=True)
class ModelSize:
    """Parameter counts and training cost of one shape."""

    total_params: int
    active_params: int
    embedding_params: int  # the input table (and the output head when untied)
    flops_per_token: int  # training (forward + backward), per token


def _ffn_params(s: ModelShape, experts: int) -> int:
    d, f = s.d_model, s.ffn_hidden
    if s.kind == "dense":
        return 3 * d * f
    shared = 3 * d * f if s.shared_expert else 0
    router = d * s.experts
    if s.kind == "moe":
        return router + experts * 3 * d * f + shared
    return router + s.rank * d + experts * (2 * f * s.rank + f * d) + shared


def size(shape: ModelShape) -> ModelSize:
    """Total and active parameters and training FLOPs per token of a shape."""
    s = shape.resolved()
    d, L, V = s.d_model, s.layers, s.vocab
    q_dim, kv_dim = s.heads * s.head_dim, s.kv_heads * s.head_dim
    attention = d * q_dim + 2 * d * kv_dim + q_dim * d
    norms = 2 * d
    embedding = V * d * (1 if s.tie_embeddings else 2)
    final_norm = d
    all_experts = s.experts
    per_layer_total = attention + norms + _ffn_params(s, all_experts)
    per_layer_active = attention + norms + _ffn_params(s, s.top_k)
    total = embedding + final_norm + L * per_layer_total
    active = embedding + final_norm + L * per_layer_active
    non_embedding_active = final_norm + L * per_layer_active
    flops = 6 * non_embedding_active + 6 * d * V + 12 * L * d * s.seq_len
    return ModelSize(total, active, embedding, flops)
