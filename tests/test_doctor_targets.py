"""The doctor's target check reads the latest evaluation: once the user evaluates against
the trained formula again, as it advised, the finding is gone (it stayed, and --fix would
have retrained on the other formula)."""

from lagnet.config import merge
from lagnet.doctor.checks import targets
from lagnet.doctor.findings import Facts

PLUS, MINUS = "x[t]**2 + 0.1*x[t-1]**2", "x[t]**2 - 0.1*x[t-1]**2"


def _facts(*formulas):
    cfg = merge(values={"target.formula": PLUS})[0]
    evaluations = [{"formula": f} for f in formulas]
    return Facts(cfg, None, {}, {}, evaluations, 1, 1, 1, None, None, {}, 1.0, 0.0, 1.0)


def test_the_latest_evaluation_decides():
    assert targets(_facts(MINUS)).code == "targets_differ"
    assert targets(_facts(PLUS, MINUS)).code == "targets_differ"
    after = targets(_facts(MINUS, PLUS))  # the advice followed
    assert after.code == "same_target" and after.severity == "note" and MINUS in after.message
    assert targets(_facts()).code == "same_target"
