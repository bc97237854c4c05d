"""The process-spec language and the process section of a config under attack (Hypothesis):
random spec calls over every registered spec name, its parameters and others, with literals of
every shape; raw text mutations of valid specs; arbitrary text; and process tables as a TOML
file gives them. Each builds or is refused with one LagnetError on ``process`` or
``process.<parameter>`` — never another exception, never over 1 s, never an XLA compilation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzing import FAST, LONG, outcome, within_memory
from lagnet.config import make_config
from lagnet.processes import PROCESSES, build_process
from lagnet.processes.spec import _forms, parse_process_spec
from test_fuzz_formulas import EXTREME, ODD, edits, mutate

FORMS = _forms()
VALID = [
    "ar1(rho=0.1)",
    "arma(ar=[0.5, -0.2], ma=[0.3])",
    "var(A=[[0.5,0.1],[0.0,0.3]], names=['x','z'])",
    "iid(dist='uniform', low=0, high=0.5)",
    "garch(omega=0.05, alpha=0.1, beta=0.8, gamma=0.1)",
    "regime(P=[[0.95,0.05],[0.05,0.95]], mu=[-1,1], rho=[0.5,0.5])",
    "sv(mu=-1, phi=0.95, sigma_eta=0.25)",
    "narma(order=10)",
    "adding(markers=2, span=50)",
]

scalars = st.one_of(
    st.integers(-3, 20).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(EXTREME + ["1" + "0" * 400, "-0.0", "True", "None", "..."]),
    st.text(st.one_of(st.characters(), st.sampled_from(ODD)), max_size=8).map(repr),
    st.sampled_from(["'normal'", "'uniform'", "'zero'", "'stationary'", "'x'", "'reservoirpy'"]),
    st.sampled_from(["x", "a.b", "f(1)", "lambda: 1", "[i for i in x]", "{1: 2}", "(y := 1)"]),
)
literals = st.recursive(
    scalars,
    lambda c: (
        st.lists(c, max_size=4).map(lambda v: f"[{', '.join(v)}]")
        | st.lists(c, max_size=3).map(lambda v: f"({', '.join(v)},)")
    ),
    max_leaves=16,
)


@st.composite
def specs(draw):
    name = draw(st.sampled_from(sorted(FORMS)) | st.sampled_from(["аr1", "AR1", "eval", "x.y"]))
    known = sorted(FORMS[name].params) if name in FORMS else ["rho"]
    args = draw(st.lists(literals, max_size=2))  # positional
    for _ in range(draw(st.integers(0, 4))):
        key = draw(st.sampled_from(known) | st.sampled_from(["__class__", "kind", "bogus"]))
        args.append(f"{key}={draw(literals)}")
    if draw(st.booleans()):
        args.append(draw(st.sampled_from(["*a", "**k"])))
    return f"{name}({', '.join(args)})"


def check_spec(text):
    _, err = outcome(parse_process_spec, text)
    if err is not None:
        assert err.field == "process" or err.field.startswith("process."), str(err)


@FAST
@given(specs())
def test_generated_specs_build_or_are_refused(text):
    check_spec(text)


@FAST
@given(st.sampled_from(VALID), edits)
def test_mutated_specs_build_or_are_refused(text, edit):
    check_spec(mutate(text, edit))


@FAST
@given(st.text(st.one_of(st.characters(), st.sampled_from(ODD)), max_size=40))
def test_any_text_builds_or_is_refused(text):
    check_spec(text)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=6)
    | st.sampled_from([0.5, [0.5], [[0.5]], 10**400, "normal", "zero"]),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=2),
    max_leaves=8,
)


@st.composite
def process_tables(draw):
    """A [process] table: a valid spec's config with some fields replaced, added or dropped."""
    table = parse_process_spec(draw(st.sampled_from(VALID))).model_dump()
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(sorted(table)) | st.sampled_from(["kind", "bogus", "path"]))
        if key == "kind":
            table[key] = draw(st.sampled_from(PROCESSES.names()) | json_values)
        elif draw(st.integers(0, 9)) == 0:
            table.pop(key, None)
        else:
            table[key] = draw(json_values)
    return table


def build_table(table):
    build_process(make_config({"process": table}).process)


