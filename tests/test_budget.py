"""The budget table: a run with a time budget and no sizes chosen gets the sizes measured for
that budget, says so, and keeps every size the user chose."""

import math

import pytest

from lagnet import budget
from lagnet.config import load_config, make_config, merge
from lagnet.registry import task_config


def test_a_budget_alone_is_sized_from_the_table_and_said():
    cfg, notes = merge(values={"train.max_seconds": 10})
    want = dict(budget.TABLE["gru"][0][1])
    assert (cfg.model.hidden, cfg.train.batch, cfg.train.lr) == (
        want["model.hidden"],
        want["train.batch"],
        want["train.lr"],
    )
    assert cfg.train.steps == budget.NO_STEP_LIMIT  # the budget ends training, not steps
    assert notes == [
        "budget 10 s, gru: model.hidden = 16, train.batch = 16, train.lr = 0.02, "
        "train.val_every = 250 (lagnet's budget table; set any of them to choose the sizes "
        "yourself)"
    ]
    assert cfg.train.val_every == want["train.val_every"]


def test_a_soft_setting_given_replaces_only_itself():
    """Validation's cadence is not a size: choosing it keeps the table's sizes."""
    cfg, notes = merge(values={"train.max_seconds": 10, "train.val_every": 100})
    assert (cfg.model.hidden, cfg.train.batch, cfg.train.val_every) == (16, 16, 100)
    assert len(notes) == 1 and "val_every" not in notes[0]


@pytest.mark.parametrize("seconds", [1, 20, 20.5, 60, 120, 121, 3600])
def test_the_row_is_the_first_whose_budget_covers_the_run(seconds):
    cfg, _ = merge(values={"train.max_seconds": seconds, "model.kind": "lstm"})
    most, sizes = next((m, s) for m, s in budget.TABLE["lstm"] if seconds <= m)
    assert cfg.model.hidden == sizes["model.hidden"] and cfg.train.lr == sizes["train.lr"]


@pytest.mark.parametrize("given", [{"model.hidden": 8}, {"train.batch": 64}, {"train.lr": 1e-3}])
def test_any_size_chosen_by_the_user_keeps_the_table_out(given):
    cfg, notes = merge(values={"train.max_seconds": 10, **given})
    default = make_config({})
    key, value = next(iter(given.items()))
    section, name = key.split(".")
    assert getattr(getattr(cfg, section), name) == value
    others = {"model.hidden", "train.batch", "train.lr"} - {key}
    for k in others:
        s, n = k.split(".")
        assert getattr(getattr(cfg, s), n) == getattr(getattr(default, s), n)
    assert cfg.train.steps == default.train.steps and notes == []


def test_sizes_given_in_a_config_file_or_by_set_count_as_chosen(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("[train]\nmax_seconds = 10\nbatch = 64\n")
    cfg, notes = merge(path)
    assert cfg.train.batch == 64 and cfg.model.hidden == 32 and notes == []
    cfg, notes = merge(None, {"train.max_seconds": 10}, ["model.hidden=24"])
    assert cfg.model.hidden == 24 and cfg.train.batch == 128 and notes == []


def test_a_step_limit_given_is_kept():
    cfg, notes = merge(values={"train.max_seconds": 10, "train.steps": 300})
    assert cfg.train.steps == 300 and cfg.model.hidden == 16 and len(notes) == 1


def test_no_budget_or_no_row_changes_nothing():
    assert merge(values={"train.steps": 100})[0] == make_config({"train": {"steps": 100}})
    cfg, notes = merge(values={"train.max_seconds": 10, "model.kind": "esn"})
    assert notes == [] and cfg.train.batch == 128


def test_the_choice_is_recorded_and_made_again_only_for_what_nobody_chose(tmp_path):
    """A config's config.toml carries its sizes: read back, nothing changes, even with another
    budget. Merged again (a sweep's point), the table's sizes are the table's, not the
    user's: another budget sizes it for that budget (a sweep over budgets kept the first
    one's sizes), and a size the point chooses leaves the rest at their defaults, as
    ``lagnet train`` does (tests/test_budget_clock.py)."""
    cfg, _ = merge(values={"train.max_seconds": 10})
    again, notes = merge(cfg, {"seed": 3})
    assert (again.model.hidden, again.train.batch, again.train.lr) == (16, 16, 0.02)
    longer, notes = merge(cfg, {"seed": 3, "train.max_seconds": 300})
    sizes = next(s for m, s in budget.TABLE["gru"] if m >= 300)
    assert longer.model.hidden == sizes["model.hidden"] and notes
    from lagnet.config import config_to_toml

    path = tmp_path / "config.toml"
    path.write_text(config_to_toml(cfg))
    loaded = load_config(path)
    assert loaded == cfg  # what the table picked is no setting: equal as written
    kept = merge(loaded, {"train.max_seconds": 300})[0]  # read back: chosen, as written
    assert (kept.model.hidden, kept.train.batch) == (16, 16)


def test_a_task_is_sized_for_its_budget():
    cfg, notes = merge(task_config("narma10"))
    assert cfg.model.kind == "gru" and cfg.train.max_seconds == 60
    sizes = next(s for m, s in budget.TABLE["gru"] if m >= 60)
    assert cfg.model.hidden == sizes["model.hidden"] and cfg.train.batch == sizes["train.batch"]
    assert notes and notes[0].startswith("budget 60 s, gru:")


def test_the_table_is_well_formed():
    for kind, rows in budget.TABLE.items():
        limits = [m for m, _ in rows]
        assert limits == sorted(limits) and limits[-1] == math.inf, kind
        for _, sizes in rows:
            assert set(sizes) >= set(budget.SIZES), kind
            model = {k[6:]: v for k, v in sizes.items() if k.startswith("model.")}
            make_config({"model": {"kind": kind, **model}})
