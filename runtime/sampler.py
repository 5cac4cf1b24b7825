"""The mixture sampler: batches of token windows drawn from sources in given proportions.

For weights w, the rows of batch `step` are shared out among the sources by systematic
sampling (Madow 1949): with an offset u in [0, 1), source i gets the rows k with
(k + u) / B in [c_{i-1}, c_i), c the cumulative weights, so it has floor or ceil of B w_i
rows at every step. The offsets of successive steps follow a Weyl sequence (a random start
per seed, then steps of the golden ratio), so the extra rows come round evenly and a run's
realised mixture stays within a few rows of nominal over the whole run (independent draws
per row gave a 2% source a 15% relative spread over a quickstart run; this gives about 1%). Each row then takes a uniformly random window
of `seq_len + 1` tokens inside its source's split, and the rows are shuffled. All draws
come from a generator seeded by (seed, step) alone, so batch `step` is the same whenever
and however often it is asked for: a resumed run sees exactly the batches it would have.
A run whose mixture changes (`runtime.mixture_control`) hands each step its own weights; the
batch is then a pure function of (seed, step, weights), and resumes as exactly.

Tokens are served from memory. A source of at most `resident_tokens` tokens is read whole,
once. A larger one keeps a random subset of its chunks resident (about `resident_tokens`)
and swaps it every `rotate_steps` steps, the subset again a function of (seed, period), so
windows are never decoded one by one. (In that mode windows do not straddle two chunks.)

numpy only: no torch here (the train loop wraps batches itself); this module must not
write to stores.
"""

from __future__ import annotations

import math
import zlib
from typing import Any, Sequence

import numpy as np

from mixc.jobfile import JobError
from mixc.runtime.store import SPLITS, SourceInfo, StorePath, TokenReader, open_source

STATE_VERSION = 1
WEIGHT_TOLERANCE = 1e-6


class SamplerError(JobError):
    """Weights, sources or a saved state the sampler cannot work with."""


GOLDEN = (5**0.5 - 1) / 2  # the offsets' step: a Weyl sequence, the most evenly spread one


def systematic_rows(cumulative: np.ndarray, rows: int, offset: float) -> np.ndarray:
    """The source of each of `rows` rows, in source order [rows]: row k (at position
    (k + offset) / rows) goes to the source whose cumulative-weight interval holds it, so
    source i gets floor or ceil of rows x w_i rows. `cumulative` ends at exactly 1."""
    edges = np.ceil(rows * np.concatenate([[0.0], cumulative]) - offset).astype(np.int64)  # 0 ... rows
    return np.repeat(np.arange(len(cumulative)), np.diff(edges))


def offset_start(seed: int) -> float:
    """The systematic offset of batch 0: random, one per seed."""
    return float(np.random.default_rng([seed, 1]).random())


def step_offset(start: float, step: int) -> float:
    """The systematic offset of batch `step`: `start`, then steps of the golden ratio, so a
    source's extra row comes round at its share of the steps with no drift."""
    return (start + step * GOLDEN) % 1.0


