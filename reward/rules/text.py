"""Text helpers shared by both rule classifiers: same-length lower-casing and sentence spans."""

from __future__ import annotations

import re

_WINDOW = 600
"""How far sentence and quote scans look around a match: keeps every scan linear on huge outputs."""
_SENTENCE_END = ".!?\n"
_SENT_RE = re.compile(r"[^.!?\n]+")


def lower_same_length(text: str) -> str:
    """Lower-cased text with straight apostrophes, of the same length (so spans index the original).
    Characters whose lower case is longer (e.g. "\u0130") are kept as they are. Shared with the AF
    classifier."""
    low = text.lower()
    if len(low) != len(text):
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return low.replace("\u2019", "'").replace("\u2018", "'")


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return [m.span() for m in _SENT_RE.finditer(text, start, end)]


def sentence_bounds(text: str, start: int, end: int, window: int = _WINDOW) -> tuple[int, int]:
    """[lo, hi) of the sentence around text[start:end], looking at most `window` characters either
    side (so a text without sentence ends costs no quadratic scan). Shared with the AF classifier."""
    floor = max(0, start - window)
    lo = max(max(text.rfind(c, floor, start) for c in _SENTENCE_END) + 1, floor)
    ceil = min(len(text), end + window)
    ends = [i for i in (text.find(c, end, ceil) for c in _SENTENCE_END) if i >= 0]
    return lo, (min(ends) + 1 if ends else ceil)
