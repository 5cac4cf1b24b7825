"""K models of one shape run as one: their weights stacked on a leading axis, batched matmuls.

`Stacked(models)` holds K `Transformer`s built the usual way (each its own parameters, from
its own seed) and computes their K forwards in one pass: idx [K, B, T] -> losses [K]. Each
forward stacks every batched weight from the members' own parameters (`torch.stack`, whose
backward hands each member its own gradient), so the members stay ordinary models: their
optimizers, state dicts, checkpoints, evaluation and export are the single model's.

Batched over the K members: norms, the q/k/v and output projections and the dense SwiGLU
(`torch.bmm`), rotary embeddings, attention (one SDPA call over K x B sequences). Member by
member: the embedding lookup (then stacked); routed feed-forwards (MoE, MoLE), whose
data-dependent routing does not batch, each member's own module inside the batched block;
and the loss, `linear_cross_entropy` on each member's output layer. Each member computes what
it would alone, up to the order of floating-point sums inside the batched kernels.
Nothing here knows about data, optimizers or training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from mixc.runtime.models.layers import Attention, RMSNorm, Rope, SwiGLU, apply_rope
from mixc.runtime.models.loss import linear_cross_entropy
from mixc.runtime.models.transformer import Block, Output, Transformer


def _linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x [K, B, T, in] times each member's weight [K, out, in] transposed -> [K, B, T, out]."""
    K, B, T, _ = x.shape
    return torch.bmm(x.reshape(K, B * T, -1), weight.transpose(1, 2)).view(K, B, T, -1)


class Stacked(nn.Module):
    """K transformers of one config trained as one module (`members[k]` is model k)."""

    def __init__(self, models: Sequence[Transformer]):
        super().__init__()
        configs = {m.config for m in models}
        if len(configs) != 1:
            raise ValueError(f"stacked models must share one config, got {len(configs)} different ones")
        self.config = models[0].config
        self.members = nn.ModuleList(models)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> Output:
        """idx, targets [K, B, T] -> each member's losses: loss, ce and aux [K]."""
        h, aux = self.hidden(idx)
        ce = torch.stack([linear_cross_entropy(h[k].flatten(0, 1), m.head.weight, targets[k].flatten())
                          for k, m in enumerate(self.members)])
        return Output(None, ce + aux, ce, aux)

    def hidden(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """idx [K, B, T] -> (the final norms' outputs [K, B, T, d], each member's routing loss [K])."""
        T = idx.shape[2]
        if T > self.config.shape.seq_len:
            raise ValueError(f"sequence of {T} tokens exceeds the models' seq_len {self.config.shape.seq_len}")
        first = self.members[0]
        cos, sin = first.rope_cos[:T], first.rope_sin[:T]
        rope = (cos, sin) if torch.compiler.is_compiling() else torch.complex(cos, sin)
        x = torch.stack([m.embed(i) for m, i in zip(self.members, idx)])
        aux = x.new_zeros(len(self.members), dtype=torch.float32)
        for layer in range(self.config.shape.layers):
            x, block_aux = self._block([m.blocks[layer] for m in self.members], x, rope)
            aux = aux + block_aux
        return self._norm([m.norm for m in self.members], x), aux

    def _stack(self, modules: Sequence[nn.Module], weight: Callable[[nn.Module], torch.Tensor]) -> torch.Tensor:
        return torch.stack([weight(m) for m in modules])

    def _norm(self, norms: Sequence[RMSNorm], x: torch.Tensor) -> torch.Tensor:
        # Normalise without a weight, then scale by each member's: F.rms_norm takes one weight.
        weight = self._stack(norms, lambda n: n.weight)[:, None, None]
        return F.rms_norm(x, (x.shape[-1],), None, norms[0].eps) * weight

    def _block(self, blocks: Sequence[Block], x: torch.Tensor, rope: Rope) -> tuple[torch.Tensor, torch.Tensor]:
        x = x + self._attention([b.attn for b in blocks], self._norm([b.attn_norm for b in blocks], x), rope)
        y, aux = self._feed_forward([b.ffn for b in blocks], self._norm([b.ffn_norm for b in blocks], x))
        return x + y, aux

    def _attention(self, attns: Sequence[Attention], x: torch.Tensor, rope: Rope) -> torch.Tensor:
        """As `Attention.forward`, for x [K, B, T, d]: the K x B sequences go through one SDPA call."""
        K, B, T, _ = x.shape
        H, G, D = attns[0].heads, attns[0].kv_heads, attns[0].head_dim
        qkv = _linear(x, self._stack(attns, lambda a: a.qkv.weight)).view(K * B, T, H + 2 * G, D)
        qk = apply_rope(qkv[:, :, : H + G], rope)
        q, k, v = qk[:, :, :H], qk[:, :, H:], qkv[:, :, H + G :]
        y = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True, enable_gqa=G != H
        )
        return _linear(y.transpose(1, 2).reshape(K, B, T, -1), self._stack(attns, lambda a: a.out.weight))

    def _feed_forward(self, ffns: Sequence[nn.Module], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [K, B, T, d] -> (y [K, B, T, d], routing losses [K]). Dense SwiGLUs are batched;
        a routed feed-forward runs member by member (each token's experts depend on the data)."""
        if all(isinstance(f, SwiGLU) for f in ffns):
            gate, up = _linear(x, self._stack(ffns, lambda f: f.gate_up.weight)).chunk(2, dim=-1)
            y = _linear(F.silu(gate) * up, self._stack(ffns, lambda f: f.down.weight))
            return y, x.new_zeros(len(ffns), dtype=torch.float32)
        outputs = [ffn(x[k]) for k, ffn in enumerate(ffns)]
        return torch.stack([y for y, _ in outputs]), torch.stack([aux for _, aux in outputs])
