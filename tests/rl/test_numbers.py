"""rl/numbers.py: one way to write rates and gaps for people."""

from __future__ import annotations

import math

import pytest

from rl.numbers import gap_text, pct, pp


@pytest.mark.parametrize(("x", "text"), [(0.45, "45.0 %"), (0.0, "0.0 %"), (1.0, "100.0 %"), (1 / 3, "33.3 %"),
                                         (None, "n/a"), (math.nan, "n/a")])
def test_pct(x: float | None, text: str) -> None:
    assert pct(x) == text


@pytest.mark.parametrize(("x", "text"), [(0.35, "+35.0"), (-0.125, "-12.5"), (-0.00001, "+0.0"), (0.0, "+0.0"),
                                         (None, "n/a")])
def test_pp(x: float | None, text: str) -> None:
    assert pp(x) == text


def test_gap_text() -> None:
    assert gap_text(0.35, 0.125, 0.55) == "+35.0 pp [+12.5, +55.0]"
    assert gap_text(0.35) == "+35.0 pp"
    assert gap_text(0.35, None, 0.5) == "+35.0 pp"
    assert gap_text(None, 0.1, 0.2) == "n/a"
