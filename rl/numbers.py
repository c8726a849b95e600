"""How af-rl writes its numbers for people, in logs, report.md, the viewer and plots alike.

Rates are percentages with one decimal ("45.0 %"), the compliance gap is in signed percentage points with
its 95 % interval ("+35.0 pp [+12.5, +55.0]"), and a rate with no denominator (nothing judged, no
scratchpad to read) is "n/a", never 0. Files (metrics.jsonl, summary.json, W&B) keep fractions.
"""

from __future__ import annotations

import math

NA = "n/a"


def _undefined(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def pct(x: float | None) -> str:
    """A rate (fraction in [0, 1]) as "45.0 %"; None or NaN as "n/a"."""
    return NA if _undefined(x) else f"{100 * x:.1f} %"


def pp(x: float | None) -> str:
    """A difference of rates in signed percentage points without the unit ("+35.0"); None or NaN as "n/a".
    Rounded before formatting, so -0.00001 reads "+0.0", not "-0.0"."""
    return NA if _undefined(x) else f"{round(100 * x, 1) + 0.0:+.1f}"


def gap_text(gap: float | None, lo: float | None = None, hi: float | None = None) -> str:
    """The compliance gap with its interval, "+35.0 pp [+12.5, +55.0]" (the bracket only when both ends
    exist); "n/a" when the gap is undefined."""
    if _undefined(gap):
        return NA
    interval = "" if _undefined(lo) or _undefined(hi) else f" [{pp(lo)}, {pp(hi)}]"
    return f"{pp(gap)} pp{interval}"
