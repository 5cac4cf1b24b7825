"""The tokenize job and its zarr store: contents, split, atomicity, damage and bad input."""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from mixc.jobs import SourceSpec
from mixc.runtime import store as store_mod
from mixc.runtime.corpus_io import iter_documents
from mixc.runtime.store import StoreError, TokenReader, open_source, token_counts
from mixc.runtime.split import in_valid
from tests.helpers.jobs import run_job, source, tokenize_job, write_job
from tests.helpers.paths import EXAMPLES, ROOT


def decoded_documents(store: Path, name: str, split: str) -> list[str]:
    """Documents of a split, recovered from the tokens (byte tokenizer: id == byte, 256 == end)."""
    tokens = TokenReader(open_source(store, name), split).read(0, open_source(store, name).tokens(split))
    cuts = np.flatnonzero(tokens == 256)
    assert len(cuts) == 0 or cuts[-1] == len(tokens) - 1  # every document ends with end-of-text
    return [bytes(part[:-1].astype(np.uint8)).decode() for part in np.split(tokens, cuts + 1)[:-1]]


def test_store_holds_exactly_the_documents(example_store: Path) -> None:
    info = open_source(example_store, "legal")
    spec = SourceSpec("legal", "text", None, (str(EXAMPLES / "legal/us_founding_docs.txt.gz"),))
    docs = list(iter_documents(spec))
    train, valid = decoded_documents(example_store, "legal", "train"), decoded_documents(example_store, "legal", "valid")
    assert train == [d for d in docs if not in_valid(d, 0.1, 0)]
    assert valid == [d for d in docs if in_valid(d, 0.1, 0)]
    assert info.documents("train") == len(train) and info.documents("valid") == len(valid)
    assert info.tokens("train") == sum(len(d.encode()) + 1 for d in train)
    offsets = np.asarray(zarr.open_array(str(info.path / "train" / "doc_offsets"))[:])
    assert offsets.tolist() == np.cumsum([0] + [len(d.encode()) + 1 for d in train[:-1]]).tolist()
    record = json.loads((info.path / "zarr.json").read_text())["attributes"]  # readable without zarr
    assert record["complete"] is True and record["dtype"] == "uint16" and record["tokenizer"]["vocab_size"] == 257
    assert token_counts(example_store)["legal"] == {"train": info.tokens("train"), "valid": info.tokens("valid")}
    assert set(token_counts(example_store)) == {"legal", "email", "literature"}


def test_holdout_fraction_and_stability_when_files_are_added(tmp_path: Path, byte_tokenizer: Path) -> None:
    rng = random.Random(0)
    for part in range(2):
        docs = [" ".join(rng.choice(["alpha", "beta", "gamma", "delta"]) for _ in range(8)) + f" {part}-{i}"
                for i in range(1500)]
        (tmp_path / f"p{part}.txt").write_text("\n\n".join(docs))
    assert run_job(tmp_path, tokenize_job(source("s", tmp_path / "p0.txt"), byte_tokenizer, tmp_path / "a", 0.2, 7)) == 0
    assert run_job(tmp_path, tokenize_job(source("s", tmp_path / "p*.txt"), byte_tokenizer, tmp_path / "b", 0.2, 7)) == 0
    first = decoded_documents(tmp_path / "a", "s", "valid")
    both = decoded_documents(tmp_path / "b", "s", "valid")
    assert both[: len(first)] == first  # p0's held-out documents stay held out
    assert abs(len(both) / 3000 - 0.2) < 0.03  # ~ 4.6 standard deviations wide


def test_rerun_replaces_the_store(tmp_path: Path, byte_tokenizer: Path) -> None:
    (tmp_path / "a.txt").write_text("one\n\ntwo")
    job = tokenize_job(source("s", tmp_path / "a.txt"), byte_tokenizer, tmp_path / "st", holdout=0.0)
    assert run_job(tmp_path, job) == 0
    (tmp_path / "a.txt").write_text("three")
    assert run_job(tmp_path, job) == 0
    assert decoded_documents(tmp_path / "st", "s", "train") == ["three"]
    assert sorted(p.name for p in (tmp_path / "st").iterdir()) == ["s", "zarr.json"]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\n\n  \n", "source 's': no documents in 1 file(s)"),
        (b"fine\n\nbad \xff byte\n", "not UTF-8 at byte 10"),
    ],
)
def test_bad_sources_fail_and_leave_nothing(tmp_path: Path, byte_tokenizer: Path, capsys, content: bytes,
                                            message: str) -> None:
    (tmp_path / "x.txt").write_bytes(content)
    assert run_job(tmp_path, tokenize_job(source("s", tmp_path / "x.txt"), byte_tokenizer, tmp_path / "st")) == 1
    assert message in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "st").iterdir()] == ["zarr.json"]  # no source, no leftovers
    with pytest.raises(StoreError, match="no token store for source 's'"):
        open_source(tmp_path / "st", "s")


