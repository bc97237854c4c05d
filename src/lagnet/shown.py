"""Numbers in sentences, rounded without overstating: a share of 0.9998 reads "99.98%" and
"0.9998", not "100.0%" and "1.000" beside a table that says 0.9998."""

from __future__ import annotations

import math


def below(x: float, places: int, top: float = 1.0, most: int = 6) -> str:
    """``x`` with ``places`` decimals, more (up to ``most``) while the rounded text would
    reach ``top`` that ``x`` does not (beyond that, ``places`` again: the difference is
    noise): ``below(0.9998, 3)`` is "0.9998", ``below(99.98, 1, 100)`` "99.98";
    ``below(0.5, 3)`` is "0.500"."""
    text = f"{x:.{places}f}"
    if not math.isfinite(x) or x >= top:
        return text
    more = places
    # more decimals for a value below the top, and for one that would read "-0.000"
    while more < most and (float(text) >= top or (float(text) == 0 and x < 0)):
        more += 1
        text = f"{x:.{more}f}"
    if float(text) == 0:
        return f"{0.0:.{places}f}"  # -1e-9: zero, without a sign
    return text if float(text) < top else f"{x:.{places}f}"  # 1 - 1e-14: as good as 1


def percent(share: float, places: int = 1) -> str:
    """A share as a percentage that reaches 100 only when the share reaches 1:
    ``percent(0.9998)`` is "99.98%" (at most 4 decimals: a share's 6, as :func:`below`)."""
    return below(100 * share, places, 100.0, most=4) + "%"
