"""Exact feasibility (pure Python) against the numpy/cvxpy path, and E102 without numpy.

Random constraint systems of every kind (bounds, ratios, group sums, general rows,
equalities) on a decimal grid: the exact test agrees with a cvxpy (Clarabel) feasibility
problem, and its conflicting set is the one the cvxpy deletion filter finds, minimal
(dropping any member leaves a feasible set) and of the smallest size whenever that one is.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
from fractions import Fraction

import pytest

from mixc.compiler.mixture.constraints import Constraint, bound, check, exact, group_sum, ratio
from mixc.compiler.mixture.simplex import Row, solve
from tests.helpers.paths import ROOT

SYSTEMS = 150
OPS = ("<=", "<=", ">=", ">=", "==")


def random_system(rng: random.Random) -> tuple[tuple[str, ...], list[Constraint]]:
    sources = tuple(f"s{i}" for i in range(rng.randint(2, 6)))
    out: list[Constraint] = []
    for k in range(rng.randint(1, 7)):
        label, op = f"L{k}", rng.choice(OPS)
        kind = rng.choice(("bound", "bound", "ratio", "group", "general"))
        if kind == "bound":
            out.append(Constraint(label, ((rng.choice(sources), 1.0),), op, rng.randrange(0, 101, 5) / 100))
        elif kind == "ratio":
            a, b = rng.sample(sources, 2)
            out.append(ratio(label, a, b, rng.choice((0.5, 1.0, 2.0, 3.0)), op))
        elif kind == "group":
            out.append(group_sum(label, rng.sample(sources, rng.randint(2, len(sources))), op,
                                 rng.randrange(10, 101, 5) / 100))
        else:
            terms = rng.sample(sources, min(len(sources), rng.randint(2, 3)))
            coefs = tuple((s, rng.choice((-2.0, -1.0, -0.5, 0.5, 1.0, 2.0))) for s in terms)
            out.append(Constraint(label, coefs, op, rng.randrange(-50, 101, 5) / 100))
    return sources, out


def cvxpy_feasible(sources: tuple[str, ...], constraints: list[Constraint]) -> bool:
    cp = pytest.importorskip("cvxpy")
    from mixc.compiler.mixture.polytope import Polytope

    p = Polytope(sources, tuple(constraints))
    w = cp.Variable(p.dim)
    prob = cp.Problem(cp.Minimize(0), p.cvxpy_constraints(w))
    prob.solve(solver=cp.CLARABEL)
    return prob.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)


def cvxpy_conflict(sources: tuple[str, ...], constraints: list[Constraint]) -> tuple[str, ...]:
    """The deletion filter over cvxpy, in constraint order: what the conflict was before."""
    keep = list(constraints)
    for c in constraints:
        trial = [k for k in keep if k is not c]
        if not cvxpy_feasible(sources, trial):
            keep = trial
    return tuple(c.label for c in keep)


def feasible(sources: tuple[str, ...], constraints: list[Constraint]) -> bool:
    return check(sources, constraints).feasible


def smallest_conflict_size(sources: tuple[str, ...], constraints: list[Constraint]) -> int:
    for size in range(1, len(constraints) + 1):
        if any(not feasible(sources, list(subset)) for subset in itertools.combinations(constraints, size)):
            return size
    raise AssertionError("the whole set is feasible")


def test_agrees_with_cvxpy_and_finds_minimal_conflicts():
    rng = random.Random(20240611)
    verdicts = []
    for _ in range(SYSTEMS):
        sources, constraints = random_system(rng)
        result = check(sources, constraints)
        assert result.feasible == cvxpy_feasible(sources, constraints), (sources, constraints)
        verdicts.append(result.feasible)
        if result.feasible:
            assert result.conflict == ()
            continue
        old = cvxpy_conflict(sources, constraints)
        assert result.conflict == old, (constraints, old)
        members = [c for c in constraints if c.label in result.conflict]
        assert not feasible(sources, members)
        for c in members:  # minimal: every member is needed
            assert feasible(sources, [m for m in members if m is not c]), (members, c)
        smallest = smallest_conflict_size(sources, constraints)
        if len(old) == smallest:
            assert len(result.conflict) == smallest
    assert 0.25 < sum(verdicts) / len(verdicts) < 0.75  # both answers are well represented


def test_decimals_are_read_as_written_and_margins_are_exact():
    # 0.3 + 0.7 is not 1.0 in binary floating point; as decimals it is.
    assert check(("a", "b"), [*bound("a", "a", lo=0.3, hi=0.3), Constraint("b", (("b", 1.0),), "==", 0.7)]).feasible
    # A 1e-7 overlap is far inside a floating-point solver's tolerance, and infeasible.
    res = check(("a", "b"), [*bound("a", "a", lo=0.5000001), *bound("b", "b", lo=0.5)])
    assert not res.feasible and res.conflict == ("a", "b")
    # Meeting at a single point is feasible.
    assert check(("a", "b", "c"), [ratio("r", "a", "b", 1.0, "=="), group_sum("g", ["a", "b"], ">=", 1.0)]).feasible


def test_simplex_witnesses_and_certificates():
    rng = random.Random(7)
    for _ in range(SYSTEMS):
        sources, constraints = random_system(rng)
        index = {s: j for j, s in enumerate(sources)}
        rows = [Row(tuple((j, Fraction(1)) for j in range(len(sources))), "==", Fraction(1))]
        rows += [Row(tuple((index[s], exact(v)) for s, v in c.coefs), c.op, exact(c.rhs)) for c in constraints]
        answer = solve(len(sources), rows)
        if answer.feasible:
            x = answer.point
            assert all(v >= 0 for v in x)
            for r in rows:
                lhs = sum(coef * x[j] for j, coef in r.coefs)
                assert {"<=": lhs <= r.rhs, ">=": lhs >= r.rhs, "==": lhs == r.rhs}[r.op], (r, x)
        else:  # the certificate's rows are infeasible by themselves
            assert answer.certificate
            assert not solve(len(sources), [rows[i] for i in sorted(answer.certificate)]).feasible


def test_e102_for_every_kind_of_constraint_imports_no_numpy():
    code = (
        "import sys\n"
        "from mixc.compiler.cli import main\n"
        "rc = main(['check', 'tests/spec/golden/E102_conflicting_constraints.mix'])\n"
        "heavy = [m for m in ('numpy', 'scipy', 'cvxpy', 'networkx') if m in sys.modules]\n"
        "assert rc == 1 and not heavy, (rc, heavy)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "error[E102]: these constraints cannot all hold (lines 11, 12, 13)" in r.stdout


def test_epoch_caps_are_left_to_the_design_job():
    from mixc.compiler.feasibility import feasibility_diagnostics
    from mixc.spec.check import check as check_spec
    from mixc.spec.load import load_bytes

    spec = ('experiment e {\n  source a = text("a/*")\n  source b = text("b/*")\n'
            "  model m = dense(layers: 2, d_model: 64, heads: 4, seq_len: 64)\n  train r { model: m, tokens: 100k }\n"
            "  search regmix { runs: 8, train: r }\n  minimize loss(a)\n"
            "  subject to {\n    weight(a) >= 90%\n    epochs(a) <= 1\n    epochs(b) <= 1\n  }\n}\n")
    experiment, diags = check_spec(load_bytes(spec.encode(), "e.mix"))
    assert experiment is not None and not [d for d in diags if d.severity == "error"], diags
    assert feasibility_diagnostics(experiment) == []
