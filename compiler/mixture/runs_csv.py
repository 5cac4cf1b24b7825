"""Runs made anywhere: read a CSV of mixtures and a CSV of measured losses, joined on an id.

The id column is the first column unless named. Mixture columns are the sources (every
column but the id); loss columns are looked up by name. Blank lines (and lines of empty
cells) are skipped; a UTF-8 byte-order mark is allowed. Every problem is a `RunsError`
naming the file, the row (by id, with its CSV line number) and the column, and saying
what to do: an empty or repeated id, ids present in one file only, a header with no runs,
fewer than two runs, a missing or unnamed column, a cell that is empty, not a number, NaN
or infinite, a negative weight, a row of zero weights, a row whose weights do not sum to
one within `SUM_TOLERANCE`, the same mixture in every run or a loss column with the same
value in every run (either way, nothing to fit).
An unreadable file is left as the OSError it is (an I/O error, not bad data).

Sums: each row is divided by its sum. A row off by more than float round-off
(`ROUNDOFF`) but within `SUM_TOLERANCE` (0.01) is normalised with a warning: published
mixtures are rounded, often to 2 or 3 decimals per source, so ten or more sources can sum
to 0.995 or 1.005 with nothing wrong; a row off by more than 0.01 is more likely a
forgotten source, a percentage or a typo, and is an error. Warnings (also a mixture column
with the same weight in every run, whose source's effect no law can learn) are returned in
`Runs.warnings`, not printed. This module reads; it fits nothing.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SUM_TOLERANCE = 0.01  # published mixtures are often rounded to 3 decimals per source
ROUNDOFF = 1e-9  # sums closer to 1 than this are float round-off: normalised silently
MIN_RUNS = 2


class RunsError(ValueError):
    pass


@dataclass(frozen=True)
class Table:
    path: str
    id_column: str
    columns: tuple[str, ...]  # without the id
    rows: dict[str, tuple[str, ...]]  # id -> raw cells, in `columns` order
    lines: dict[str, int] = field(default_factory=dict)  # id -> the CSV line its row starts on

    def where(self, rid: str) -> str:
        """`path:line: id rid`, the prefix of a message about one row."""
        line = self.lines.get(rid)
        return f"{self.path}{'' if line is None else f':{line}'}: id {rid}"


@dataclass(frozen=True)
class Runs:
    ids: tuple[str, ...]
    sources: tuple[str, ...]
    mixtures: np.ndarray  # (runs, sources), each row renormalised to sum 1
    targets: tuple[str, ...]
    losses: np.ndarray  # (runs, targets)
    warnings: tuple[str, ...] = ()  # problems that did not stop the read (rounded sums, constant sources)


def _records(path: str) -> list[tuple[int, list[str]]]:
    """(the line each record starts on, its cells), blank records left out."""
    out = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader, end = csv.reader(fh), 0
            for r in reader:
                start, end = end + 1, reader.line_num
                if any(c.strip() for c in r):
                    out.append((start, r))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise RunsError(f"{path}: not a CSV file (UTF-8 text, comma-separated): {exc}") from None
    return out


def _header(path: str, line: int, cells: list[str], id_column: str | None) -> tuple[list[str], int]:
    """The column names and the id column's index, checked."""
    header = [h.strip() for h in cells]
    unnamed = [str(i + 1) for i, h in enumerate(header) if not h]
    if unnamed:
        raise RunsError(f"{path}:{line}: column {', '.join(unnamed)} of the header has no name; "
                        f"name it, or delete it (and its cells) if it is a stray comma")
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise RunsError(f"{path}:{line}: repeated column {', '.join(dup)}; give each column one name")
    idc = header[0] if id_column is None else id_column
    if idc not in header:
        raise RunsError(f"{path}: no id column {idc!r} (columns: {', '.join(header)})")
    return header, header.index(idc)


