"""Reading documents: blank-line text, JSONL fields, gzip, non-UTF-8 and damaged input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixc.jobfile import JobError
from mixc.jobs import SourceSpec
from mixc.runtime import corpus_io
from mixc.runtime.corpus_io import ReadStats, expand_files, iter_documents


def text_spec(*files: Path, name: str = "s") -> SourceSpec:
    return SourceSpec(name, "text", None, tuple(str(f) for f in files))


def docs_of(spec: SourceSpec) -> list[str]:
    return list(iter_documents(spec))


def test_text_documents_split_on_blank_lines(tmp_path: Path) -> None:
    raw = "first line\nsecond line\n\n\n   \nnext doc\r\n\t\nlast\nno newline at end"
    (tmp_path / "a.txt").write_text(raw)
    (tmp_path / "b.txt.gz").write_bytes(gzip.compress(raw.encode()))
    expected = ["first line\nsecond line", "next doc", "last\nno newline at end"]
    assert docs_of(text_spec(tmp_path / "a.txt")) == expected
    assert docs_of(text_spec(tmp_path / "b.txt.gz")) == expected
    stats = ReadStats()
    assert len(list(iter_documents(text_spec(tmp_path / "*.txt*"), stats))) == 6
    assert (stats.files, stats.documents, stats.bytes) == (2, 6, 2 * len(raw.encode()))


def test_gzip_is_recognised_by_content_not_name(tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_bytes(gzip.compress(b"zipped anyway\n"))
    assert docs_of(text_spec(tmp_path / "plain.txt")) == ["zipped anyway"]


def test_files_are_expanded_sorted_without_duplicates(tmp_path: Path) -> None:
    for name in ["b.txt", "a.txt", "c.md"]:
        (tmp_path / name).write_text(name)
    files = expand_files(text_spec(tmp_path / "*.txt", tmp_path / "a.txt", tmp_path / "c.md"))
    assert [f.name for f in files] == ["a.txt", "b.txt", "c.md"]
    with pytest.raises(JobError, match=r"pattern '.*nothing\*\.txt' matches no files"):
        expand_files(text_spec(tmp_path / "a.txt", tmp_path / "nothing*.txt"))


def test_jsonl_reads_the_named_field(tmp_path: Path) -> None:
    lines = [json.dumps({"text": "one\n\ntwo paragraphs", "id": 1}), "", json.dumps({"text": ""}),
             json.dumps({"text": "third é"})]
    (tmp_path / "d.jsonl.gz").write_bytes(gzip.compress(("\n".join(lines)).encode()))
    stats = ReadStats()
    spec = SourceSpec("j", "jsonl", "text", (str(tmp_path / "d.jsonl.gz"),))
    assert list(iter_documents(spec, stats)) == ["one\n\ntwo paragraphs", "third é"]
    assert stats.skipped_empty == 1 and stats.documents == 2


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"body": "x"}', r"d.jsonl:2: no field 'text' \(fields: body\)"),
        ('{"text": 3}', r"d.jsonl:2: field 'text' must be a string, got int"),
        ('["text"]', r"d.jsonl:2: expected a JSON object, got list"),
        ('{"text": "x"', r"d.jsonl:2:\d+: not valid JSON"),
    ],
)
def test_bad_jsonl_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "d.jsonl").write_text('{"text": "fine"}\n' + line + "\n")
    with pytest.raises(JobError, match=message):
        docs_of(SourceSpec("j", "jsonl", "text", (str(tmp_path / "d.jsonl"),)))


@pytest.mark.parametrize("suffix, pack", [(".txt", lambda b: b), (".txt.gz", gzip.compress)])
def test_non_utf8_names_file_and_byte_offset(tmp_path: Path, suffix: str, pack) -> None:
    data = b"good text\n\ncaf\xc3\xa9 ok\nbad \xe9 here\n"
    path = tmp_path / f"latin{suffix}"
    path.write_bytes(pack(data))
    with pytest.raises(JobError) as info:
        docs_of(text_spec(path))
    offset = data.index(b"\xe9 here")
    assert f"{path}: not UTF-8 at byte {offset}" in str(info.value)


def test_truncated_character_at_end_of_file(tmp_path: Path) -> None:
    data = "ok\n\nend é".encode()[:-1]
    (tmp_path / "t.txt").write_bytes(data)
    with pytest.raises(JobError, match=f"not UTF-8 at byte {len(data) - 1}"):
        docs_of(text_spec(tmp_path / "t.txt"))


def test_truncated_gzip_names_the_file(tmp_path: Path) -> None:
    packed = gzip.compress(("lorem ipsum dolor\n" * 5000).encode())
    (tmp_path / "cut.txt.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(JobError, match=r"cut.txt.gz: unreadable after byte \d+"):
        docs_of(text_spec(tmp_path / "cut.txt.gz"))


def test_long_lines_and_documents_stay_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpus_io, "MAX_LINE_BYTES", 7)
    monkeypatch.setattr(corpus_io, "MAX_DOC_BYTES", 40)
    long_line = "ééééé long line with multibyte é characters split across reads"
    doc = "\n".join(f"line {i} é" for i in range(12))
    (tmp_path / "l.txt").write_text(f"{long_line}\n\n{doc}\n")
    got = docs_of(text_spec(tmp_path / "l.txt"))
    assert got[0] == long_line
    assert "\n".join(got[1:]) == doc  # the long document is cut at line boundaries only
    assert len(got) > 2 and all(len(d.encode()) < 40 + 12 for d in got[1:])


paragraph = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
                    min_size=1, max_size=60).filter(lambda s: s.strip() and all(line.strip() for line in s.split("\n")))


@settings(max_examples=60, deadline=None)
@given(docs=st.lists(paragraph, min_size=1, max_size=8), line_cap=st.integers(1, 9))
def test_round_trip_any_documents(tmp_path_factory, docs: list[str], line_cap: int) -> None:
    path = tmp_path_factory.mktemp("rt") / "r.txt.gz"
    path.write_bytes(gzip.compress(("\n\n".join(docs) + "\n").encode()))
    saved = corpus_io.MAX_LINE_BYTES
    corpus_io.MAX_LINE_BYTES = line_cap  # hypothesis forbids function-scoped monkeypatch
    try:
        assert docs_of(text_spec(path)) == docs
    finally:
        corpus_io.MAX_LINE_BYTES = saved


def test_jsonl_lines_longer_than_the_read_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpus_io, "MAX_LINE_BYTES", 5)
    docs = ["a long document é with ünïcode spanning many reads", "short", "last line has no newline"]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps({"t": d}, ensure_ascii=False) for d in docs))
    assert docs_of(SourceSpec("j", "jsonl", "t", (str(tmp_path / "d.jsonl"),))) == docs
