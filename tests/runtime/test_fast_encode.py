"""The fast BPE encoder gives exactly the ids of `tokenizers`, or is refused for the tokenizer.

Checked on a tokenizer trained here on every example domain: real text of each domain, hard
cases (unicode, whitespace runs, digits, code, the end-of-text text inside a document), a
sweep of code points from every script, long words and random strings of tokens; then the
tokenizers it must refuse, and whole tokenize jobs (the store is the same either way).
"""

from __future__ import annotations

import copy
import gzip
import json
import random
from pathlib import Path

import numpy as np
import pytest
import zarr
from tokenizers import Tokenizer

from mixc.runtime.fast_bpe import NotReproducible, build, bytes_to_unicode
from mixc.runtime.tokenizer import EOS, LoadedTokenizer, encode_batch, load
from tests.helpers.jobs import run_job, source, tokenize_job, tokenizer_job
from tests.helpers.paths import EXAMPLES

FILES = sorted(EXAMPLES.glob("*/*.txt.gz"))
DOMAINS = sorted({f.parent.name for f in FILES})

HARD = [
    "Emma Woodhouse, handsome — clever & rich.\n\tdef f(x): return x ** 2  # é ü 中文",
    "don't I'd we'll they've she's it'S YOU'LL O'Neil 'twas '' ''' 'x",
    "    indented\n\n\n\t\t  \n   trailing   \r\n\r\nCRLF\r\n \u00a0nbsp\u3000ideographic\u2028line\u0085nel",
    "tabs\t\t\tand\x0bvertical\x0cform feed   \u200b zero width\u200d joiner \ufeff bom",
    "1234567890 3.14159 1,000,000 0x7fff 1e-9 ½ ² ⅻ ١٢٣ ١٢٣٤ 12３４ 五十 ⓵",
    "for (int i = 0; i < n; ++i) { a[i] += b[i] >> 2; }  // C\nx = {'k': [1, 2]}  # py\n<div class=\"a\">&amp;</div>",
    "naïve café résumé Ελληνικά русский עברית العربية हिन्दी தமிழ் ไทย 한국어 日本語の文章",
    "emoji 👩‍👩‍👧‍👦 🇫🇷 👍🏽 e\u0301 a\u0308\u0304 combining  ̈ alone",
    "math ∑∫√∞ ≤≥ ≠ → ⇒ ∀x∃y: x∈ℝ  ℌ ℵ₀ x² y₃",
    "a" * 3000 + " " + " " * 5000 + "\n" * 300 + "-" * 4000 + "!" * 1000 + "9" * 2000,
    "text with " + EOS + " inside, twice" + EOS + EOS + " and a partial <|endoftext| one",
    EOS,
    "<|endoftext|" + EOS + "|>",
    " ",
    "x",
    "\n",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fast") / "tok"
    sources = [source(d, *sorted((EXAMPLES / d).glob("*.txt.gz"))) for d in DOMAINS]
    assert run_job(out.parent, tokenizer_job(out, "bpe", vocab=2000, sources=sources, sample_bytes=900_000)) == 0
    return out


@pytest.fixture(scope="module")
def fast(folder: Path) -> LoadedTokenizer:
    tok = load(folder)
    assert tok.fast is not None, tok.fast_refused
    return tok


@pytest.fixture(scope="module")
def slow(folder: Path) -> LoadedTokenizer:
    tok = load(folder, fast=False)
    assert tok.fast is None
    return tok


def assert_same(fast: LoadedTokenizer, slow: LoadedTokenizer, docs: list[str]) -> None:
    ours, theirs = encode_batch(fast, docs), encode_batch(slow, docs)
    assert len(ours) == len(theirs) == len(docs)
    for doc, a, b in zip(docs, ours, theirs):
        assert a.dtype == b.dtype and a[-1] == slow.eos_id
        assert np.array_equal(a, b), f"differs on {doc[:80]!r}"


def documents(file: Path, limit: int) -> list[str]:
    text = gzip.decompress(file.read_bytes()).decode()[:limit]
    return [d for d in text.split("\n\n") if d.strip()]


def store_arrays(store: Path, name: str) -> dict[str, np.ndarray]:
    return {f"{split}/{a}": zarr.open_array(str(store / name / split / a), mode="r")[:]
            for split in ("train", "valid") for a in ("tokens", "doc_offsets")}


@pytest.mark.parametrize("file", FILES, ids=lambda f: f"{f.parent.name}/{f.name.split('.')[0]}")
def test_same_ids_on_every_example_file(fast: LoadedTokenizer, slow: LoadedTokenizer, file: Path) -> None:
    assert_same(fast, slow, documents(file, 120_000))


def test_same_ids_on_hard_text(fast: LoadedTokenizer, slow: LoadedTokenizer) -> None:
    assert_same(fast, slow, HARD)
    mixed = [doc for file in FILES[:3] for doc in documents(file, 20_000)] + HARD  # one batch: joined and alone
    random.Random(0).shuffle(mixed)
    assert_same(fast, slow, mixed)
    long_words = ["".join(random.Random(n).choice("acgt ") for _ in range(n)) for n in (10_000, 60_000)]
    assert_same(fast, slow, long_words + ["".join(random.Random(1).choice("abcdefghij") for _ in range(60_000))])


def test_same_ids_on_code_points_of_every_script(fast: LoadedTokenizer, slow: LoadedTokenizer) -> None:
    """Letters, digits, spaces and marks of every script: both regex engines must classify them alike.
    (Every code point was checked once; the test keeps those below U+3400 and a stride above.)"""
    points = [c for c in [*range(1, 0x3400), *range(0x3400, 0x110000, 37)] if not 0xD800 <= c < 0xE000]
    docs = ["".join(f"x{chr(c)}y {chr(c)}{chr(c)}1{chr(c)} '{chr(c)}\n" for c in points[i : i + 200])
            for i in range(0, len(points), 200)]
    assert_same(fast, slow, docs)


def test_same_ids_on_random_strings_of_tokens(fast: LoadedTokenizer, slow: LoadedTokenizer) -> None:
    """Adjacent tokens in every combination: where the two merge rules could disagree, they would here."""
    decode = {ch: b for b, ch in bytes_to_unicode().items()}
    tokens = [bytes(decode[ch] for ch in t) for t, i in fast.tokenizer.get_vocab().items() if i != fast.eos_id]
    rng = random.Random(0)
    docs: list[str] = []
    while len(docs) < 20_000:
        try:
            docs.append(b"".join(rng.choice(tokens) for _ in range(rng.randint(2, 6))).decode())
        except UnicodeDecodeError:  # a string of tokens that is not UTF-8: no document holds it
            continue
    assert_same(fast, slow, docs)


def spec_of(folder: Path) -> dict:
    return json.loads((folder / "tokenizer.json").read_text())


def tiny_spec(merges: list[list[str]], extra: dict[str, int], ignore_merges: bool = False) -> dict:
    """A byte-level BPE: <eos>, the 256 bytes, then `extra`."""
    vocab = {"<eos>": 0, **{ch: b + 1 for b, ch in bytes_to_unicode().items()}, **extra}
    eos = {"id": 0, "content": "<eos>", "single_word": False, "lstrip": False, "rstrip": False,
           "normalized": False, "special": True}
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [eos], "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            "post_processor": None, "decoder": None,
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                      "ignore_merges": ignore_merges, "vocab": vocab, "merges": merges}}