def read_table(path: str | Path, id_column: str | None = None) -> Table:
    path = str(path)
    records = _records(path)
    if not records:
        raise RunsError(f"{path}: empty file; expected a header (id, then columns) and a row per run")
    header, k = _header(path, *records[0], id_column)
    if len(records) == 1:
        raise RunsError(f"{path}: a header and no runs; add a row per run")
    out: dict[str, tuple[str, ...]] = {}
    lines: dict[str, int] = {}
    for line, r in records[1:]:
        if len(r) != len(header):
            raise RunsError(f"{path}:{line}: {len(r)} cells for {len(header)} columns ({', '.join(header)}); "
                            f"quote cells that contain commas")
        rid = r[k].strip()
        if not rid:
            raise RunsError(f"{path}:{line}: column {header[k]}: empty id; give every run an id")
        if rid in out:
            raise RunsError(f"{path}:{line}: id {rid!r} appears twice (also on line {lines[rid]}); "
                            f"keep one row per run")
        out[rid], lines[rid] = tuple(c.strip() for i, c in enumerate(r) if i != k), line
    return Table(path, header[k], tuple(h for i, h in enumerate(header) if i != k), out, lines)


def _number(table: Table, rid: str, column: str, cell: str, what: str) -> float:
    where = f"{table.where(rid)}, column {column}"
    if not cell:
        hint = "write 0 for a source the run did not use" if what == "weight" else \
            "every run needs a measured loss; drop a run without one from both files"
        raise RunsError(f"{where}: empty; {hint}")
    try:
        v = float(cell)
    except ValueError:
        raise RunsError(f"{where}: {cell!r} is not a number; write the {what} as a decimal like 0.25") from None
    if not math.isfinite(v):
        raise RunsError(f"{where}: value is {cell}; every {what} must be a finite number")
    return v


def _numbers(table: Table, ids: list[str], columns: list[str], what: str) -> np.ndarray:
    idx = [table.columns.index(c) for c in columns]
    out = np.empty((len(ids), len(columns)))
    for i, rid in enumerate(ids):
        cells = table.rows[rid]
        for j, c in enumerate(idx):
            out[i, j] = _number(table, rid, columns[j], cells[c], what)
    return out


def _rows(n: int) -> str:
    return f"{n} such row{'s' if n > 1 else ''}"


def _sums(m: Table, ids: list[str], sums: np.ndarray, tolerance: float) -> list[str]:
    """Errors for rows of zeros and sums beyond the tolerance; a warning for sums off by more than round-off."""
    zero = np.flatnonzero(sums == 0)
    if zero.size:
        raise RunsError(f"{m.where(ids[zero[0]])}: every weight is 0, so the run trained on no data; "
                        f"fix the row or drop the run from both files ({_rows(zero.size)})")
    off = np.abs(sums - 1)
    bad = np.flatnonzero(off > tolerance)
    if bad.size:
        i = bad[0]
        percent = np.all(np.abs(sums - 100) <= 100 * tolerance)
        hint = "the weights look like percentages: divide them by 100" if percent else \
            "is a source missing, or a weight mistyped?"
        raise RunsError(f"{m.where(ids[i])}: weights sum to {sums[i]:.6g}, not 1 (tolerance {tolerance}); "
                        f"{hint} ({_rows(bad.size)})")
    near = np.flatnonzero(off > ROUNDOFF)
    normalised = f"not 1; normalised (tolerance {tolerance})"
    if near.size == 1:
        return [f"{m.where(ids[near[0]])}: weights sum to {sums[near[0]]:.6g}, {normalised}"]
    if near.size:
        lo, hi = sums[near].min(), sums[near].max()
        return [f"{m.path}: {near.size} rows' weights sum to {lo:.6g}-{hi:.6g}, {normalised}"]
    return []


