"""Reading runs from CSV files: every kind of bad input is a RunsError naming file, row and column."""

import csv

import numpy as np
import pytest

from mixc.compiler.cli import main
from mixc.compiler.mixture.runs_csv import ROUNDOFF, SUM_TOLERANCE, RunsError, load_runs, read_table

SOURCES = ["web", "code", "books"]
GOOD = [["r1", 0.5, 0.3, 0.2], ["r2", 0.2, 0.5, 0.3], ["r3", 0.1, 0.1, 0.8], ["r4", 0.6, 0.2, 0.2]]
LOSSES = [["r1", 3.1, 2.0], ["r2", 3.3, 2.1], ["r3", 3.2, 2.4], ["r4", 3.0, 2.2]]


def write(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        if header is not None:
            w.writerow(header)
        w.writerows(rows)
    return str(path)


def pair(tmp_path, mixtures=GOOD, losses=LOSSES, sources=SOURCES, targets=("loss", "acc")):
    return (write(tmp_path / "M.csv", ["id", *sources], mixtures),
            write(tmp_path / "L.csv", ["id", *targets], losses))


def error(m, l, targets=("loss",), **kw) -> str:
    with pytest.raises(RunsError) as exc:
        load_runs(m, l, list(targets), **kw)
    return str(exc.value)


def edit(rows, i, j, value):
    rows = [list(r) for r in rows]
    rows[i][j] = value
    return rows


def test_good_files_read_without_warnings(tmp_path):
    runs = load_runs(*pair(tmp_path), ["loss"])
    assert runs.ids == ("r1", "r2", "r3", "r4") and runs.sources == tuple(SOURCES) and runs.warnings == ()
    assert runs.mixtures.shape == (4, 3) and runs.losses[:, 0].tolist() == [3.1, 3.3, 3.2, 3.0]


def test_ids_in_one_file_only_are_named_with_their_line(tmp_path):
    m, l = pair(tmp_path, losses=LOSSES[:2] + LOSSES[3:])
    msg = error(m, l)
    assert f"ids only in {m}: r3 (line 4)" in msg and "each run needs a row in both" in msg
    m, l = pair(tmp_path, losses=LOSSES + [["r9", 1.0, 1.0]])
    assert f"ids only in {l}: r9 (line 6)" in error(m, l)


def test_duplicate_id_names_both_lines(tmp_path):
    m, l = pair(tmp_path, mixtures=GOOD + [GOOD[1]])
    assert f"{m}:6: id 'r2' appears twice (also on line 3)" in error(m, l)


def test_empty_id(tmp_path):
    m, l = pair(tmp_path, mixtures=edit(GOOD, 2, 0, " "))
    msg = error(m, l)
    assert f"{m}:4: column id: empty id" in msg


def test_header_only(tmp_path):
    m, l = pair(tmp_path, losses=[])
    msg = error(m, l)
    assert msg.startswith(f"{l}: a header and no runs")


def test_empty_file(tmp_path):
    m, _ = pair(tmp_path)
    l = write(tmp_path / "L.csv", None, [])
    assert error(m, l).startswith(f"{l}: empty file")


def test_blank_lines_are_skipped_and_lines_still_counted(tmp_path):
    m, l = pair(tmp_path, mixtures=GOOD[:3])
    with open(m, "a", newline="") as fh:
        fh.write("\n,,,\nr4,0.2,x,0.5\n")
    assert f"{m}:7: id r4, column code: 'x' is not a number" in error(m, l)


def test_byte_order_mark_is_not_part_of_the_id_column(tmp_path):
    m, l = pair(tmp_path)
    text = open(m, encoding="utf-8").read()
    open(m, "w", encoding="utf-8-sig").write(text)
    assert read_table(m, "id").id_column == "id"
    assert load_runs(m, l, ["loss"], "id").ids == ("r1", "r2", "r3", "r4")


def test_not_utf8(tmp_path):
    m, l = pair(tmp_path)
    open(m, "wb").write(b"id,web\n\xff\xfe,1\n")
    assert error(m, l).startswith(f"{m}: not a CSV file")


def test_wrong_cell_count(tmp_path):
    m, l = pair(tmp_path, mixtures=GOOD[:2] + [GOOD[2] + [0.1]] + GOOD[3:])
    assert f"{m}:4: 5 cells for 4 columns (id, web, code, books)" in error(m, l)


def test_unnamed_and_repeated_columns(tmp_path):
    m, l = pair(tmp_path, sources=["web", "", "books"])
    assert f"{m}:1: column 3 of the header has no name" in error(m, l)
    m, l = pair(tmp_path, sources=["web", "web", "books"])
    assert f"{m}:1: repeated column web" in error(m, l)


def test_missing_columns(tmp_path):
    m, l = pair(tmp_path)
    assert f"{l}: no loss column 'ppl' (columns: loss, acc)" in error(m, l, targets=["ppl"])
    assert f"{m}: no mixture column for source math" in error(m, l, sources=("web", "code", "books", "math"))
    assert f"{m}: column books is not a source of the law" in error(m, l, sources=("web", "code"))
    assert "no id column 'run'" in error(m, l, id_column="run")


def test_weight_not_a_number(tmp_path):
    m, l = pair(tmp_path, mixtures=edit(GOOD, 1, 2, "30%"))
    assert f"{m}:3: id r2, column code: '30%' is not a number" in error(m, l)


def test_empty_weight_cell(tmp_path):
    m, l = pair(tmp_path, mixtures=edit(GOOD, 3, 3, ""))
    msg = error(m, l)
    assert f"{m}:5: id r4, column books: empty" in msg and "write 0" in msg


def test_empty_loss_cell(tmp_path):
    m, l = pair(tmp_path, losses=edit(LOSSES, 0, 1, ""))
    msg = error(m, l)
    assert f"{l}:2: id r1, column loss: empty" in msg and "measured loss" in msg
    assert load_runs(m, pair(tmp_path, losses=edit(LOSSES, 0, 2, ""))[1], ["loss"]).ids  # an unread column may be empty


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_non_finite_values(tmp_path, value):
    m, l = pair(tmp_path, mixtures=edit(GOOD, 0, 1, value))
    assert f"{m}:2: id r1, column web: value is {value}" in error(m, l)
    m, l = pair(tmp_path, losses=edit(LOSSES, 2, 1, value))
    assert f"{l}:4: id r3, column loss: value is {value}" in error(m, l)


def test_negative_weight(tmp_path):
    m, l = pair(tmp_path, mixtures=edit(edit(GOOD, 1, 1, -0.1), 1, 2, 0.8))
    assert f"{m}:3: id r2, column web: negative weight -0.1" in error(m, l)


def test_row_of_zeros(tmp_path):
    m, l = pair(tmp_path, mixtures=GOOD[:3] + [["r4", 0, 0.0, "0"]])
    msg = error(m, l)
    assert f"{m}:5: id r4: every weight is 0" in msg and "1 such row" in msg


def test_sum_beyond_tolerance_is_an_error(tmp_path):
    m, l = pair(tmp_path, mixtures=edit(GOOD, 2, 3, 0.75))
    msg = error(m, l)
    assert f"{m}:4: id r3: weights sum to 0.95, not 1 (tolerance {SUM_TOLERANCE})" in msg
    assert "is a source missing" in msg


def test_percentages_are_an_error_that_says_so(tmp_path):
    m, l = pair(tmp_path, mixtures=[[r[0], *(100 * w for w in r[1:])] for r in GOOD])
    msg = error(m, l)
    assert f"{m}:2: id r1: weights sum to 100" in msg and "divide them by 100" in msg and "4 such rows" in msg


def test_sums_within_tolerance_are_normalised_with_a_warning(tmp_path):
    rounded = edit(edit(GOOD, 0, 1, 0.498), 2, 3, 0.803)
    runs = load_runs(*pair(tmp_path, mixtures=rounded), ["loss"])
    np.testing.assert_allclose(runs.mixtures.sum(axis=1), 1.0)
    assert runs.warnings == (f"{tmp_path / 'M.csv'}: 2 rows' weights sum to 0.998-1.003, not 1; "
                             f"normalised (tolerance {SUM_TOLERANCE})",)
    runs = load_runs(*pair(tmp_path, mixtures=edit(GOOD, 1, 1, 0.195)), ["loss"])
    assert runs.warnings == (f"{tmp_path / 'M.csv'}:3: id r2: weights sum to 0.995, not 1; "
                             f"normalised (tolerance {SUM_TOLERANCE})",)


def test_round_off_is_normalised_silently(tmp_path):
    rows = [["a", 0.1, 0.2, 0.7], ["b", 1 / 3, 1 / 3, 1 / 3], ["c", 0.7 + ROUNDOFF / 10, 0.2, 0.1]]
    m, l = pair(tmp_path, mixtures=rows, losses=[["a", 1.0, 0], ["b", 2.0, 0], ["c", 3.0, 0]])
    assert load_runs(m, l, ["loss"]).warnings == ()


def test_constant_loss_is_an_error(tmp_path):
    m, l = pair(tmp_path, losses=[[r[0], 2.5, r[2]] for r in LOSSES])
    msg = error(m, l)
    assert f"{l}: column loss: every run has loss 2.5; nothing to fit" in msg
    assert load_runs(m, l, ["acc"]).ids  # the constant column is not the target


def test_constant_source_is_a_warning(tmp_path):
    rows = [[r[0], r[1] + r[3], r[2], 0] for r in GOOD]
    runs = load_runs(*pair(tmp_path, mixtures=rows), ["loss"])
    assert len(runs.warnings) == 1
    assert runs.warnings[0].startswith(f"{tmp_path / 'M.csv'}: column books is 0 in every run; no law can learn")


def test_fewer_than_two_runs(tmp_path):
    m, l = pair(tmp_path, mixtures=GOOD[:1], losses=LOSSES[:1])
    msg = error(m, l)
    assert f"{m}, {l}: 1 run (id r1); a law needs at least 2 runs" in msg


def test_the_command_line_reports_input_errors_as_one_line(tmp_path, capsys):
    m, l = pair(tmp_path, losses=edit(LOSSES, 3, 1, ""))
    out = tmp_path / "law.json"
    code = main(["law", "fit", "--mixtures", m, "--losses", l, "--target", "loss", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and not out.exists()
    assert err == f"mixc law: {l}:5: id r4, column loss: empty; every run needs a measured loss; " \
                  f"drop a run without one from both files\n"


def test_the_same_mixture_in_every_run_is_an_error(tmp_path):
    m, l = pair(tmp_path, mixtures=[[r[0], 0.25, 0.25, 0.5] for r in GOOD])
    msg = error(m, l)
    assert msg.startswith(f"{m}: every run has the same mixture (web 0.25, code 0.25, books 0.5); nothing to fit")
    m, l = pair(tmp_path, mixtures=[[r[0], 1] for r in GOOD], sources=["web"])
    assert "every run has the same mixture (web 1)" in error(m, l) and "add a column per source" in error(m, l)
