"""Tokenizer folders: byte, bpe and hf kinds; transformers loads them; checks on load."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from tokenizers import Tokenizer
from transformers import AutoTokenizer

from mixc.jobfile import JobError
from mixc.jobs import SourceSpec
from mixc.runtime.tokenizer import EOS, load, sample_documents, token_dtype
from tests.helpers.jobs import run_job, source, tokenizer_job
from tests.helpers.paths import EXAMPLES

TEXT = "Emma Woodhouse, handsome — clever & rich.\n\tdef f(x): return x ** 2  # é ü 中文"
SMALL = [source("legal", EXAMPLES / "legal/us_founding_docs.txt.gz"), source("email", EXAMPLES / "email/chatterbot_en.txt.gz")]


@pytest.fixture(scope="module")
def bpe_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bpe") / "tok"
    assert run_job(out.parent, tokenizer_job(out, "bpe", vocab=600, sources=SMALL, sample_bytes=150_000)) == 0
    return out


def test_byte_ids_are_utf8_bytes(byte_tokenizer: Path) -> None:
    tok = load(byte_tokenizer)
    assert (tok.vocab_size, tok.eos_id, tok.dtype) == (257, 256, "uint16")
    assert tok.tokenizer.encode(TEXT, add_special_tokens=False).ids == list(TEXT.encode())
    hf = AutoTokenizer.from_pretrained(byte_tokenizer)
    assert hf.eos_token == EOS and hf.eos_token_id == 256 and len(hf) == 257
    assert hf.decode(hf(TEXT)["input_ids"]) == TEXT


def test_bpe_trains_to_the_vocab_and_round_trips(bpe_folder: Path) -> None:
    tok = load(bpe_folder)
    assert tok.vocab_size == 600 and tok.dtype == "uint16"
    assert tok.tokenizer.id_to_token(tok.eos_id) == EOS
    ids = tok.tokenizer.encode(TEXT, add_special_tokens=False).ids
    assert len(ids) < len(TEXT.encode())  # merges were learned
    hf = AutoTokenizer.from_pretrained(bpe_folder)
    assert hf(TEXT)["input_ids"] == ids and hf.decode(ids) == TEXT
    longer = (EXAMPLES / "docs/python_docs.txt.gz").read_bytes()
    longer_text = gzip.decompress(longer).decode()[:20_000]
    plain = Tokenizer.from_file(str(bpe_folder / "tokenizer.json"))  # without the larger word cache
    assert tok.tokenizer.encode(longer_text).ids == plain.encode(longer_text).ids
    meta = json.loads((bpe_folder / "mixc_tokenizer.json").read_text())
    assert meta["type"] == "bpe" and meta["vocab_size"] == 600


def test_bpe_is_deterministic(bpe_folder: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert run_job(tmp_path, tokenizer_job(again, "bpe", vocab=600, sources=SMALL, sample_bytes=150_000)) == 0
    assert (again / "tokenizer.json").read_bytes() == (bpe_folder / "tokenizer.json").read_bytes()


def test_sample_ignores_file_order_and_respects_budget(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"f{i}.txt").write_text("\n\n".join(f"doc {i}-{j} " + "x" * j for j in range(60)))
    files = [str(tmp_path / f"f{i}.txt") for i in range(3)]
    a = sample_documents(SourceSpec("s", "text", None, tuple(files)), 2000, seed=3)
    b = sample_documents(SourceSpec("s", "text", None, tuple(reversed(files))), 2000, seed=3)
    c = sample_documents(SourceSpec("s", "text", None, tuple(files)), 2000, seed=4)
    assert a == b and a != c
    assert 1500 < sum(len(d) for d in a) <= 2000


def test_hf_kind_copies_a_tokenizer_json(bpe_folder: Path, tmp_path: Path) -> None:
    plain = tmp_path / "published"
    plain.mkdir()
    shutil.copy(bpe_folder / "tokenizer.json", plain / "tokenizer.json")
    out = tmp_path / "hf"
    assert run_job(tmp_path, tokenizer_job(out, "hf", path=str(plain / "tokenizer.json"))) == 0
    tok = load(out)
    assert tok.vocab_size == 600 and tok.tokenizer.id_to_token(tok.eos_id) == EOS
    assert AutoTokenizer.from_pretrained(out)(TEXT)["input_ids"] == load(bpe_folder).tokenizer.encode(TEXT).ids


def test_hf_kind_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "junk.json").write_text("{}")
    assert run_job(tmp_path, tokenizer_job(tmp_path / "o", "hf", path=str(tmp_path / "junk.json"))) == 1
    assert "junk.json: not a loadable tokenizer.json" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_load_rejects_incomplete_or_changed_folders(bpe_folder: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(bpe_folder, copy)
    data = json.loads((copy / "tokenizer.json").read_text())
    data["added_tokens"][0]["content"] = "<other>"
    (copy / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(JobError, match="changed since it was built"):
        load(copy)
    (copy / "mixc_tokenizer.json").unlink()
    with pytest.raises(JobError, match=r"not a complete tokenizer folder \(mixc_tokenizer.json missing\)"):
        load(copy)


def test_token_dtype_threshold() -> None:
    assert token_dtype(65536) == "uint16" and token_dtype(65537) == "uint32"


def test_bpe_sample_leaves_out_held_out_documents():
    """The tokenizer never trains on the evaluation text: with holdout h, the sample holds no
    document the tokenize jobs would put in the valid split (same rule, same seed)."""
    from mixc.jobs import SourceSpec
    from mixc.runtime.split import in_valid
    from mixc.runtime.tokenizer import sample_documents

    spec = SourceSpec("lit", "text", None, (str(EXAMPLES / "literature" / "milton.txt.gz"),))
    everything = sample_documents(spec, 1 << 30, seed=3)
    held = [d for d in everything if in_valid(d, 0.2, 3)]
    assert held  # the test means something: some documents are held out at 20%
    sample = sample_documents(spec, 1 << 30, seed=3, holdout=0.2)
    assert set(sample) == set(everything) - set(held)
