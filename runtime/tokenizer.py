"""Tokenizers: build one (`byte`, `bpe(vocab)`, `hf(path)`) into a folder, and load it back.

The folder holds `tokenizer.json` (Hugging Face `tokenizers`), a `tokenizer_config.json`
that makes `transformers.AutoTokenizer.from_pretrained(folder)` load it, and
`mixc_tokenizer.json` (vocab size, end-of-text id, the store's token dtype, the sha256 of
tokenizer.json), written last: it is the folder's completion marker.

`bpe` is byte-level BPE (the GPT-2 pre-tokenizer), trained on a seeded sample of the
sources: from each source, the documents with the smallest keyed hash, up to an equal
share of `sample_bytes`. The sample depends only on the seed and the documents, not on
file order, and its size bounds the memory. Held-out documents (`runtime.split`, the same
rule and seed as the tokenize jobs) are left out: a tokenizer fitted on the evaluation text
would favour it.

A loaded folder encodes with `runtime.fast_bpe` when that gives exactly the ids of
`tokenizers` (the project's own `bpe` folders, and imported ones of the same make), else with
`tokenizers`. This module must not import torch or transformers.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from mixc.atomic import atomic_directory
from mixc.jobfile import JobError
from mixc.jobs import SourceSpec, TokenizerJob
from mixc.runtime.corpus_io import iter_units
from mixc.runtime.fast_bpe import FastBPE, NotReproducible, bytes_to_unicode
from mixc.runtime.fast_bpe import build as build_fast
from mixc.runtime.split import in_valid

EOS = "<|endoftext|>"
META = "mixc_tokenizer.json"
# End-of-text tokens of common published tokenizers, tried in order for `hf` when the
# folder's tokenizer_config.json does not name one.
EOS_CANDIDATES = (EOS, "</s>", "<|end_of_text|>", "<eos>", "<|im_end|>", "[SEP]")
# BPE keeps each word's merges in a cache of 10,000 words by default; a varied corpus has far
# more distinct words, and missing the cache costs ~1.3x in tokenize throughput (measured here).
WORD_CACHE = 200_000


@dataclass(frozen=True)
class LoadedTokenizer:
    """A tokenizer folder, loaded: what the tokenize job and the store need to know."""

    tokenizer: Tokenizer
    vocab_size: int
    eos_id: int
    dtype: str  # "uint16" or "uint32": the store's token type
    sha256: str
    fast: FastBPE | None  # the same ids, faster (runtime.fast_bpe); None: encode with `tokenizers`
    fast_refused: str  # why `fast` is None ("" when it is not)


def token_dtype(vocab_size: int) -> str:
    """The smallest unsigned type holding every id."""
    return "uint16" if vocab_size <= 1 << 16 else "uint32"


def run(job: TokenizerJob) -> None:
    """Build the tokenizer the job describes and write its folder atomically."""
    if job.type == "byte":
        tok, eos = byte_tokenizer(), EOS
    elif job.type == "bpe":
        assert job.vocab is not None
        tok, eos = train_bpe(job.sources, job.vocab, job.sample_bytes, job.seed, job.holdout), EOS
    else:
        assert job.path is not None
        tok, eos = _load_hf(Path(job.path))
    save(tok, eos, job.type, Path(job.output))


def byte_tokenizer() -> Tokenizer:
    """Id b is byte b (0..255); id 256 is the end-of-text token."""
    vocab = {ch: b for b, ch in bytes_to_unicode().items()}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([EOS])
    return tok


def train_bpe(sources: tuple[SourceSpec, ...], vocab: int, sample_bytes: int, seed: int,
              holdout: float = 0.0) -> Tokenizer:
    """Byte-level BPE with `vocab` ids (the end-of-text token included), trained on documents
    of the training split only."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    share = max(1, sample_bytes // len(sources))
    texts = [doc for spec in sources for doc in sample_documents(spec, share, seed, holdout)]
    if not texts:
        raise JobError("bpe: the sources hold no documents to train on")
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return tok


def sample_documents(spec: SourceSpec, budget: int, seed: int, holdout: float = 0.0) -> list[str]:
    """The training documents (not held out at `holdout`) of smallest keyed hash whose sizes
    add up to at most `budget` bytes.

    Streaming with a bounded heap: a document above the largest evicted key can never
    enter, so the result is the same whatever the order of files and documents.
    """
    key = seed.to_bytes(16, "little", signed=True)
    heap: list[tuple[int, str]] = []  # max-heap by key: (-key, doc)
    total = 0
    cutoff = 1 << 64
    for unit, doc in iter_units(spec):
        if holdout and in_valid(unit, holdout, seed):
            continue
        data = doc.encode("utf-8")
        size = len(data)
        rank = int.from_bytes(hashlib.blake2b(data, key=key, digest_size=8).digest(), "little")
        if rank >= cutoff or size > budget:
            continue
        heapq.heappush(heap, (-rank, doc))
        total += size
        while total > budget:
            neg, evicted = heapq.heappop(heap)
            cutoff = min(cutoff, -neg)
            total -= len(evicted.encode("utf-8"))
    return [doc for _, doc in sorted(heap, reverse=True)]


