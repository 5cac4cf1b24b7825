"""A faster encoder giving exactly the ids of a byte-level BPE `tokenizer.json`: tiktoken's BPE
built from the tokenizer's own vocabulary and merges.

Hugging Face `tokenizers` defines the ids; this module only reproduces them, ~4x faster per
CPU-second, in Rust code that releases the GIL (so threads encode batches side by side).
`build` accepts a tokenizer only when it can prove the two agree on the parts that decide
the ids, and otherwise raises `NotReproducible` naming the part, so that the caller encodes
with `tokenizers`:

- no normalizer; the pre-tokenizer is exactly GPT-2's byte level one (its regex, no prefix
  space), whose byte-to-character map every vocabulary entry must use;
- a plain BPE model (no dropout, no subword prefix or suffix), every one of the 256 bytes a
  token, every longer token the result of exactly one merge, the merges' results numbered
  in merge order, and every token encoding alone as itself (`_check_proper`, which BPE
  training guarantees). Then "merge the adjacent pair of lowest merge rank" (tokenizers) and
  "merge the adjacent pair whose bytes form the token of lowest id" (tiktoken) make the same
  merges on every text; tests/runtime/test_fast_encode.py also checks it on real text,
  every script's characters and random token strings;
- added tokens (the end-of-text one, say) are matched in the text before BPE by both, and
  must not overlap one another (the two libraries break ties between overlapping matches
  differently); no truncation or padding (tokenizers would cut documents).

This module must not train, save or load tokenizer folders (runtime.tokenizer does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import tiktoken
from tokenizers import Tokenizer

# The GPT-2 pre-tokenizer's regex (Radford et al., 2019, `encoder.py`), as tokenizers' ByteLevel
# pre-tokenizer writes it.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# Older tiktoken merges a long piece (a run of 100k spaces) in quadratic time: minutes per document.
MIN_TIKTOKEN = (0, 13)


class NotReproducible(ValueError):
    """The tokenizer has a part the fast encoder does not reproduce; the message names it."""


@dataclass(frozen=True)
class FastBPE:
    """tiktoken's BPE over a tokenizer's vocabulary: `encode_batch` gives each document's ids
    followed by the end-of-text id, as tokenizers would (without special tokens added)."""

    encoding: tiktoken.Encoding
    eos: str
    eos_id: int
    added: frozenset[str]  # every added token's text, matched in documents as tokenizers does
    # The end-of-text token is the only added one and no proper prefix of it is also a suffix:
    # then its occurrences in "doc EOS doc EOS ..." are exactly the separators, and a whole batch
    # is encoded as one string (one call, no per-document overhead).
    joinable: bool

    def encode_batch(self, docs: list[str], dtype: np.dtype) -> list[np.ndarray]:
        """Each document's ids and then the end-of-text id, as `dtype` arrays, in order."""
        if not self.joinable:
            return [self._one(doc, dtype) for doc in docs]
        out: list[np.ndarray | None] = [None] * len(docs)
        plain = [i for i, doc in enumerate(docs) if self.eos not in doc]
        for i, ids in zip(plain, self._joined([docs[i] for i in plain], dtype)):
            out[i] = ids
        for i in set(range(len(docs))).difference(plain):  # a document holding the end-of-text text
            out[i] = self._one(docs[i], dtype)
        return out  # type: ignore[return-value]  # every slot filled above

    def _one(self, doc: str, dtype: np.dtype) -> np.ndarray:
        ids = self.encoding.encode_to_numpy(doc, allowed_special=self.added)
        return np.append(ids, self.eos_id).astype(dtype)

    def _joined(self, docs: list[str], dtype: np.dtype) -> list[np.ndarray]:
        if not docs:
            return []
        ids = self.encoding.encode_to_numpy(self.eos.join(docs) + self.eos, allowed_special=self.added)
        ends = np.flatnonzero(ids == self.eos_id) + 1
        if len(ends) != len(docs):  # cannot happen for a joinable tokenizer; never write misaligned ids
            raise RuntimeError(f"fast BPE: {len(ends)} end-of-text ids for {len(docs)} documents")
        return np.split(ids.astype(dtype), ends[:-1])


def build(tok: Tokenizer, eos: str) -> FastBPE:
    """The fast encoder for `tok`, whose end-of-text token is `eos`; `NotReproducible` when its
    ids could differ from tokenizers' for some text."""
    if tuple(int(p) for p in tiktoken.__version__.split(".")[:2]) < MIN_TIKTOKEN:
        raise NotReproducible(f"tiktoken {tiktoken.__version__} is older than "
                              f"{'.'.join(map(str, MIN_TIKTOKEN))} (quadratic on long words)")
    spec = json.loads(tok.to_str())
    _check_pipeline(spec)
    model = spec["model"]
    added = {a["content"]: a["id"] for a in spec["added_tokens"]}
    _check_added(spec["added_tokens"])
    if eos not in added:
        raise NotReproducible(f"the end-of-text token {eos!r} is not an added token")
    ranks, merges = _ranks(model, set(added.values()))
    _check_proper(merges)
    encoding = tiktoken.Encoding("mixc-bpe", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens=added)
    return FastBPE(encoding, eos, added[eos], frozenset(added), joinable=set(added) == {eos} and not _border(eos))


