"""``model.kind = "auto"``: fit narx and esn (seconds), then a GRU with what is left of the
time budget, and keep whichever does best on the run's validation set (``lagnet.fitting``
does the choosing; this file declares the chooser and its settings)."""

from __future__ import annotations

from typing import Literal

from lagnet.models.esn import ESNConfig
from lagnet.models.family import FAMILIES, Family
from lagnet.models.narx import NARXConfig
from lagnet.models.rnn import GRUConfig


class AutoConfig(NARXConfig, ESNConfig, GRUConfig):
    """Every candidate's settings in one config: each candidate is fitted with the ones it
    has (``reservoir`` for the esn, ``window`` for the narx, ``hidden`` for the gru, …)."""

    kind: Literal["auto"] = "auto"


FAMILIES.register(
    Family(
        kind="auto",
        config=AutoConfig,
        candidates=("narx", "esn", "gru"),
        summary="narx, esn and a gru within the time budget; the best on validation is kept",
    )
)