def _load_hf(path: Path) -> tuple[Tokenizer, str]:
    file = path / "tokenizer.json" if path.is_dir() else path
    try:
        tok = Tokenizer.from_file(str(file))
    except Exception as exc:  # tokenizers raises plain Exception for unreadable files
        raise JobError(f"{file}: not a loadable tokenizer.json: {exc}") from None
    eos = _configured_eos(file.parent / "tokenizer_config.json")
    vocab = tok.get_vocab(with_added_tokens=True)
    if eos is None:
        eos = next((c for c in EOS_CANDIDATES if c in vocab), None)
    if eos is None or eos not in vocab:
        raise JobError(f"{file}: no end-of-text token found (tried {', '.join(EOS_CANDIDATES)}); "
                       "add one or name it as eos_token in a tokenizer_config.json beside it")
    return tok, eos


def _configured_eos(config: Path) -> str | None:
    try:
        eos = json.loads(config.read_text(encoding="utf-8")).get("eos_token")
    except (OSError, ValueError, AttributeError):
        return None
    return eos.get("content") if isinstance(eos, dict) else eos if isinstance(eos, str) else None


def save(tok: Tokenizer, eos: str, kind: str, output: Path) -> None:
    """Write the tokenizer folder (see the module docstring) atomically."""
    eos_id = tok.token_to_id(eos)
    vocab_size = tok.get_vocab_size(with_added_tokens=True)
    with atomic_directory(output) as tmp:
        tok.save(str(tmp / "tokenizer.json"))
        config = {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": eos,
                  "model_max_length": 1 << 30, "clean_up_tokenization_spaces": False}
        (tmp / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
        (tmp / "special_tokens_map.json").write_text(json.dumps({"eos_token": eos}, indent=2) + "\n")
        meta = {"schema": 1, "type": kind, "vocab_size": vocab_size, "eos_token": eos, "eos_id": eos_id,
                "dtype": token_dtype(vocab_size), "sha256": _sha256(tmp / "tokenizer.json")}
        (tmp / META).write_text(json.dumps(meta, indent=2) + "\n")


def load(folder: str | Path, fast: bool = True) -> LoadedTokenizer:
    """Load a folder written by `save`; a missing marker or changed tokenizer.json is an error.

    With `fast`, encode with runtime.fast_bpe where it gives the ids `tokenizers` gives."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except FileNotFoundError as exc:
        raise JobError(f"{folder}: not a complete tokenizer folder ({Path(exc.filename).name} missing); "
                       "rerun its tokenizer job") from None
    except Exception as exc:
        raise JobError(f"{folder}: unreadable tokenizer folder: {exc}") from None
    sha = _sha256(folder / "tokenizer.json")
    if sha != meta.get("sha256"):
        raise JobError(f"{folder / 'tokenizer.json'}: changed since it was built (sha256 differs); "
                       "rerun its tokenizer job")
    encoder, refused = None, "the fast encoder was not asked for"
    if fast:
        try:
            encoder, refused = build_fast(tok, str(meta["eos_token"])), ""
        except NotReproducible as exc:
            refused = str(exc)
    return LoadedTokenizer(_with_word_cache(tok), int(meta["vocab_size"]), int(meta["eos_id"]), str(meta["dtype"]), sha,
                           encoder, refused)


def _with_word_cache(tok: Tokenizer) -> Tokenizer:
    """The same tokenizer with a larger BPE word cache (not stored in tokenizer.json)."""
    model = tok.model
    if not isinstance(model, models.BPE) or model.dropout:  # dropout bypasses the cache anyway
        return tok
    with tempfile.TemporaryDirectory() as tmp:
        vocab, merges = model.save(tmp)
        names = ("unk_token", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", "byte_fallback",
                 "ignore_merges")
        settings = {n: getattr(model, n) for n in names if getattr(model, n) is not None}
        tok.model = models.BPE.from_file(vocab, merges, cache_capacity=WORD_CACHE, **settings)
    return tok


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def encode_batch(tok: LoadedTokenizer, docs: list[str]) -> list[np.ndarray]:
    """Each document's ids followed by the end-of-text id, in the store's dtype."""
    dtype = np.dtype(tok.dtype)
    if tok.fast is not None:
        return tok.fast.encode_batch(docs, dtype)
    out = []
    for enc in tok.tokenizer.encode_batch_fast(docs, add_special_tokens=False):
        ids = np.empty(len(enc.ids) + 1, dtype=dtype)
        ids[:-1] = enc.ids
        ids[-1] = tok.eos_id
        out.append(ids)
    return out