def _check_pipeline(spec: dict[str, Any]) -> None:
    pre = spec.get("pre_tokenizer") or {}
    model = spec.get("model") or {}
    problems = {
        "a normalizer": spec.get("normalizer") is not None,
        "truncation or padding": spec.get("truncation") is not None or spec.get("padding") is not None,
        "a pre-tokenizer other than GPT-2's byte level one": (pre.get("type"), pre.get("add_prefix_space"),
                                                             pre.get("use_regex")) != ("ByteLevel", False, True),
        "a model other than BPE": model.get("type") != "BPE",
        "BPE dropout": bool(model.get("dropout")),
        "a subword prefix or suffix": bool(model.get("continuing_subword_prefix") or model.get("end_of_word_suffix")),
    }
    found = [name for name, present in problems.items() if present]
    if found:
        raise NotReproducible(f"the tokenizer has {found[0]}")


def _check_added(tokens: list[dict[str, Any]]) -> None:
    for token in tokens:
        if token.get("lstrip") or token.get("rstrip") or token.get("single_word"):
            raise NotReproducible(f"added token {token['content']!r} strips spaces or matches whole words only")
    texts = [t["content"] for t in tokens]
    for a in texts:
        for b in texts:
            if a != b and (b in a or any(a.endswith(b[:k]) for k in range(1, min(len(a), len(b)) + 1))):
                raise NotReproducible(f"added tokens {a!r} and {b!r} can overlap in a text")


def _border(text: str) -> bool:
    """Whether a proper prefix of `text` is also its suffix (then its occurrences can overlap)."""
    return any(text[:k] == text[-k:] for k in range(1, len(text)))


def _ranks(model: dict[str, Any], added_ids: set[int]) -> tuple[dict[bytes, int], list[tuple[bytes, bytes]]]:
    """tiktoken's ranks (each token's bytes -> its id) and the merges as bytes, after checking
    that ranking merges by the id of their result orders them as the merge list does."""
    decode = {ch: b for b, ch in bytes_to_unicode().items()}
    vocab: dict[str, int] = {t: i for t, i in model["vocab"].items() if i not in added_ids}
    try:
        ranks = {bytes(decode[ch] for ch in token): i for token, i in vocab.items()}
    except KeyError as exc:
        raise NotReproducible(f"a vocabulary entry holds {exc.args[0]!r}, outside the byte level alphabet") from None
    if len(ranks) != len(vocab) or len(set(vocab.values())) != len(vocab):
        raise NotReproducible("two vocabulary entries share bytes or an id")
    if sum(len(b) == 1 for b in ranks) != 256:
        raise NotReproducible("not every byte is a token")
    made: list[int] = []
    merges: list[tuple[bytes, bytes]] = []
    for merge in model["merges"]:
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        if left not in vocab or right not in vocab or left + right not in vocab:
            raise NotReproducible(f"merge {left!r} + {right!r} has a part or result outside the vocabulary")
        made.append(vocab[left + right])
        merges.append((bytes(decode[ch] for ch in left), bytes(decode[ch] for ch in right)))
    if any(a >= b for a, b in pairwise(made)):
        raise NotReproducible("the merges' results are not numbered in merge order")
    if len(made) != sum(len(b) > 1 for b in ranks):
        raise NotReproducible("a token longer than one byte is no merge's result")
    return ranks, merges


def _check_proper(merges: list[tuple[bytes, bytes]]) -> None:
    """Every merge's result, encoded alone by the merges, is that one token.

    This is what makes the two merge rules agree: if some text's encoding ever held two adjacent
    tokens x, y whose bytes xy form a token t made by another merge, the tokens inside t's span
    would have evolved as in t's own encoding (no token crosses the span), which then ends in
    x, y rather than t. So the adjacent pairs that form a token are exactly the merges, and both
    libraries merge the one of lowest rank, leftmost first. A word that is a token is then
    that token, as tiktoken (and tokenizers' `ignore_merges`) emit it.
    """
    rank = {pair: i for i, pair in enumerate(merges)}
    none = len(merges)
    for left, right in merges:
        parts = [bytes([b]) for b in left + right]
        while len(parts) > 1:
            best, at = min((rank.get(pair, none), i) for i, pair in enumerate(pairwise(parts)))
            if best == none:
                break
            parts[at : at + 2] = [parts[at] + parts[at + 1]]
        if parts != [left + right]:
            raise NotReproducible(f"the token {left + right!r} does not encode as itself by the merges "
                                  f"(but as {parts})")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters (Radford et al., 2019,
    `encoder.py`), which byte-level tokenizers in `tokenizers` use for their vocabulary."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return {b: chr(b) if b in keep else chr(next(extra)) for b in range(256)}