def test_killed_job_leaves_no_complete_looking_store(tmp_path: Path, byte_tokenizer: Path) -> None:
    big = tmp_path / "big.txt"
    with big.open("w") as f:
        for i in range(100_000):
            f.write(f"document {i} has a few words in it\n\n")
    job = write_job(tmp_path, tokenize_job(source("s", big), byte_tokenizer, tmp_path / "st"))
    proc = subprocess.Popen([sys.executable, "-m", "mixc.runtime", str(job)], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not list((tmp_path / "st").glob(".s.tmp-*")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)
    assert proc.poll() is None, "the job finished before it could be killed mid-write"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "st" / "s").exists()
    with pytest.raises(StoreError, match="no token store"):
        open_source(tmp_path / "st", "s")
    assert run_job(tmp_path, json.loads(job.read_text())) == 0  # the rerun builds it and clears the debris
    assert sorted(p.name for p in (tmp_path / "st").iterdir()) == ["s", "zarr.json"]
    assert open_source(tmp_path / "st", "s").documents("train") + open_source(tmp_path / "st", "s").documents("valid") == 100_000


@pytest.fixture()
def chunked_store(tmp_path: Path, byte_tokenizer: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(store_mod, "TOKENS_CHUNK", 4096)
    job = tokenize_job(source("lit", EXAMPLES / "literature/milton.txt.gz"), byte_tokenizer, tmp_path / "st")
    assert run_job(tmp_path, job) == 0
    return tmp_path / "st"


def test_chunks_hold_the_same_tokens_as_one_read(chunked_store: Path) -> None:
    reader = TokenReader(open_source(chunked_store, "lit"), "train")
    assert reader.chunk == 4096 and reader.nchunks > 10
    whole = reader.read(0, reader.length)
    assert np.array_equal(reader.read(4000, 9000), whole[4000:9000])
    assert np.array_equal(np.concatenate([reader.read_chunk(i) for i in range(reader.nchunks)]), whole)


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "flip":
        path.write_bytes(data[:30] + bytes([data[30] ^ 0xFF]) + data[31:])
    elif how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.unlink()


@pytest.mark.parametrize("how", ["flip", "truncate", "delete"])
def test_damaged_chunk_is_named(chunked_store: Path, how: str) -> None:
    chunk = open_source(chunked_store, "lit").path / "train" / "tokens" / "c" / "3"
    damage(chunk, how)
    with pytest.raises(StoreError) as info:
        TokenReader(open_source(chunked_store, "lit"), "train").read(0, 5 * 4096)
    assert str(chunk) in str(info.value) and "rerun the tokenize job" in str(info.value)


def test_damaged_or_incomplete_record(chunked_store: Path) -> None:
    meta = chunked_store / "lit" / "zarr.json"
    record = json.loads(meta.read_text())
    meta.write_text(meta.read_text()[:50])
    with pytest.raises(StoreError, match=f"{meta}: corrupt store record"):
        open_source(chunked_store, "lit")
    record["attributes"]["complete"] = False
    meta.write_text(json.dumps(record))
    with pytest.raises(StoreError, match="incomplete token store"):
        open_source(chunked_store, "lit")


def test_cli_reports_a_damaged_store_and_a_rerun_rebuilds(tmp_path: Path, byte_tokenizer: Path) -> None:
    (tmp_path / "a.txt.gz").write_bytes(gzip.compress(b"some text\n\nmore text\n"))
    job = tokenize_job(source("s", tmp_path / "a.txt.gz"), byte_tokenizer, tmp_path / "st", holdout=0.0)
    assert run_job(tmp_path, job) == 0
    damage(tmp_path / "st" / "s" / "train" / "tokens" / "c" / "0", "truncate")
    with pytest.raises(StoreError):
        TokenReader(open_source(tmp_path / "st", "s"), "train").read(0, 5)
    assert run_job(tmp_path, job) == 0
    assert decoded_documents(tmp_path / "st", "s", "train") == ["some text", "more text"]


def test_a_file_unit_keeps_each_file_on_one_side(tmp_path: Path, byte_tokenizer: Path) -> None:
    """unit "file": a whole file is one document, its split decided once, so no file has text on
    both sides of the held-out split (by paragraphs, neighbouring chunks of one file would)."""
    from mixc.runtime.corpus_io import iter_units
    from mixc.runtime.store import open_source

    for i in range(40):
        (tmp_path / f"f{i:02d}.txt").write_text("\n\n".join(f"file {i} paragraph {j}" for j in range(5)) + "\n")
    files = source("f", str(tmp_path / "f*.txt"), unit="file")
    units = list(iter_units(SourceSpec("f", "text", None, (str(tmp_path / "f*.txt"),), "file")))
    assert len(units) == 40 and all(key == doc and doc.count("paragraph") == 5 for key, doc in units)
    assert run_job(tmp_path, tokenize_job(files, byte_tokenizer, tmp_path / "s", holdout=0.3)) == 0
    splits = open_source(tmp_path / "s", "f").record["splits"]
    assert splits["train"]["documents"] + splits["valid"]["documents"] == 40
    assert 0 < splits["valid"]["documents"] < 40
