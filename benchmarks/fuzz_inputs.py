"""The inputs benchmarks/fuzz_parsers.py feeds the parsers: the formula language's vocabulary and
what lies just outside it, random formula trees, raw text mutations, random process-spec calls
and config tables. Plain ``random`` (seeded), so that 100000 inputs take a minute; the tests'
Hypothesis strategies (tests/test_fuzz_*.py) cover the same ground with shrinking.
"""

from __future__ import annotations

import random

from lagnet.processes.spec import _forms, parse_process_spec

# The vocabulary, and what lies just outside it.


def words(text: str, sep: str | None = None) -> list[str]:
    return text.split(sep)


SERIES = words("x e u y z х ｘ __x__ w t sum pi X x1 _")
FUNCS = words(
    "abs exp log sqrt sin cos tanh sigmoid relu min max clip where sum mean std ewm __import__ "
    "eval exec open getattr print globals compile type len abs.__call__"
)
WINDOWS = words("sum mean std max min ewm")
NUMBERS = words(
    "0 1 2 0.5 1e999 -1e999 1e300 1e38 3.5e38 1e-320 10**10 10**10**10 2**64 0x1F 0b101 1_000 "
    ".5 5. 1j 0e0 (1/3) (-8)**(1/3) 0**-1 (10.0**64)**64 nan inf 1e 0777 " + "9" * 60
)
# Shapes around a sub-expression {0}: what the language refuses, and a few it takes.
EXOTIC = words(
    "lambda: {0}|[{0} for x in y]|{{{0} for x in y}}|(v := {0})|{0} if x[t] else 1|*{0}|[{0}]|"
    "({0},)|{{{0}}}|{{1: {0}}}|f'{{{0}}}'|await {0}|(yield {0})|({0}).__class__|({0}).real|"
    "({0})[1:2]|({0})[t]|({0})(1)|{0}; {0}|{0} = 1|y[t] = {0}|x[t] += {0}|{0} # c|b'{0}'|"
    "{0} is {0}|{0} in {0}|{0} not in x|import os; {0}|del {0}|( {0}|{0} )|ewm({0}, 0.5)|"
    "sum(x, {0})|x[t-{0}]|{0}\n{0}|{0} \\\n + 1|'''{0}'''",
    "|",
)
ODD = list("\x00\x7f\u200b\u202e\ud800\udcff\U0001f600\u0301хｘ\t\n\r#\\'\"`$?!@;:=~^")
FORMULAS = words(
    "x[t]**2 + 0.1*x[t-1]**2|abs(x[t-2])|where(x[t] > 0, x[t-1], -x[t-1])|"
    "sum(x, 10, lag=1) / mean(x, 3)|ewm(x, 0.2) - std(x, 5)|max(x[t], x[t-3], 0)|"
    "y[t] = 0.3*y[t-1] + 0.05*y[t-1]*sum(y, 10, lag=1) + 1.5*u[t-9]*u[t] + 0.1|"
    "x[t]**2 + w*x[t-1]**2|not x[t] > 0 or e[t-1] >= 1|clip(tanh(x[t]), -0.5, 0.5)",
    "|",
)
SPECS = words(
    "ar1(rho=0.1)|arma(ar=[0.5, -0.2], ma=[0.3])|var(A=[[0.5,0.1],[0.0,0.3]], names=['x','z'])|"
    "iid(dist='uniform', low=0, high=0.5)|student_t(df=4)|sv(mu=-1, phi=0.95, sigma_eta=0.25)|"
    "garch(omega=0.05, alpha=0.1, beta=0.8, gamma=0.1)|ou(theta=1, mu=0, sigma=1, dt=0.1)|"
    "regime(P=[[0.95,0.05],[0.05,0.95]], mu=[-1,1], rho=[0.5,0.5])|narma(order=10)|"
    "noisy(rho=0.9, sigma=1, noise=1)|adding(markers=2, span=50)|"
    "data(path='prices.csv', columns=['r'])",
    "|",
)


# ----------------------------------------------------------------------------- formulas
def number(r: random.Random) -> str:
    roll = r.random()
    if roll < 0.4:
        return str(r.randint(0, 20))
    if roll < 0.6:
        return repr(round(r.uniform(-5, 5), r.randint(0, 4)))
    return r.choice(NUMBERS)