@FAST
@given(process_tables())
def test_process_tables_build_or_are_refused(table):
    _, err = outcome(build_table, table)
    if err is not None:
        assert err.field == "process" or err.field.startswith("process"), str(err)


@pytest.mark.slow
@LONG
@given(st.one_of(specs(), st.builds(mutate, st.sampled_from(VALID), edits)))
def test_many_more_specs(text):
    check_spec(text)


# spec, what the refusal must say (None: it builds)
HARD = [
    ("(" * 5000 + "ar1(rho=0.1)" + ")" * 5000, "longer than 1000"),
    ("(" * 300 + "ar1(rho=0.1)" + ")" * 300, "too many nested parentheses"),
    ("ar1(rho=" + "[" * 300 + "]" * 300 + ")", "too many nested parentheses"),
    ("ar1(rho=[[[[[0.1]]]]])", "expected a number"),
    ("ar1(rho=1" + "0" * 990 + ")", "valid number"),
    ("ar1(rho=10**10)", "expected a number"),
    ("ar1(rho=1e999)", "finite"),
    ("arma(ar=[0.5], sigma=1e300)", "float32"),
    ("var(A=[[1e39]])", "float32"),
    ("аr1(rho=0.1)", "U+0430 CYRILLIC SMALL LETTER A"),
    ("ar1.__class__", "not a process spec"),
    ("ar1(rho=0.1).__class__", "not a process spec"),
    ("__import__('os')", "unknown process '__import__'"),
    ("eval('ar1(rho=0.1)')", "unknown process 'eval'"),
    ("ar1(__class__=1)", "unknown parameter"),
    ("ar1(rho=__import__('os'))", "expected a number"),
    ("lambda: 1", "not a process spec"),
    ("ar1(rho=[x for x in y])", "expected a number"),
    ("ar1(rho=(y := 1))", "expected a number"),
    ("ar1(rho=f'{1}')", "expected a number"),
    ("ar1(*a)", "* and **"),
    ("ar1(**a)", "* and **"),
    ("ar1(rho=a[1:2])", "expected a number"),
    ("", "not a valid spec"),
    (" \t ", "not a valid spec"),
    ("\x00", "not a valid spec"),
    ("ar1(rho=0.1)\ud800", "lone surrogate"),
    ("data(path='a\\x00b.csv')", "control characters"),
    ("data(path='\\x00')", "control characters"),
    ("ar1(rho=0.1, rho=0.2)", "given twice"),
    ("ar1(rho=0.1); import os", "not a valid spec"),
    ("ar1(rho=0.1)", None),
]


@pytest.mark.parametrize("text, says", HARD, ids=[repr(h[0][:30]) for h in HARD])
def test_hard_cases(text, says):
    result, err = outcome(parse_process_spec, text)
    within_memory(64, parse_process_spec, text)
    if says is None:
        assert result == "built", str(err)
    else:
        assert err is not None and err.field.startswith("process"), (text, err)
        assert says in err.reason, err.reason
        assert len(str(err)) < 600


@pytest.mark.slow
def test_the_fuzz_benchmark_runs(tmp_path):
    """benchmarks/fuzz_parsers.py --smoke: 600 inputs of every generator, no crash, no hang."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "fuzz.json"
    done = subprocess.run(
        [
            sys.executable,
            str(root / "benchmarks" / "fuzz_parsers.py"),
            "--smoke",
            "--json",
            str(out),
        ],
        cwd=root,
        env=dict(os.environ, JAX_PLATFORMS="cpu"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert result["inputs"] == 600 and result["total"]["crash"] == 0
    assert all(c["built"] > 0 and c["refused"] > 0 for c in result["counts"].values())
    assert result["xla_compilations"] == 0 and "acceptance" in done.stdout


@pytest.mark.parametrize("kind", ["fifo", "directory", "nul"])
def test_a_data_path_that_is_not_a_file_is_refused_at_once(tmp_path, kind):
    """A FIFO named .csv blocked the reader forever; a NUL in a [process] table's path (TOML
    allows "\\u0000") raised ValueError from the file system."""
    import os

    path = tmp_path / "series.csv"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    name = "a\x00.csv" if kind == "nul" else str(path)
    _, err = outcome(build_table, {"kind": "data", "path": name})
    assert err is not None and err.field == "process.path", err
    assert ("no such file" if kind == "nul" else "not a regular file") in err.reason
