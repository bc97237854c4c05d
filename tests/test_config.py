import pytest

from lagnet.config import config_to_toml, load_config, make_config, merge, parse_value
from lagnet.errors import LagnetError


def test_defaults_are_the_forum_task():
    cfg = make_config()
    assert cfg.process.ar == (0.1,) and cfg.process.init == "zero"
    assert cfg.target.formula == "x[t]**2 + 0.1*x[t-1]**2"
    assert cfg.train.length == 101


def test_toml_round_trip(tmp_path):
    cfg = make_config(
        process="arma(ar=[0.5,-0.2], ma=[0.3])",
        model={"head": [20, 10]},
        train={"max_seconds": 12.5},
    )
    path = tmp_path / "c.toml"
    path.write_text(config_to_toml(cfg))
    assert load_config(path) == cfg


def test_process_spec_in_toml(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('process = "ar1(rho=0.3)"\n[target]\nformula = "x[t-2]"\n')
    cfg = load_config(path)
    assert cfg.process.ar == (0.3,)


def test_a_formula_alone_is_a_target(tmp_path):
    """target = "…" was refused ("Input should be a valid dictionary") where process = "…"
    beside it was taken."""
    path = tmp_path / "c.toml"
    path.write_text('process = "ar1(rho=0.3)"\ntarget = "x[t-2]"\n')
    assert load_config(path).target.formula == "x[t-2]"
    assert make_config(target=["x[t]", "x[t-1]"]).target.formula == ("x[t]", "x[t-1]")


@pytest.mark.parametrize(
    "text,value",
    [("3", 3), ("1e-3", 1e-3), ("[20]", [20]), ("true", True), ('"gru"', "gru"), ("gru", "gru")],
)
def test_parse_value(text, value):
    assert parse_value(text) == value


def test_overrides():
    cfg, notes = merge(
        make_config(), sets=["train.lr=1e-3", "model.head=[8, 8]", "process.ar=[0.5]"]
    )
    assert notes == []
    assert cfg.train.lr == 1e-3 and cfg.model.head == (8, 8) and cfg.process.ar == (0.5,)


@pytest.mark.parametrize(
    "data,field",
    [
        (dict(train=dict(length=-5)), "train.length"),
        (dict(train=dict(bogus=1)), "train.bogus"),
        (dict(model=dict(kind="transformerz")), "model.kind"),
        (dict(model=dict(head=[0])), "model.head"),
        (dict(process="ar1(rho=1.5)"), "process.rho"),
        (dict(process="ar1(sigma=-1, rho=0.1)"), "process.sigma"),
        (dict(process=dict(kind="arma", ar=[1.0])), "process.ar"),
        (dict(train=dict(max_seconds=float("inf"))), "train.max_seconds"),
        (dict(train=dict(lr=float("nan"))), "train.lr"),
        (dict(seed=2**64), "seed"),
        (dict(seed=-1), "seed"),
    ],
)
def test_bad_values_name_the_field(data, field):
    with pytest.raises(LagnetError) as e:
        cfg = make_config(data)
        from lagnet.processes import build_process

        build_process(cfg.process)
    assert str(e.value).startswith(field + ":")
    assert "\n" not in str(e.value)


def test_bad_override_and_files(tmp_path):
    with pytest.raises(LagnetError, match="--set"):
        merge({}, sets=["novalue"])
    with pytest.raises(LagnetError, match="no such file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\n")
    with pytest.raises(LagnetError, match="not valid TOML"):
        load_config(bad)


def test_flags_then_sets_in_order(tmp_path):
    """A file, then flags, then --set: the last word wins; a spec string can take --set."""
    path = tmp_path / "c.toml"
    path.write_text('process = "ar1(rho=0.3)"\n[train]\nsteps = 10\n')
    cfg, _ = merge(
        path, {"train.steps": 20, "train.batch": None}, ["train.steps=30", "process.ar=[0.2]"]
    )
    assert cfg.train.steps == 30 and cfg.train.batch == 128 and cfg.process.ar == (0.2,)


def test_a_new_family_keeps_only_its_settings():
    base, _ = merge(values={"model.kind": "window", "model.window": 6, "model.hidden": 16})
    cfg, notes = merge(base, {"model.kind": "gru"})
    assert cfg.model.kind == "gru" and cfg.model.hidden == 16  # a GRU has a width too
    assert notes == ["model.kind = gru: dropped model.window = 6 (not a setting of gru)"]
    cfg, notes = merge(base, {"model.kind": "esn"})
    assert set(cfg.model.model_dump()) == set(type(cfg.model).model_fields)
    assert notes == [
        "model.kind = esn: dropped model.hidden = 16, model.window = 6 (not settings of esn)"
    ]
    with pytest.raises(LagnetError, match="model.window: 6 — unknown setting"):
        merge(base, {"model.kind": "esn"}, ["model.window=6"])
