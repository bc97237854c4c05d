"""The formula language under attack (Hypothesis): random expression trees over the vocabulary
and beyond it, raw text mutations of valid formulas, and arbitrary text either compile (and
trace, shapes only) or are refused with one LagnetError on target.formula — never another
exception, never over 1 s, never an XLA compilation. The known hard cases are examples of their
own, and a one-megabyte formula comes in through a config file."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from fuzzing import FAST, LONG, outcome, within_memory
from lagnet.cli import app
from lagnet.config import load_config
from lagnet.targets import compile_target
from lagnet.tasks import build_task

SERIES = ("x", "e", "u", "y")
FUNCTIONS = ["abs", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu"]
ARITY = {"min": 2, "max": 2, "clip": 3, "where": 3} | dict.fromkeys(FUNCTIONS, 1)
STRANGE_CALLS = ["__import__", "eval", "exec", "open", "getattr", "print", "globals", "type"]
EXTREME = ["1e999", "1e300", "3.5e38", "1e-320", "10**10", "10**10**10", "2**64", "0**-1",
           "(10.0**64)**64", "(-8)**(1/3)", "9" * 80, "0x1F", "1_000", ".5", "1j", "0e0"]  # fmt: skip
WRAPS = ["lambda: {}", "[{} for x in y]", "{{{} for x in y}}", "(v := {})", "{} if x[t] else 1",
         "*{}", "[{}]", "({},)", "{{{}}}", "f'{{{}}}'", "({}).__class__", "({}).real",
         "({})[1:2]", "({})[t]", "({})(1)", "{} is {}", "{} in x", "await {}", "b'{}'",
         "ewm({}, 0.5)", "sum(x, {})", "x[t-{}]", "{} = 1", "x[t] += {}", "{}; x[t]"]  # fmt: skip
ODD = list("\x00\x7f\u200b\u202e\ud800\udcff\U0001f600\u0301хｘ\t\n\r#\\'\"`;:=~^$?!@")
CORPUS = [
    "x[t]**2 + 0.1*x[t-1]**2",
    "abs(x[t-2]) + where(x[t] > 0, x[t-1], -x[t-1])",
    "sum(x, 10, lag=1) / mean(x, 3) - std(e, 4) + max(x, 3) + min(x, 2, lag=2)",
    "ewm(x, 0.2) * clip(tanh(x[t]), -0.5, 0.5)",
    "y[t] = 0.3*y[t-1] + 0.05*y[t-1]*sum(y, 10, lag=1) + 1.5*u[t-9]*u[t] + 0.1",
    "x[t]**2 + w*x[t-1]**2",
    "not x[t] > 0 or e[t-1] >= 1 and (x[t] != x[t-1])",
]

names = st.sampled_from(["x", "x", "x", "e", "u", "y", "х", "ｘ", "__x__", "w", "t", "sum", "pi"])
lags = st.one_of(
    st.just(""),
    st.integers(0, 12).map(lambda k: f"-{k}"),
    st.sampled_from(["+0", "+1", "-10000", "-10001", "-10**9", "-1000000000", "-1.5", "-k", ":"]),
)
numbers = st.one_of(
    st.integers(0, 100).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(EXTREME),
)
sizes = st.one_of(st.integers(-1, 30).map(str), st.sampled_from(["10000", "10**9", "0.5", "w"]))
windows = st.builds(
    lambda f, n, k, lag: f"{f}({n}, {k}{lag})",
    st.sampled_from(["sum", "mean", "std", "max", "min", "ewm"]),
    names,
    st.one_of(sizes, st.floats(0, 1.5).map(lambda a: f"{a:.3f}")),
    st.one_of(st.just(""), st.integers(-1, 12).map(", lag={}".format), st.just(", k=2")),
)
leaves = st.one_of(
    st.builds("{}[t{}]".format, names, lags),
    windows,
    numbers,
    st.sampled_from(["pi", "e", "w", "t", "abs", "None", "True", "...", "'s'", "x"]),
)


def _extend(children):
    def call(name, args):
        return f"{name}({', '.join(args)})"

    return st.one_of(
        st.builds("{} {} {}".format, children, st.sampled_from(list("+-*/") + ["**"]), children),
        st.builds(
            "{} {} {}".format, children, st.sampled_from(["%", "//", "@", "^", "&"]), children
        ),
        children.map("({})".format),
        st.builds("{}{}".format, st.sampled_from(["-", "+", "not ", "~"]), children),
        st.builds(
            "{} {} {}".format,
            children,
            st.sampled_from(["<", "<=", ">", ">=", "==", "!=", "and", "or"]),
            children,
        ),
        st.sampled_from(sorted(ARITY)).flatmap(
            lambda f: st.lists(children, min_size=ARITY[f], max_size=ARITY[f]).map(
                lambda a: call(f, a)
            )
        ),
        st.builds(
            call, st.sampled_from(sorted(ARITY) + STRANGE_CALLS), st.lists(children, max_size=4)
        ),
        st.builds(lambda w, a: w.replace("{}", a), st.sampled_from(WRAPS), children),
    )


expressions = st.recursive(leaves, _extend, max_leaves=20)
formulas = st.one_of(
    expressions,
    expressions.map("y[t] = {}".format),
    st.lists(expressions, min_size=1, max_size=3),  # several outputs
)
series_choices = st.sampled_from([None, SERIES, ("x",)])


def mutate(text: str, edits: list[tuple[int, float, str]]) -> str:
    """Apply raw edits: (kind, position in [0, 1], payload)."""
    for kind, where, payload in edits:
        i = int(where * len(text))
        if kind == 0:
            text = text[:i] + payload + text[i:]
        elif kind == 1:
            text = text[:i] + text[i + len(payload) + 1 :]
        elif kind == 2:
            text = text[:i] + text[i : i + 6] * (len(payload) + 2) + text[i:]
        elif kind == 3:
            text = "(" * (10 * len(payload) + 1) + text + ")" * (10 * len(payload))
        else:
            text = text[:i]
    return text


edits = st.lists(
    st.tuples(
        st.integers(0, 4),
        st.floats(0, 1),
        st.one_of(st.sampled_from(ODD + EXTREME), st.text(max_size=3)),
    ),
    min_size=1,
    max_size=6,
)


def compile_and_trace(formula, series, params=None):
    """Compile, then trace with shapes only (jax.eval_shape: nothing is compiled)."""
    target = compile_target(formula, series, params=params)
    shapes = {s: jax.ShapeDtypeStruct((2, 16), jnp.float32) for s in target.series}
    y, valid = jax.eval_shape(lambda xs: target(xs, dict.fromkeys(target.params, 0.5)), shapes)
    assert y.shape == (2, 16, target.outputs) and valid.shape == (16,)


def check(formula, series, params=None):
    result, err = outcome(compile_and_trace, formula, series, params)
    if err is not None:
        assert err.field.startswith(("target.formula", "target.params")), str(err)


@FAST
@given(formulas, series_choices)
def test_generated_formulas_compile_or_are_refused(formula, series):
    check(formula, series, {"w": 0.5} if "w" in str(formula) else None)


@FAST
@given(st.sampled_from(CORPUS), edits, series_choices)
def test_mutated_formulas_compile_or_are_refused(formula, edit, series):
    text = mutate(formula, edit)
    check(text, series, {"w": 0.5} if "w" in text else None)


@FAST
@given(st.text(st.one_of(st.characters(), st.sampled_from(ODD)), max_size=40), series_choices)
def test_any_text_compiles_or_is_refused(text, series):
    check(text, series)


@settings(FAST, max_examples=100)
@given(formulas, st.dictionaries(st.text(max_size=4), st.floats(), max_size=3))
def test_any_parameters_compile_or_are_refused(formula, params):
    check(formula, None, params)


@pytest.mark.slow
@LONG
@given(st.one_of(formulas, st.builds(mutate, st.sampled_from(CORPUS), edits)), series_choices)
def test_many_more_formulas(formula, series):
    check(formula, series, {"w": 0.5} if "w" in str(formula) else None)


# formula, series, what the refusal must say (None: it compiles)
HARD = [
    ("(" * 5000 + "x[t]" + ")" * 5000, None, "limit is 2000"),
    ("(" * 150 + "x[t]" + ")" * 150, None, None),  # brackets make no tree: it compiles
    ("(" * 600 + "x[t]" + ")" * 600, None, "too many nested parentheses"),
    ("-" * 1500 + "x[t]", None, "nests deeper than 100"),
    ("abs(" * 300 + "x[t]" + ")" * 300, None, "syntax error"),
    ("x[t]" + "**x[t]" * 300, None, "nests deeper than 100"),
    ("+".join(["x[t]"] * 300), None, None),  # a long sum is one level
    ("x[t-10**9]", None, "whole-number literal"),
    ("x[t-1000000000]", None, "larger than 10000"),
    ("x[t-" + "9" * 1990 + "]", None, "larger than 10000"),
    ("sum(x, 10**9)", None, "from 1 to 10000"),
    ("sum(x, 1000000000)", None, "from 1 to 10000"),
    ("mean(x, 10000, lag=10000)", None, "looks back 19999 steps"),
    ("x[t]**10**10", None, "too large (limit: |p| <= 64)"),
    ("10**10**10", None, "too large (limit: |p| <= 64)"),
    ("10**10**10*x[t]", None, "too large (limit: |p| <= 64)"),
    ("x[t]**1e308", None, "too large"),
    ("(10.0**64)**64*x[t]", None, None),  # folds to inf, as float32 would
    ("1e999*x[t]", None, "too large"),
    ("1e300*x[t]", None, "float32"),
    ("9" * 1999, None, "float32"),
    ("х[t]", ("x",), "U+0445 CYRILLIC SMALL LETTER HA"),
    ("x[t] + х[t-1]", ("x",), "not plain ASCII"),
    ("ｘ[t]", ("x",), None),  # NFKC: Python reads the fullwidth letter as x
    ("x.__class__", None, "attribute access"),
    ("x[t].__class__.__bases__", None, "attribute access"),
    ("__import__('os')", None, "function '__import__'"),
    ("eval('x[t]')", None, "function 'eval'"),
    ("exec('1')", None, "function 'exec'"),
    ("open('/etc/passwd')", None, "function 'open'"),
    ("().__class__.__bases__[0].__subclasses__()", None, "not allowed"),
    ("__x__[t] + __builtins__", ("x",), "unknown series '__x__'"),
    ("lambda: x[t]", None, "lambda"),
    ("[x[t] for x in y]", None, "comprehension"),
    ("(y := x[t])", None, "':='"),
    ("f'{x[t]}'", None, "f-string"),
    ("*x[t]", None, "starred"),
    ("abs(*x[t])", None, "starred"),
    ("x[1:2]", None, "index in x[1:2]"),
    ("x[t-1:]", None, "index in x[t-1:]"),
    ("", None, "empty formula"),
    (" \t\n ", None, "empty formula"),
    ("\x00", None, "U+0000"),
    ("x[t]\x00", None, "U+0000"),
    ("x[t]\ud800", None, "lone surrogate"),
    ("\ufeffx[t]", None, "syntax error"),
    ("x\u200b[t]", None, "syntax error"),
    ("x[t] if x[t] > 0 else 0", None, "where(c, a, b)"),
    ("import os", None, "statement"),
    ("+".join(f"std(x, {9999 - i})" for i in range(40)), None, "too costly"),
    ("+".join(f"std(x, {9999 - i})" for i in range(8)), None, None),  # costly but allowed
    ("+".join(f"ewm(x, 0.{i + 100})" for i in range(19)), None, None),
    (["*".join(["x[t]"] * 399)] * 64, None, "too costly"),
    ("+".join(f"x[t-{i}]" for i in range(220)), None, None),
    ("x[t]; import os", None, "';'"),
]


@pytest.mark.parametrize("formula, series, says", HARD, ids=[repr(str(h[0])[:30]) for h in HARD])
def test_hard_cases(formula, series, says):
    result, err = outcome(compile_and_trace, formula, series)
    within_memory(64, compile_and_trace, formula, series)
    if says is None:
        assert result == "built", str(err)
    else:
        assert err is not None and err.field == "target.formula", (formula, err)
        assert says in err.reason, err.reason
        assert len(str(err)) < 500  # the formula is shown cut short


@pytest.fixture
def megabyte_config(tmp_path):
    """A config file whose formula is about one megabyte."""
    formula = "+".join(["x[t-1]*x[t]"] * 90_000)
    path = tmp_path / "big.toml"
    path.write_text(f'[process]\nkind = "arma"\nar = [0.5]\n\n[target]\nformula = "{formula}"\n')
    assert path.stat().st_size > 2**20
    return path


def test_a_megabyte_formula_in_a_config_file(megabyte_config, tmp_path):
    result, err = outcome(lambda: build_task(load_config(megabyte_config)))
    assert err is not None and err.field == "target.formula"
    assert "limit is 2000" in err.reason and len(str(err)) < 300
    res = CliRunner().invoke(app, ["train", str(megabyte_config), "--out", str(tmp_path / "run")])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: target.formula:")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_megabyte_formula_stays_small_in_memory(megabyte_config):
    within_memory(16, lambda: build_task(load_config(megabyte_config)))