def _weights(m: Table, ids: list[str], srcs: list[str], tolerance: float) -> tuple[np.ndarray, list[str]]:
    """The mixtures, each row divided by its sum, and the warnings about them."""
    W = _numbers(m, ids, srcs, "weight")
    if np.any(W < 0):
        i, j = np.argwhere(W < 0)[0]
        raise RunsError(f"{m.where(ids[i])}, column {srcs[j]}: negative weight {W[i, j]:g}; "
                        f"weights are fractions of the data, 0 or more")
    sums = W.sum(axis=1)
    warnings = _sums(m, ids, sums, tolerance)
    mixtures = W / sums[:, None]
    if np.all(np.ptp(mixtures, axis=0) <= ROUNDOFF):
        same = ", ".join(f"{s} {w:g}" for s, w in zip(srcs, mixtures[0]))
        hint = "one source column is always 1: add a column per source" if len(srcs) == 1 else \
            "the runs' mixtures must differ"
        raise RunsError(f"{m.path}: every run has the same mixture ({same}); nothing to fit: a law learns how the "
                        f"loss changes with the mixture, and {hint}")
    for j in np.flatnonzero(np.ptp(W, axis=0) == 0):
        warnings.append(f"{m.path}: column {srcs[j]} is {W[0, j]:g} in every run; no law can learn that "
                        f"source's effect (vary it across runs to learn it)")
    return mixtures, warnings


def _losses(l: Table, ids: list[str], targets: list[str]) -> np.ndarray:
    Y = _numbers(l, ids, targets, "loss")
    constant = np.flatnonzero(np.ptp(Y, axis=0) == 0)
    if constant.size:
        j = constant[0]
        raise RunsError(f"{l.path}: column {targets[j]}: every run has loss {Y[0, j]:.6g}; nothing to fit "
                        f"(the loss must differ between runs: is it the right column?)")
    return Y


def _match(m: Table, l: Table) -> list[str]:
    """The ids of both files (in the mixture file's order), which must be the same and at least two."""
    only_m, only_l = [i for i in m.rows if i not in l.rows], [i for i in l.rows if i not in m.rows]
    if only_m or only_l:
        parts = []
        for t, only in ((m, only_m), (l, only_l)):
            if only:
                shown = ", ".join(f"{i} (line {t.lines[i]})" if i in t.lines else i for i in only[:5])
                parts.append(f"ids only in {t.path}: {shown}{' ...' if len(only) > 5 else ''}")
        raise RunsError("the files' ids do not match; " + "; ".join(parts) + "; each run needs a row in both")
    if len(m.rows) < MIN_RUNS:
        raise RunsError(f"{m.path}, {l.path}: {len(m.rows)} run (id {', '.join(m.rows)}); "
                        f"a law needs at least {MIN_RUNS} runs, and more to be cross-validated")
    return list(m.rows)


def _columns(m: Table, l: Table, srcs: list[str], targets: list[str]) -> None:
    missing = [s for s in srcs if s not in m.columns]
    if missing:
        raise RunsError(f"{m.path}: no mixture column for source {', '.join(missing)} "
                        f"(columns: {', '.join(m.columns)})")
    extra = [c for c in m.columns if c not in srcs]
    if extra:
        raise RunsError(f"{m.path}: column {', '.join(extra)} is not a source of the law "
                        f"(its sources: {', '.join(srcs)})")
    missing = [t for t in targets if t not in l.columns]
    if missing:
        raise RunsError(f"{l.path}: no loss column {', '.join(repr(t) for t in missing)} "
                        f"(columns: {', '.join(l.columns)})")


def load_runs(mixtures: str | Path, losses: str | Path, targets: list[str], id_column: str | None = None,
              sources: tuple[str, ...] | None = None, tolerance: float = SUM_TOLERANCE) -> Runs:
    """Join the two files on the id column; `sources` (default: every mixture column) in that order."""
    m, l = read_table(mixtures, id_column), read_table(losses, id_column)
    ids = _match(m, l)
    srcs = list(m.columns if sources is None else sources)
    _columns(m, l, srcs, list(targets))
    W, warnings = _weights(m, ids, srcs, tolerance)
    Y = _losses(l, ids, list(targets))
    return Runs(tuple(ids), tuple(srcs), W, tuple(targets), Y, tuple(warnings))