def change(spec: dict, path: str, value: object) -> dict:
    out = copy.deepcopy(spec)
    *keys, last = path.split(".")
    node = out
    for key in keys:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[last] = value
    return out


def swapped_merges(spec: dict) -> dict:
    out = copy.deepcopy(spec)
    merges = out["model"]["merges"]
    merges[5], merges[6] = merges[6], merges[5]
    return out


def with_added(spec: dict, *contents: str) -> dict:
    out = copy.deepcopy(spec)
    start = len(out["model"]["vocab"])
    out["added_tokens"] += [{"id": start + i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                             "normalized": False, "special": True} for i, c in enumerate(contents)]
    return out


REFUSALS = {
    "normalizer": (lambda s: change(s, "normalizer", {"type": "NFKC"}), "a normalizer"),
    "prefix space": (lambda s: change(s, "pre_tokenizer.add_prefix_space", True), "pre-tokenizer"),
    "whitespace split": (lambda s: change(s, "pre_tokenizer", {"type": "Whitespace"}), "pre-tokenizer"),
    "dropout": (lambda s: change(s, "model.dropout", 0.1), "dropout"),
    "suffix": (lambda s: change(s, "model.end_of_word_suffix", "</w>"), "suffix"),
    "truncation": (lambda s: change(s, "truncation", {"direction": "Right", "max_length": 512, "strategy":
                                                      "LongestFirst", "stride": 0}), "truncation"),
    "merge order": (swapped_merges, "merge order"),
    "lstrip": (lambda s: change(s, "added_tokens.0.lstrip", True), "strips spaces"),
    "overlapping added tokens": (lambda s: with_added(s, "|>x", "<|im_end|>"), "can overlap"),
}


@pytest.mark.parametrize("name", REFUSALS)
def test_refused_where_the_ids_could_differ(folder: Path, name: str) -> None:
    edit, reason = REFUSALS[name]
    with pytest.raises(NotReproducible, match=reason):
        build(Tokenizer.from_str(json.dumps(edit(spec_of(folder)))), EOS)


