"""Runs made anywhere: read a CSV of mixtures and a CSV of measured losses, joined on an id.

The id column is the first column unless named. Mixture columns are the sources (every
column but the id); loss columns are looked up by name. Every problem is a `RunsError`
naming the file, the row (by id) and the column: ids present in one file only, a missing
column, a value that is not a number or is NaN, a mixture not summing to one within a
tolerance. An unreadable file is left as the OSError it is (an I/O error, not bad data).
This module reads; it fits nothing.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SUM_TOLERANCE = 0.01  # published mixtures are often rounded to 3 decimals per source


class RunsError(ValueError):
    pass


@dataclass(frozen=True)
class Table:
    path: str
    id_column: str
    columns: tuple[str, ...]  # without the id
    rows: dict[str, tuple[str, ...]]  # id -> raw cells, in `columns` order


@dataclass(frozen=True)
class Runs:
    ids: tuple[str, ...]
    sources: tuple[str, ...]
    mixtures: np.ndarray  # (runs, sources), each row renormalised to sum 1
    targets: tuple[str, ...]
    losses: np.ndarray  # (runs, targets)


def read_table(path: str | Path, id_column: str | None = None) -> Table:
    path = str(path)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.reader(fh) if r]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise RunsError(f"{path}: not a CSV file: {exc}") from None
    if not rows:
        raise RunsError(f"{path}: empty file")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise RunsError(f"{path}: repeated column {', '.join(dup)}")
    idc = header[0] if id_column is None else id_column
    if idc not in header:
        raise RunsError(f"{path}: no id column {idc!r} (columns: {', '.join(header)})")
    k = header.index(idc)
    out: dict[str, tuple[str, ...]] = {}
    for line, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise RunsError(f"{path}:{line}: {len(r)} cells for {len(header)} columns")
        rid = r[k].strip()
        if rid in out:
            raise RunsError(f"{path}:{line}: id {rid!r} appears twice")
        out[rid] = tuple(c.strip() for i, c in enumerate(r) if i != k)
    return Table(path, idc, tuple(h for i, h in enumerate(header) if i != k), out)


def _numbers(table: Table, ids: list[str], columns: list[str]) -> np.ndarray:
    idx = [table.columns.index(c) for c in columns]
    out = np.empty((len(ids), len(columns)))
    for i, rid in enumerate(ids):
        cells = table.rows[rid]
        for j, c in zip(range(len(columns)), idx):
            try:
                v = float(cells[c])
            except ValueError:
                raise RunsError(f"{table.path}: id {rid}, column {columns[j]}: {cells[c]!r} is not a number") from None
            if not math.isfinite(v):
                raise RunsError(f"{table.path}: id {rid}, column {columns[j]}: value is {cells[c]}")
            out[i, j] = v
    return out


def load_runs(mixtures: str | Path, losses: str | Path, targets: list[str], id_column: str | None = None,
              sources: tuple[str, ...] | None = None, tolerance: float = SUM_TOLERANCE) -> Runs:
    """Join the two files on the id column; `sources` (default: every mixture column) in that order."""
    m, l = read_table(mixtures, id_column), read_table(losses, id_column)
    only_m, only_l = sorted(set(m.rows) - set(l.rows)), sorted(set(l.rows) - set(m.rows))
    if only_m or only_l:
        parts = []
        if only_m:
            parts.append(f"ids only in {m.path}: {', '.join(only_m[:5])}{' ...' if len(only_m) > 5 else ''}")
        if only_l:
            parts.append(f"ids only in {l.path}: {', '.join(only_l[:5])}{' ...' if len(only_l) > 5 else ''}")
        raise RunsError("the files' ids do not match; " + "; ".join(parts))
    srcs = list(m.columns if sources is None else sources)
    missing = [s for s in srcs if s not in m.columns]
    if missing:
        raise RunsError(f"{m.path}: no mixture column for source {', '.join(missing)}")
    extra = [c for c in m.columns if c not in srcs]
    if extra:
        raise RunsError(f"{m.path}: column {', '.join(extra)} is not a source of the law")
    missing = [t for t in targets if t not in l.columns]
    if missing:
        raise RunsError(f"{l.path}: no loss column {', '.join(repr(t) for t in missing)} "
                        f"(columns: {', '.join(l.columns)})")
    ids = list(m.rows)
    W = _numbers(m, ids, srcs)
    if np.any(W < 0):
        i, j = np.argwhere(W < 0)[0]
        raise RunsError(f"{m.path}: id {ids[i]}, column {srcs[j]}: negative weight {W[i, j]}")
    sums = W.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1) > tolerance)
    if bad.size:
        i = bad[0]
        raise RunsError(f"{m.path}: id {ids[i]}: weights sum to {sums[i]:.6g}, not 1 (tolerance {tolerance}); "
                        f"{bad.size} such row{'s' if bad.size > 1 else ''}")
    return Runs(tuple(ids), tuple(srcs), W / sums[:, None], tuple(targets), _numbers(l, ids, list(targets)))
