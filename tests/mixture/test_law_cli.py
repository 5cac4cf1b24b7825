"""`mixc law fit|eval|solve` on CSV files, including every kind of bad input."""

import csv
import json

import numpy as np
import pytest

from mixc.compiler.cli import main
from tests.helpers.mixtures import SOURCES, make_runs


def write(path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


@pytest.fixture
def files(tmp_path):
    W, Y = make_runs(60)
    ids = [f"run{i}" for i in range(60)]
    m = write(tmp_path / "m.csv", ["id", *SOURCES], [[i, *map(float, w)] for i, w in zip(ids, W)])
    # A different column order and an extra first column: rows are joined by the id's name.
    l = write(tmp_path / "l.csv", ["note", "web", "code", "id"], [["x", y[0], y[1], i] for i, y in zip(ids, Y)])
    return tmp_path, m, l


def test_fit_eval_solve(files, capsys):
    d, m, l = files
    out = str(d / "law.json")
    assert main(["law", "fit", "--mixtures", m, "--losses", l, "--id", "id", "--target", "web",
                 "--law", "loglinear", "-o", out]) == 0
    law = json.load(open(out))
    assert law["law"] == "loglinear" and law["cv"]["folds"] == 5 and law["targets"] == ["web"]
    capsys.readouterr()
    assert main(["law", "eval", out, "--mixtures", m, "--losses", l, "--id", "id", "--target", "web",
                 "--format", "json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res) == {"spearman", "pearson", "rmse", "best_rank", "n", "maximize"} and res["n"] == 60
    assert res["spearman"] > 0.9 and 1 <= res["best_rank"] <= 60
    assert main(["law", "solve", out, "--max", "web=0.5", "--min", "code=10%"]) == 0
    text = capsys.readouterr().out
    weights = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.split()[0] in SOURCES}
    assert weights["web"] == pytest.approx(0.5, abs=1e-4) and weights["code"] >= 0.1 - 1e-6
    assert "binding: " in text and "--max web=0.5" in text


def test_auto_is_the_default(files, capsys):
    d, m, l = files
    out = str(d / "auto.json")
    assert main(["law", "fit", "--mixtures", m, "--losses", l, "--id", "id", "--target", "code", "-o", out]) == 0
    assert json.load(open(out))["cv"]["chosen_by"] == "auto"


def test_errors_name_what_and_where(files, capsys):
    d, m, l = files
    out = d / "never.json"
    rows = list(csv.reader(open(m)))

    def fit(mixtures, losses=l, target="web", extra=()):
        code = main(["law", "fit", "--mixtures", mixtures, "--losses", losses, "--id", "id", "--target", target,
                     "-o", str(out), *extra])
        return code, capsys.readouterr().err

    code, err = fit(m, target="nope")
    assert code == 1 and "no loss column 'nope'" in err
    code, err = fit(write(d / "short.csv", rows[0], rows[1:-1]))
    assert code == 1 and "ids only in" in err and "run59" in err
    bad = [r[:] for r in rows]
    bad[5][2] = "nan"
    code, err = fit(write(d / "nan.csv", bad[0], bad[1:]))
    assert code == 1 and "id run4, column code: value is nan" in err
    bad = [r[:] for r in rows]
    bad[3][1] = "0.9"
    code, err = fit(write(d / "sum.csv", bad[0], bad[1:]))
    assert code == 1 and "id run2: weights sum to" in err
    code, err = fit(write(d / "few.csv", rows[0], rows[1:9]), write(d / "fewl.csv", *(lambda r: (r[0], r[1:9]))(
        list(csv.reader(open(l))))), extra=("--law", "powerlaw"))
    assert code == 1 and "needs at least 24 runs for 4 sources" in err
    code, err = fit(str(d / "missing.csv"))
    assert code == 2 and "missing.csv" in err
    assert not out.exists()
    code = main(["law", "solve", str(d / "missing.json")])
    assert code == 2


def test_solve_reports_conflicting_bounds(files, capsys):
    d, m, l = files
    out = str(d / "law.json")
    main(["law", "fit", "--mixtures", m, "--losses", l, "--id", "id", "--target", "web", "--law", "linear",
          "--folds", "0", "-o", out])
    capsys.readouterr()
    assert main(["law", "solve", out, "--min", "web=0.6", "--min", "books=0.5", "--max", "code=0.2"]) == 1
    err = capsys.readouterr().err
    assert "--min web=0.6; --min books=0.5" in err and "code" not in err
    assert main(["law", "solve", out, "--min", "paper=0.1"]) == 1
    assert "SRC one of web" in capsys.readouterr().err
    (d / "junk.json").write_text("{")
    assert main(["law", "solve", str(d / "junk.json")]) == 1
    assert "not JSON" in capsys.readouterr().err


def test_solve_stays_within_the_runs_unless_told(tmp_path, capsys):
    W, _ = make_runs(60)
    W[:, 3] *= 0.05 / W[:, 3].max()  # math never above 5% in the runs ...
    W /= W.sum(axis=1, keepdims=True)
    Y = np.c_[1.0 - W @ np.array([0.1, 0.2, 0.1, 0.9])]  # ... yet the linear law loves it
    ids = [str(i) for i in range(60)]
    m = write(tmp_path / "m.csv", ["id", *SOURCES], [[i, *w] for i, w in zip(ids, W)])
    l = write(tmp_path / "l.csv", ["id", "web"], [[i, y[0]] for i, y in zip(ids, Y)])
    out = str(tmp_path / "law.json")
    assert main(["law", "fit", "--mixtures", m, "--losses", l, "--target", "web", "--law", "linear", "-o", out]) == 0
    capsys.readouterr()
    assert main(["law", "solve", out, "--format", "json"]) == 0
    inside = json.loads(capsys.readouterr().out)
    assert inside["mixture"]["math"] == pytest.approx(W[:, 3].max(), abs=1e-6)
    assert "runs' range of math" in inside["binding"]
    assert main(["law", "solve", out, "--format", "json", "--extrapolate"]) == 0
    assert json.loads(capsys.readouterr().out)["mixture"]["math"] == pytest.approx(1.0, abs=1e-6)


def test_maximize_fits_ranks_and_solves_a_higher_is_better_metric(files, capsys):
    """An accuracy that is the loss negated: --maximize must give the loss's law, ranks and mixture."""
    tmp, m, l = files
    rows = list(csv.DictReader(open(l)))
    acc = write(tmp / "acc.csv", ["id", "acc"], [[r["id"], -float(r["web"])] for r in rows])
    for name, losses, target, extra in (("loss", l, "web", []), ("acc", acc, "acc", ["--maximize"])):
        assert main(["law", "fit", "--mixtures", m, "--losses", losses, "--id", "id", "--target", target,
                     "--law", "loglinear", "-o", str(tmp / f"{name}.json"), *extra]) == 0
    capsys.readouterr()
    assert json.load(open(tmp / "acc.json"))["maximize"] is True
    out = {}
    for name, losses, target, extra in (("loss", l, "web", []), ("acc", acc, "acc", ["--maximize"])):
        assert main(["law", "eval", str(tmp / f"{name}.json"), "--mixtures", m, "--losses", losses, "--id", "id",
                     "--target", target, "--format", "json", *extra]) == 0
        out[name] = json.loads(capsys.readouterr().out)
        assert main(["law", "solve", str(tmp / f"{name}.json"), "--format", "json"]) == 0
        out[name]["solve"] = json.loads(capsys.readouterr().out)
    assert out["acc"]["best_rank"] == out["loss"]["best_rank"]
    assert out["acc"]["spearman"] == pytest.approx(out["loss"]["spearman"], abs=1e-6)
    assert np.allclose(out["acc"]["solve"]["weights"], out["loss"]["solve"]["weights"], atol=1e-4)
    assert out["acc"]["solve"]["predicted"]["acc"] == pytest.approx(-out["loss"]["solve"]["predicted"]["web"],
                                                                    rel=1e-4)
    # A law fitted lower-is-better cannot be evaluated as higher-is-better: that would invert every rank.
    assert main(["law", "eval", str(tmp / "loss.json"), "--mixtures", m, "--losses", l, "--id", "id",
                 "--target", "web", "--maximize"]) == 1
    assert "refit it with --maximize" in capsys.readouterr().err


def test_fit_help_names_every_law():
    from mixc.compiler.commands.law import _law_names
    from mixc.compiler.mixture.laws import LAWS

    named = _law_names().replace(" or ", ", ").split(", ")
    assert named == list(LAWS)
