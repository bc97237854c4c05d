"""``lagnet doctor``: why a model did not learn the past, and what to change.

    diagnose(run_dir)  ->  Diagnosis   every diagnostic, nothing written   (core.py)
    write(diagnosis)                   doctor.json, plots, report section  (core.py)
    fix(diagnosis)                     train again with the remedies, compare (core.py)

The parts: what a finding and a remedy are (findings.py) and the checks that make them
(checks.py), the lag oracle and the memory probe (memory.py), gradient flow through time and
the long-horizon error (flow.py), the verdict in words (verdict.py), figures (plots.py), the
report section (html.py); ``lagnet.records`` keeps the evaluations ``lagnet eval`` made, so a
target that differs between training and evaluation is caught. The ``lagnet doctor`` command
lives with the other commands, in ``lagnet.cli.doctor``.
"""

from lagnet.doctor.core import Diagnosis as Diagnosis
from lagnet.doctor.core import diagnose as diagnose
from lagnet.doctor.core import fix as fix
from lagnet.doctor.core import fixed_dir as fixed_dir
from lagnet.doctor.core import write as write
from lagnet.doctor.findings import Finding as Finding
from lagnet.doctor.findings import Remedy as Remedy
from lagnet.doctor.verdict import lines as verdict_lines
from lagnet.records import read_evaluations as read_evaluations
from lagnet.records import record_evaluation as record_evaluation

__all__ = [
    "Diagnosis",
    "Finding",
    "Remedy",
    "diagnose",
    "fix",
    "fixed_dir",
    "read_evaluations",
    "record_evaluation",
    "verdict_lines",
    "write",
]
