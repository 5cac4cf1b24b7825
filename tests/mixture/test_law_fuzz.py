"""Fuzzing `mixc law fit` with random and degenerate CSV pairs.

Whatever the files hold, the command either writes a law that loads and predicts finite
losses on the runs it was fitted on (exit 0), or prints one line `mixc law: ...` and leaves
no output behind (exit 1 or 2); never a traceback. Either way stderr holds only lines
`mixc law: ...`: the input's warnings (`mixc law: warning: ...`), then on failure the one
line of the error. MIXC_FUZZ_EXAMPLES=N fuzzes longer (and with fresh random examples).
"""

import csv
import importlib.util
import json
import os
import tempfile
import warnings as pywarnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mixc.compiler.cli import main
from mixc.compiler.mixture.laws import LAWS as REGISTERED
from mixc.compiler.mixture.laws import load_law
from mixc.compiler.mixture.runs_csv import load_runs

LAWS = ["auto", *(n for n in REGISTERED if n != "lightgbm" or importlib.util.find_spec("lightgbm"))]
WARNING = "mixc law: warning: "
EXAMPLES = int(os.environ.get("MIXC_FUZZ_EXAMPLES", "20"))
BAD_CELLS = ["nan", "inf", "-inf", "", "x", "1,5", "-0.2"]
# (file, what): a cell of the mixture or loss file replaced, a row dropped from one file (its id
# then missing there), a row repeated, an id emptied, a weight pushed up by a little (within the
# sum's tolerance) or a lot, or made a percentage.
DAMAGE = [("m", c) for c in BAD_CELLS] + [("l", c) for c in BAD_CELLS] + [
    ("m", "drop"), ("l", "drop"), ("m", "repeat"), ("l", "repeat"), ("m", "no id"), ("l", "no id"),
    ("m", "+0.004"), ("m", "+0.3"), ("m", "*100")]


def pick(rng: np.random.Generator, options: list):
    return options[rng.integers(len(options))]


# The shapes of the pairs are picked by the seed hypothesis draws, not by hypothesis itself, whose
# choices lean heavily towards the unusual (nearly every pair would be damaged, or degenerate,
# and few would reach a fit); hypothesis draws the sizes, the seed and the damage.
def weights(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    W = rng.dirichlet(np.full(d, pick(rng, [0.05, 0.3, 1.0, 10.0])), size=n)
    shape = pick(rng, ["dirichlet"] * 6 + ["zeros", "equal", "repeated", "vertices"])
    if shape == "zeros":  # small weights rounded to 0 (a row may end up all zeros)
        W[W < 0.1] = 0.0
        W /= np.where(W.sum(axis=1, keepdims=True) > 0, W.sum(axis=1, keepdims=True), 1.0)
    elif shape == "equal":
        W[:] = 1.0 / d
    elif shape == "repeated":
        W = W[rng.integers(0, max(1, n // 3), size=n)]
    elif shape == "vertices":
        W = np.eye(d)[rng.integers(0, d, size=n)]
    return W


def losses(rng: np.random.Generator, W: np.ndarray) -> np.ndarray:
    y = 3.0 + W @ rng.normal(0.0, 1.0, W.shape[1]) + rng.normal(0.0, pick(rng, [0.0, 1e-9, 0.01, 0.01]), len(W))
    kind = pick(rng, ["plain"] * 6 + ["negative", "constant", "integers"])
    if kind == "negative":
        y = y - 10.0
    elif kind == "constant":
        y[:] = y[0]
    elif kind == "integers":
        y = np.round(y)
    return y * pick(rng, [1.0] * 8 + [1e-300, 1e-8, 1e8, 1e300])


def cell(x: float, decimals: int | None) -> str:
    return repr(float(x)) if decimals is None else f"{x:.{decimals}f}"


def damage(m: list[list[str]], l: list[list[str]], kind: tuple[str, str], i: int, j: int) -> None:
    rows, what = (m, l)[kind[0] == "l"], kind[1]
    if not rows:
        return
    r = rows[i % len(rows)]
    if what == "drop":
        rows.remove(r)
    elif what == "repeat":
        rows.append(list(r))
    elif what == "no id":
        r[0] = ""
    elif what.startswith("+") or what.startswith("*"):
        k = 1 + j % (len(r) - 1)
        x = float(r[k]) if r[k] not in BAD_CELLS else 0.0
        r[k] = repr(x + float(what[1:]) if what[0] == "+" else x * float(what[1:]))
    else:
        r[1 + j % (len(r) - 1)] = what


@st.composite
def csv_pairs(draw) -> tuple[list[str], list[list[str]], list[list[str]], int]:
    """(sources, mixture rows, loss rows, --folds): ids first in each row."""
    n, d = draw(st.sampled_from(range(1, 41))), draw(st.sampled_from(range(1, 9)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    W = weights(rng, n, d)
    y = losses(rng, W)
    decimals = pick(rng, [None, None, None, 3, 3, 2])
    m = [[f"r{i}", *(cell(w, decimals) for w in W[i])] for i in range(n)]
    l = [[f"r{i}", repr(float(y[i]))] for i in range(n)]
    for _ in range(pick(rng, [0, 0, 1, 2])):  # half the pairs left whole, to reach the fit
        damage(m, l, draw(st.sampled_from(DAMAGE)), draw(st.integers(0, 99)), draw(st.integers(0, 99)))
    return [f"s{k}" for k in range(d)], m, l, draw(st.sampled_from([0, 2, 5]))


def write(path: Path, header: list[str], rows: list[list[str]]) -> str:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])
    return str(path)


def check_fit(law: str, case, capsys) -> None:
    sources, m_rows, l_rows, folds = case
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        m, l = write(d / "M.csv", ["id", *sources], m_rows), write(d / "L.csv", ["id", "loss"], l_rows)
        out = d / "law.json"
        with pywarnings.catch_warnings(record=True) as caught:  # numpy's would reach a user's terminal
            pywarnings.simplefilter("always")
            code = main(["law", "fit", "--mixtures", m, "--losses", l, "--target", "loss", "--law", law,
                         "--folds", str(folds), "-o", str(out)])
        assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]
        cap = capsys.readouterr()
        assert "Traceback" not in cap.out + cap.err
        assert all(w.startswith("mixc law: ") for w in cap.err.splitlines()), cap.err
        if code == 0:
            fitted = load_law(json.loads(out.read_text()))
            pred = fitted.predict(load_runs(m, l, ["loss"]).mixtures)
            assert pred.shape == (len(m_rows), 1) and np.all(np.isfinite(pred)), pred
        else:
            assert code in (1, 2), code
            *warnings, last = cap.err.splitlines() or [""]
            assert last.startswith("mixc law: ") and not last.startswith(WARNING), cap.err  # one line of error
            assert all(w.startswith(WARNING) for w in warnings), cap.err  # after the input's warnings, if any
            assert sorted(p.name for p in d.iterdir()) == ["L.csv", "M.csv"]  # no output, no temporary file


@pytest.mark.slow
@pytest.mark.parametrize("law", LAWS)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          derandomize=not os.environ.get("MIXC_FUZZ_EXAMPLES"))
@given(case=csv_pairs())
def test_law_fit_survives_any_csv(law, case, capsys):
    check_fit(law, case, capsys)