@pytest.mark.parametrize("ignore_merges", [False, True])
def test_refused_when_a_token_is_not_its_own_encoding(ignore_merges: bool) -> None:
    """'abc' made of a + bc while a + b merges first: tokenizers encodes "abcd" as ab c d, a rule
    merging any adjacent pair that forms a token would give abc d."""
    spec = tiny_spec([["a", "b"], ["b", "c"], ["a", "bc"]], {"ab": 257, "bc": 258, "abc": 259}, ignore_merges)
    tok = Tokenizer.from_str(json.dumps(spec))
    assert tok.encode("abcd").tokens == ["ab", "c", "d"]
    with pytest.raises(NotReproducible, match=r"b'abc' does not encode as itself"):
        build(tok, "<eos>")


def test_byte_tokenizer_is_left_to_tokenizers(byte_tokenizer: Path) -> None:
    tok = load(byte_tokenizer)
    assert tok.fast is None and "pre-tokenizer" in tok.fast_refused


def test_imported_tokenizers_fast_when_reproducible(folder: Path, tmp_path: Path,
                                                    slow: LoadedTokenizer) -> None:
    """A `hf` folder: a copy of ours gets the fast encoder; with more (non-overlapping) added tokens
    too, matched inside documents as tokenizers matches them; with a normalizer, it is refused."""
    cases = {"copy": spec_of(folder), "chat": with_added(spec_of(folder), "<|im_start|>", "<|im_end|>"),
             "nfkc": change(spec_of(folder), "normalizer", {"type": "NFKC"})}
    text = ["<|im_start|>user\nhello <|im_end|>" + EOS + "<|im_end|><|im_start|>", *HARD]
    for name, spec in cases.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "tokenizer.json").write_text(json.dumps(spec))
        assert run_job(tmp_path, tokenizer_job(tmp_path / f"{name}-tok", "hf", path=str(tmp_path / name))) == 0
        fast, hf = load(tmp_path / f"{name}-tok"), load(tmp_path / f"{name}-tok", fast=False)
        assert (fast.fast is None) == (name == "nfkc"), fast.fast_refused
        assert_same(fast, hf, text)
    assert not load(tmp_path / "chat-tok").fast.joinable and load(tmp_path / "copy-tok").fast.joinable
    assert_same(load(tmp_path / "copy-tok"), slow, text)


def test_tokenize_job_writes_the_same_store_whatever_the_encoder_and_threads(
        folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """The store a tokenize job writes does not depend on the encoder or on the number of threads."""
    files = [tmp_path / "a.txt", EXAMPLES / "legal/licenses.txt.gz"]
    files[0].write_text("first\n\nholds " + EOS + " inside\n\n" + "\n\n".join(HARD))
    # small batches: many of them in flight, finishing out of order
    monkeypatch.setattr("mixc.runtime.tokenize_job.BATCH_BYTES", 4096)
    stores = {}
    for encoder, threads in [("hf", "1"), ("auto", "1"), ("auto", "2"), ("auto", "3")]:
        monkeypatch.setenv("MIXC_BPE_ENCODER", encoder)
        monkeypatch.setenv("OMP_NUM_THREADS", threads)
        store = tmp_path / f"store-{encoder}-{threads}"
        assert run_job(tmp_path, tokenize_job(source("s", *files), folder, store, holdout=0.1)) == 0
        out = capsys.readouterr().out
        assert ("runtime.fast_bpe" in out) == (encoder == "auto"), out
        stores[encoder, threads] = store_arrays(store, "s")
    reference = stores["hf", "1"]
    assert len(reference["train/doc_offsets"]) > 100 and len(reference["valid/doc_offsets"]) > 5
    for key, arrays in stores.items():
        for name, array in arrays.items():
            assert np.array_equal(array, reference[name]), (key, name)


def test_the_store_of_an_unreproducible_import_is_tokenizers(folder: Path, fast: LoadedTokenizer,
                                                             tmp_path: Path) -> None:
    """A tokenizer the fast encoder refuses (here one with a normalizer) is encoded by tokenizers."""
    (tmp_path / "nfkc").mkdir()
    (tmp_path / "nfkc" / "tokenizer.json").write_text(json.dumps(change(spec_of(folder), "normalizer",
                                                                        {"type": "NFKC"})))
    assert run_job(tmp_path, tokenizer_job(tmp_path / "tok", "hf", path=str(tmp_path / "nfkc"))) == 0
    lines = [line for doc in [*documents(EXAMPLES / "email/chatterbot_en.txt.gz", 50_000), *HARD]
             for line in doc.splitlines() if line.strip()] + ["ﬁne ligature, ½ and １２３ full width"]
    (tmp_path / "e.txt").write_text("\n\n".join(lines))  # one document a line
    assert run_job(tmp_path, tokenize_job(source("e", tmp_path / "e.txt"), tmp_path / "tok", tmp_path / "st",
                                          holdout=0.0)) == 0
    tok = load(tmp_path / "tok")
    assert tok.fast is None and "normalizer" in tok.fast_refused
    stored = store_arrays(tmp_path / "st", "e")["train/tokens"]
    assert np.array_equal(stored, np.concatenate(encode_batch(tok, lines)))
    assert not np.array_equal(stored, np.concatenate(encode_batch(fast, lines)))  # the normalizer mattered