class _Source:
    """One source's split, served from resident memory."""

    def __init__(self, info: SourceInfo, split: str, window: int, resident_tokens: int, seed: int):
        self.reader = TokenReader(info, split)
        self.window = window
        self.seed = seed
        self.key = zlib.crc32(info.path.name.encode())  # residency draws depend on the name, not the order
        self.whole = self.reader.length <= resident_tokens
        if self.whole:
            self._period = 0
            self._load([])
        else:
            lengths = [min(self.reader.chunk, self.reader.length - i * self.reader.chunk)
                       for i in range(self.reader.nchunks)]
            self.usable_chunks = np.array([i for i, n in enumerate(lengths) if n >= window])
            if len(self.usable_chunks) == 0:
                raise SamplerError(f"{self.reader.path}: chunks shorter than one window of {window} tokens")
            self.resident_chunks = max(1, min(len(self.usable_chunks), resident_tokens // self.reader.chunk))
            self._period = -1

    def _load(self, chunks: list[int]) -> None:
        if self.whole:
            spans = [self.reader.read(0, self.reader.length)]
        else:
            spans = [self.reader.read_chunk(int(i)) for i in chunks]
        self.buffer = np.concatenate(spans) if len(spans) > 1 else spans[0]
        self.bases = np.cumsum([0] + [len(s) for s in spans[:-1]])
        self.usable = np.array([len(s) - self.window + 1 for s in spans])

    def _resident(self, period: int) -> None:
        if self.whole or period == self._period:
            return
        rng = np.random.default_rng([self.seed, 1, self.key, period])
        chosen = np.sort(rng.choice(self.usable_chunks, size=self.resident_chunks, replace=False))
        self._load(list(chosen))
        self._period = period

    def windows(self, rng: np.random.Generator, count: int, period: int) -> np.ndarray:
        self._resident(period)
        if len(self.usable) == 1:
            starts = rng.integers(0, self.usable[0], size=count)
        else:
            which = rng.choice(len(self.usable), size=count, p=self.usable / self.usable.sum())
            starts = self.bases[which] + rng.integers(0, self.usable[which])
        return self.buffer[starts[:, None] + np.arange(self.window)]


class MixtureSampler:
    """Batches [batch_size, seq_len + 1] of token ids (int64) for a mixture of sources.

    `store` is a store root holding every source, or a map {source: store root}.
    `weights` must be non-negative and sum to 1; a source with weight 0 is never read.
    """

    def __init__(self, store: StorePath, sources: Sequence[str], weights: Sequence[float], seq_len: int,
                 batch_size: int, seed: int, split: str = "train", resident_tokens: int = 1 << 25):
        self.sources = list(sources)
        self.weights = [float(w) for w in weights]
        self.seq_len, self.batch_size, self.seed, self.split = seq_len, batch_size, seed, split
        _check_config(self.sources, self.weights, seq_len, batch_size, seed, split)
        infos = [open_source(store, s) for s in self.sources]
        _check_same_tokenizer(infos)
        self.tokens = {s: info.tokens(split) for s, info in zip(self.sources, infos)}
        for s, w in zip(self.sources, self.weights):
            if w > 0 and self.tokens[s] < seq_len + 1:
                raise SamplerError(f"source '{s}' has weight {w:g} but its {split} split holds {self.tokens[s]} "
                                   f"tokens, fewer than one window of seq_len + 1 = {seq_len + 1}")
        self._cumulative = cumulative(self.weights)
        self._offset_start = offset_start(seed)
        self._data = {i: _Source(info, split, seq_len + 1, resident_tokens, seed)
                      for i, (info, w) in enumerate(zip(infos, self.weights)) if w > 0}
        self.rotate_steps = max(1, resident_tokens // (batch_size * (seq_len + 1)))
        self.steps_done = 0
        self.windows_drawn = np.zeros(len(self.sources), dtype=np.int64)

    def _rows(self, step: int, weights: Sequence[float] | None = None) -> tuple[np.random.Generator, np.ndarray]:
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        rng = np.random.default_rng([self.seed, 0, step])
        edges = self._cumulative if weights is None else self._step_cumulative(weights)
        rows = systematic_rows(edges, self.batch_size, step_offset(self._offset_start, step))
        return rng, rng.permutation(rows)

    def _step_cumulative(self, weights: Sequence[float]) -> np.ndarray:
        """The cumulative weights of one step's own mixture, which may only draw on loaded sources."""
        weights = [float(w) for w in weights]
        _check_weights(self.sources, weights)
        unloaded = [s for i, (s, w) in enumerate(zip(self.sources, weights)) if w > 0 and i not in self._data]
        if unloaded:
            raise SamplerError(f"a step's mixture draws on {', '.join(unloaded)}, which this sampler was built "
                               "with weight 0 for (and did not load)")
        return cumulative(weights)

    def rows(self, step: int, weights: Sequence[float] | None = None) -> np.ndarray:
        """The source index of each row of batch `step` [batch_size], as `batch` draws them."""
        return self._rows(step, weights)[1]

    def batch(self, step: int, weights: Sequence[float] | None = None) -> np.ndarray:
        """Batch number `step`: the same array for the same (seed, step, weights), in any call order.
        `weights`: this step's own mixture (a run whose mixture changes); default, the sampler's."""
        rng, rows = self._rows(step, weights)
        out = np.empty((self.batch_size, self.seq_len + 1), dtype=np.int64)
        for i in np.unique(rows):
            picked = np.flatnonzero(rows == i)
            out[picked] = self._data[int(i)].windows(rng, len(picked), step // self.rotate_steps)
        if step >= self.steps_done:
            if weights is not None and step > self.steps_done:
                raise SamplerError(f"batch {step} asked for before batch {self.steps_done}: the epochs of a run "
                                   "whose mixture changes are counted step by step")
            self._count_through(step - 1)
            self.windows_drawn += np.bincount(rows, minlength=len(self.sources))
            self.steps_done = step + 1
        return out

    def _count_through(self, last: int) -> None:
        """Account for steps skipped over (only their source draws are needed)."""
        for step in range(self.steps_done, last + 1):
            self.windows_drawn += np.bincount(self._rows(step)[1], minlength=len(self.sources))
        self.steps_done = max(self.steps_done, last + 1)

    def epochs(self) -> dict[str, float]:
        """Epochs of each source consumed by steps 0 .. steps_done-1 (predicted tokens / split tokens)."""
        return {s: float(n) * self.seq_len / self.tokens[s] if self.tokens[s] else 0.0
                for s, n in zip(self.sources, self.windows_drawn)}

    def state_dict(self) -> dict[str, Any]:
        """Plain JSON-able state: the configuration (checked on load) and the counters."""
        return {"version": STATE_VERSION, **self._config(), "steps_done": self.steps_done,
                "windows_drawn": [int(n) for n in self.windows_drawn]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore counters saved by `state_dict` from a sampler of the same configuration."""
        if state.get("version") != STATE_VERSION:
            raise SamplerError(f"sampler state version {state.get('version')!r}, expected {STATE_VERSION}")
        for key, value in self._config().items():
            if state.get(key) != value:
                raise SamplerError(f"sampler state was saved with {key} = {state.get(key)!r}, "
                                   f"this sampler has {value!r}; resuming would change the batches")
        self.steps_done = int(state["steps_done"])
        self.windows_drawn = np.array(state["windows_drawn"], dtype=np.int64)

    def _config(self) -> dict[str, Any]:
        return {"seed": self.seed, "sources": self.sources, "weights": self.weights, "seq_len": self.seq_len,
                "batch_size": self.batch_size, "split": self.split}


def cumulative(weights: Sequence[float]) -> np.ndarray:
    """The cumulative shares of checked `weights`, exactly 1 from the last source with weight on,
    so the last edge is batch_size and a weight-0 source at the end never gets a row by rounding."""
    edges = np.cumsum(np.array(weights) / sum(weights))
    edges[max(i for i, w in enumerate(weights) if w > 0):] = 1.0
    return edges


def _check_config(sources: list[str], weights: list[float], seq_len: int, batch_size: int, seed: int,
                  split: str) -> None:
    if len(set(sources)) != len(sources):
        raise SamplerError(f"a source is named twice: {sources}")
    _check_weights(sources, weights)
    if seq_len < 1 or batch_size < 1 or seed < 0:
        raise SamplerError(f"need seq_len >= 1, batch_size >= 1, seed >= 0; got {seq_len}, {batch_size}, {seed}")
    if split not in SPLITS:
        raise SamplerError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")


def _check_weights(sources: list[str], weights: list[float]) -> None:
    if not sources or len(sources) != len(weights):
        raise SamplerError(f"need one weight per source: {len(sources)} sources, {len(weights)} weights")
    bad = [f"{s}={w}" for s, w in zip(sources, weights) if not math.isfinite(w) or w < 0]
    if bad:
        raise SamplerError(f"weights must be finite and >= 0: {', '.join(bad)}")
    total = sum(weights)
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise SamplerError(f"weights sum to {total:.9g}, not 1 ({', '.join(f'{s}={w:g}' for s, w in zip(sources, weights))})")


def _check_same_tokenizer(infos: list[SourceInfo]) -> None:
    shas = {info.record.get("tokenizer", {}).get("sha256") for info in infos}
    if len(shas) > 1:
        raise SamplerError("sources were tokenized with different tokenizers: "
                           + ", ".join(f"{i.path} ({i.record['tokenizer']['sha256'][:8]})" for i in infos))


def valid_windows(store: StorePath, source: str, seq_len: int, max_tokens: int, split: str = "valid") -> np.ndarray:
    """Evaluation windows [n, seq_len + 1] (int64) of one source, the same on every call.

    n = min(max_tokens // seq_len, (tokens - 1) // seq_len) windows, spread evenly over the
    whole split (start to end), never overlapping in the tokens they predict.
    """
    reader = TokenReader(open_source(store, source), split)
    n = min(max_tokens // seq_len, (reader.length - 1) // seq_len)
    if n < 1:
        raise SamplerError(f"source '{source}': its {split} split holds {reader.length} tokens; evaluation needs "
                           f"at least one window of seq_len + 1 = {seq_len + 1} (and max_tokens >= seq_len)")
    stride = (reader.length - 1 - seq_len) // (n - 1) if n > 1 else 0
    return np.stack([reader.read(i * stride, i * stride + seq_len + 1) for i in range(n)]).astype(np.int64)
