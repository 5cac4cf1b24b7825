"""A group's record lists its files' sizes: damage found by `stat` alone, and the note a reader leaves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mixc.runtime import store as store_mod
from mixc.runtime.store import StoreError, TokenReader, open_source
from mixc.runtime.store_record import DAMAGED, file_sizes, read_record
from tests.helpers.jobs import run_job, source, tokenize_job
from tests.helpers.paths import EXAMPLES


@pytest.fixture()
def group(tmp_path: Path, byte_tokenizer: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(store_mod, "TOKENS_CHUNK", 4096)
    job = tokenize_job(source("lit", EXAMPLES / "literature/milton.txt.gz"), byte_tokenizer, tmp_path / "st")
    assert run_job(tmp_path, job) == 0
    return tmp_path / "st" / "lit"


def test_the_record_lists_every_file_but_itself_with_its_size(group: Path) -> None:
    record = json.loads((group / "zarr.json").read_text())["attributes"]  # plain JSON, no zarr needed
    assert record["sizes"] == file_sizes(group)
    assert "train/tokens/c/3" in record["sizes"] and "zarr.json" not in record["sizes"]
    assert read_record(group) == record


def test_truncation_is_found_at_open_without_decoding(group: Path) -> None:
    chunk = group / "train" / "tokens" / "c" / "3"
    size = chunk.stat().st_size
    chunk.write_bytes(chunk.read_bytes()[: size // 2])
    with pytest.raises(StoreError) as info:
        open_source(group.parent, "lit")
    message = str(info.value)
    assert f"{chunk}: truncated or damaged chunk ({size // 2} bytes, the record lists {size})" in message
    assert f"rerun the tokenize job that wrote {group}" in message and "the next `mixc run` does" in message


def test_a_flipped_bit_leaves_a_note_every_later_reader_sees(group: Path, tmp_path: Path, byte_tokenizer: Path) -> None:
    chunk = group / "train" / "tokens" / "c" / "3"
    data = bytearray(chunk.read_bytes())
    data[30] ^= 0xFF  # same size: only zstd's checksum can tell
    chunk.write_bytes(bytes(data))
    reader = TokenReader(open_source(group.parent, "lit"), "train")
    with pytest.raises(StoreError, match=f"{chunk}: corrupt or truncated chunk .* is marked damaged"):
        reader.read(0, reader.length)
    assert json.loads((group / DAMAGED).read_text())["file"] == str(chunk)
    with pytest.raises(StoreError, match=f"{group}: marked damaged by an earlier read \\({chunk}: corrupt"):
        open_source(group.parent, "lit")  # the next reader fails at once, naming the first finding
    job = tokenize_job(source("lit", EXAMPLES / "literature/milton.txt.gz"), byte_tokenizer, tmp_path / "st")
    assert run_job(tmp_path, job) == 0  # the rebuild replaces the group, note and all
    assert not (group / DAMAGED).exists() and read_record(group)["complete"] is True