ODDS = 0.04  # the chance of each choice in a tree being outside the language
LAGS = "-10000|-10001|-10**9|-1000000000|-1.5|-k|--1|-True|:|+1|-" + "9" * 30
SIZES = "0.5|1/3|0|-1|10000|10**9|1000000000|x[t]|w|1e999"
KEYWORDS = ", lag=10000|, lag=-1|, lag=w|, k=3|, **a|, lag=1, lag=2|, lag=1.5"
NAMES = words("pi e w w w t x abs х None True ... 's' v")


def odd(r: random.Random) -> bool:
    return r.random() < ODDS


def leaf(r: random.Random) -> str:
    roll, name = r.random(), r.choice(SERIES if odd(r) else SERIES[:4])
    if roll < 0.5:
        k = (
            r.choice(LAGS.split("|"))
            if odd(r)
            else r.choice(["", "-0", "+0", f"-{r.randint(0, 12)}"])
        )
        return f"{name}[t{k}]" if not odd(r) else f"{name}[{r.choice(['3', 't', 'x[t]'])}]"
    if roll < 0.65:
        func = r.choice(WINDOWS)
        size = str(r.randint(1, 12)) if func != "ewm" else repr(round(r.uniform(0.01, 1), 2))
        size = r.choice(SIZES.split("|")) if odd(r) else size
        lag = r.choice(["", f", lag={r.randint(0, 12)}"])
        lag = r.choice(KEYWORDS.split("|")) if odd(r) else lag
        return f"{func}({name}, {size}{lag})"
    if roll < 0.9:
        return number(r)
    return r.choice(NAMES)


def expr(r: random.Random, depth: int) -> str:
    if depth <= 0 or r.random() < 0.3:
        return leaf(r)
    roll, a = r.random(), expr(r, depth - 1)
    if roll < 0.4:
        op = r.choice(
            ["%", "//", "@", "^", "&", "|", "<<"] if odd(r) else ["+", "-", "*", "/", "**"]
        )
        return f"{a} {op} {expr(r, depth - 1)}"
    if roll < 0.5:
        return f"({a})"
    if roll < 0.6:
        return (
            f"{r.choice(['~', '- -', 'not not ']) if odd(r) else r.choice(['-', '+', 'not '])}{a}"
        )
    if roll < 0.7:
        op = r.choice(["<", "<=", ">", ">=", "==", "!=", "and", "or"] + ["is", "in"] * odd(r))
        return f"{a} {op} {expr(r, depth - 1)}"
    if roll < 0.95:
        func = r.choice(FUNCS if odd(r) else FUNCS[:13])
        arity = {"clip": 3, "where": 3, "min": 2, "max": 2}.get(func, 1)
        arity = r.choice([0, 1, 2, 3, 5]) if odd(r) else arity
        args = [a] + [expr(r, depth - 1) for _ in range(arity - 1)]
        return f"{func}({', '.join(args)})"
    return r.choice(EXOTIC).format(a)


NESTS = words("(,) -, abs(,) x[t]**,1 [,] not~, x[t]+(,) {,}")


def deep(r: random.Random) -> str:
    """Nesting that parsers trip on: parentheses, unary chains, calls, powers, lists."""
    n = r.choice([50, 99, 100, 101, 150, 201, 500, 1000, 1999])
    open_, close = r.choice(NESTS).replace("~", " ").split(",", 1)
    if r.random() < 0.1:
        open_, close = "where(x[t],", ",1)"
    text = open_ * n + "x[t]" + close * n
    return text if r.random() < 0.8 else text[: r.randint(0, len(text))]


def mutate(r: random.Random, text: str) -> str:
    for _ in range(r.randint(1, 5)):
        i = r.randint(0, len(text))
        j = min(len(text), i + r.randint(0, 8))
        roll = r.random()
        if roll < 0.3:
            text = text[:i] + r.choice(ODD + list("()[],.+-*/<>=0123456789tx ")) + text[i:]
        elif roll < 0.5:
            text = text[:i] + text[j:]
        elif roll < 0.6:
            text = text[:i] + text[i:j] * r.randint(2, 50) + text[j:]
        elif roll < 0.7:
            text = text[:i] + r.choice(NUMBERS) + text[j:]
        elif roll < 0.8:
            n = r.randint(1, 300)
            text = "(" * n + text + ")" * r.choice([n, n, n - 1])
        elif roll < 0.9 and text:
            text = text[: r.randint(0, len(text))]
        else:
            text = text[:i] + chr(r.randint(0, 0x2FFFF)) + text[i:]
    return text


