"""Rebuild the example corpus in examples/data/ from the shared six-domain corpus.

    python examples/data/build.py [--corpus ../shared/corpus]

Only files whose licence is public domain or permissive are used (the table below, checked
against the corpus's MANIFEST.tsv). Each output file is the leading whole documents of
its input (documents are separated by a blank line), up to a per-file share of the
domain's compressed budget. Output is gzip with a zero timestamp, so a rebuild from the
same corpus is byte-identical. Writes <domain>/<name>.txt.gz and MANIFEST.tsv.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOMAIN_BUDGET = 400_000  # compressed bytes per domain (limit: 500 KB)
TOTAL_LIMIT = 3_000_000  # compressed bytes in all

# example domain -> files of the shared corpus (all public domain or permissively licensed)
PLAN: dict[str, list[str]] = {
    "literature": ["literature/austen.txt.gz", "literature/kjv_bible.txt.gz",
                   "literature/milton.txt.gz", "literature/shakespeare.txt.gz"],
    "code": ["code/python.txt.gz", "code/javascript.txt.gz"],
    "legal": ["legal/licenses.txt.gz", "legal/license_notices.txt.gz", "legal/us_founding_docs.txt.gz"],
    "dictionary": ["dictionary/wordnet.txt.gz"],
    "email": ["email_chat/spamassassin_ham.txt.gz", "email_chat/chatterbot_en.txt.gz"],
    "docs": ["tech_docs/python_docs.txt.gz"],
}
PERMISSIVE = ("public domain", "MIT", "BSD", "PSF", "PDDL", "CC0", "CC-BY-4.0", "WordNet")


def documents(text: str) -> list[str]:
    """Documents of a text file: runs of lines separated by blank lines."""
    docs, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line)
        elif current:
            docs.append("\n".join(current))
            current = []
    if current:
        docs.append("\n".join(current))
    return docs


def gzip_bytes(text: str) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0, filename="") as f:
        f.write(text.encode("utf-8"))
    return out.getvalue()


def leading_documents(docs: list[str], budget: int) -> tuple[str, int]:
    """The longest run of leading documents whose gzip fits in `budget` (binary search)."""
    lo, hi = 1, len(docs)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(gzip_bytes("\n\n".join(docs[:mid]) + "\n")) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return "\n\n".join(docs[:lo]) + "\n", lo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=HERE.parents[2] / "shared" / "corpus")
    args = parser.parse_args(argv)
    manifest_in = args.corpus / "MANIFEST.tsv"
    if not manifest_in.is_file():
        print(f"error: {manifest_in}: not found (pass --corpus)", file=sys.stderr)
        return 2
    licences = {row["file"]: row for row in csv.DictReader(manifest_in.open(), delimiter="\t")}
    rows, total = [], 0
    for domain, files in PLAN.items():
        (HERE / domain).mkdir(exist_ok=True)
        # Equal shares of the budget, smallest file first: a file smaller than its share is
        # taken whole and what it leaves over goes to the larger ones.
        files = sorted(files, key=lambda f: (args.corpus / f).stat().st_size)
        left = DOMAIN_BUDGET
        domain_bytes = 0
        for k, f in enumerate(files):
            info = licences[f]
            if not any(word in info["licence"] for word in PERMISSIVE):
                print(f"error: {f}: licence {info['licence']!r} is not on the permissive list", file=sys.stderr)
                return 1
            budget = left // (len(files) - k)
            text, ndocs = leading_documents(documents(gzip.decompress((args.corpus / f).read_bytes()).decode()), budget)
            data = gzip_bytes(text)
            out = HERE / domain / Path(f).name
            out.write_bytes(data)
            domain_bytes += len(data)
            left -= len(data)
            rows.append([f"{domain}/{out.name}", f, info["package"], info["licence"], len(text.encode()),
                         len(data), ndocs, hashlib.sha256(data).hexdigest()])
        if domain_bytes > 500_000:
            print(f"error: {domain}: {domain_bytes} compressed bytes, over 500 KB", file=sys.stderr)
            return 1
        total += domain_bytes
        print(f"{domain:11s} {domain_bytes:8d} bytes compressed")
    if total > TOTAL_LIMIT:
        print(f"error: {total} compressed bytes in all, over {TOTAL_LIMIT}", file=sys.stderr)
        return 1
    with (HERE / "MANIFEST.tsv").open("w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(["file", "from", "package", "licence", "bytes", "gzip_bytes", "documents", "sha256"])
        writer.writerows(rows)
    print(f"{'total':11s} {total:8d} bytes compressed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