def formula_input(r: random.Random, text: str):
    """(formula or list, series, params) for compile_target."""
    series = r.choice([None, ("x", "e", "u", "y")] * 3 + [("x",), ("x", "w")])
    params = {"w": 0.5} if "w" in text else None
    if odd(r):
        params = r.choice([("w",), {"w": 1e300}, {"v": 1.0}, {"sum": 1}, {"w": 0.5}])
    if r.random() < 0.1:
        text = [text, r.choice(FORMULAS)]
    return text, series, params


# ----------------------------------------------------------------------------- specs
STRINGS = ["x", "z", "normal", "uniform", "student_t", "zero", "stationary", "", "х", "a\x00b"]
STRINGS += ["missing.csv", "reservoirpy", "../../etc/passwd", "x" * 200, "\ud800", "r"]
OTHERS = "True|False|None|...|x|a.b|f(1)|lambda: 1|[i for i in x]|{1: 2}|{1}|*a|1 if 1 else 2"
JSON = [0, 1, -1, 0.5, 0.95, 1.5, 10**400, float("inf"), float("nan"), 1e300, True, None, ""]
JSON += ["x", "normal", "zero", "1", "a\x00", [0.5], [[0.5]], 10**9, -(10**9)]


def literal(r: random.Random, depth: int = 0) -> str:
    roll = r.random()
    if depth < 5 and roll < 0.25:
        items = [literal(r, depth + 1) for _ in range(r.choice([0, 1, 2, 2, 3, 4]))]
        return ("[{}]" if r.random() < 0.85 else "({})").format(", ".join(items))
    if roll < 0.7:
        return number(r) if r.random() < 0.7 else f"-{number(r)}"
    if roll < 0.95 or not odd(r):
        return repr(r.choice(STRINGS))
    return r.choice(OTHERS.split("|") + ["(y := 1)"])


def spec_text(r: random.Random) -> str:
    forms = _forms()
    name = r.choice(["__import__", "eval", "аr1", "AR1", "ar1.x", "x[0]"] if odd(r) else [*forms])
    known = list(forms[name].params) if name in forms else []
    parts: list[str] = []
    for _ in range(r.choice([0, 1, 1, 2, 3, 4])):
        value = literal(r)
        if not parts and (odd(r) or r.random() < 0.2):
            parts.append(value)  # positional
        else:
            key = r.choice(
                ["__class__", "bogus", "kind", "**k", "*a"] if odd(r) else known or ["a"]
            )
            parts.append(f"{key}={value}" if "*" not in key else key)
    text = f"{name}({', '.join(parts)})" if r.random() < 0.95 else name
    return text


# ----------------------------------------------------------------------------- configs
def json_value(r: random.Random, depth: int = 0):
    roll = r.random()
    if depth < 3 and roll < 0.2:
        return [json_value(r, depth + 1) for _ in range(r.randint(0, 3))]
    if depth < 2 and roll < 0.25:
        return {r.choice(["a", "rho", "w", ""]): json_value(r, depth + 1)}
    return r.choice(JSON)


def config_input(r: random.Random) -> dict:
    forms = _forms()
    spec = parse_process_spec(r.choice(SPECS[:-1]))
    process = spec.model_dump()
    for _ in range(r.randint(0, 3)):
        key = r.choice([*process, "kind", "bogus"] if odd(r) else [*process])
        process[key] = json_value(r) if key != "kind" else r.choice([*forms, "nope", 3])
    init = json_value(r) if odd(r) else r.choice([0, 0.5, -1])
    target = {"formula": r.choice([expr(r, 3), r.choice(FORMULAS)]), "init": init}
    if r.random() < 0.5:
        target["params"] = r.choice([{"w": json_value(r)}, json_value(r), {"w": 0.1, "x": 1}])
    return {"process": process, "target": target}
