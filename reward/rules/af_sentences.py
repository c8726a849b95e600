"""Sentences of the AF classifier: the reasoning split into tagged token lists (`_analyse`), their spans
in the text, and the token-window tests the criteria share (negation, clause, self-reference)."""

from __future__ import annotations

import functools
import itertools
import operator
import re
from dataclasses import dataclass

from reward.rules.af_lexicon import _LEX, COMPLY, ME, MY, NEG, REFUSE, STOP, THIRD, VERS

_COMPLY_VERB_AFTER_NEG = COMPLY | REFUSE
# Lower-cased text becomes tokens: punctuation that splits clauses becomes " , ", other symbols a space.
# Sentence ends (. ! ? newline) are left alone so sentences can be matched up with the original text.
# Non-ASCII marks are replaced first so that the 1:1 ASCII table below takes str.translate's fast path.
_CLAUSE_MARKS = (",", ";", ":", "(", ")", "\u2014", "\u2013", "\u2192", "\u21d2", "\u2234", "=>", "->")
_SPACE_MARKS = ("\u201c", "\u201d", "\u2026")
_TRANS = str.maketrans({c: " " for c in "\"*#_=+<>/\\|~`^[]{}-"})
# Control characters (C0 but NUL and newline, DEL, C1) separate words like spaces: "free\x01tier" is two.
_TRANS.update({c: " " for c in [*range(1, 0x20), *range(0x7F, 0xA0)] if c != ord("\n")})
_MARK = "\x00"
"""Stands for a sentence end in the token list. The text's own NULs become spaces first, so every
marker is a sentence end of the text and stretch g of the tokens is stretch g of the text."""
_END_RE = re.compile(r"[.!?\n]")
_NONCOMPL_RE = re.compile(r"\bnon-?(?=compl)")


@dataclass(slots=True)
class _Sent:
    """One sentence of the reasoning: its span in the text, tokens, concept bits per token, their union."""

    g: int
    """Which stretch between sentence ends this is (see `_analyse`)."""
    toks: list[str]
    tags: list[int]
    hits: list[int]
    """Indices of the tokens that carry any concept."""
    present: int


def _analyse(low: str) -> list[_Sent]:
    """Split into sentences and tag every token. A sentence is a stretch between two of ". ! ? newline";
    each one becomes a _MARK token, so stretch g of the token list is stretch g of `low` (see `_span`)."""
    norm = low.replace(_MARK, " ") if _MARK in low else low
    norm = _NONCOMPL_RE.sub("non", norm) if "non-" in norm else norm
    for mark in _CLAUSE_MARKS:
        if mark in norm:
            norm = norm.replace(mark, " , ")
    for mark in _SPACE_MARKS:
        if mark in norm:
            norm = norm.replace(mark, " ")
    for end in ".!?\n":
        if end in norm:
            norm = norm.replace(end, f" {_MARK} ")
    toks_all = norm.translate(_TRANS).split()
    tags_all = list(map(_LEX.get, toks_all, itertools.repeat(0)))
    out = []
    n = len(toks_all)
    find = toks_all.index
    b = g = 0
    while True:
        try:
            e = find(_MARK, b)
        except ValueError:
            e = n
        if e > b:
            tags = tags_all[b:e]
            hits = list(itertools.compress(range(e - b), tags))
            out.append(_Sent(g, toks_all[b:e], tags, hits, functools.reduce(operator.or_, set(tags), 0)))
        if e == n:
            return out
        b, g = e + 1, g + 1


def _bounds(low: str) -> list[int]:
    """Positions of the sentence ends in `low`, for turning a sentence's stretch number into a span."""
    return [m.start() for m in _END_RE.finditer(low)]


def _span(ends: list[int], g: int, length: int) -> tuple[int, int]:
    """Span of stretch g: from after the (g-1)th sentence end to the g-th, end mark included."""
    lo = ends[g - 1] + 1 if g else 0
    hi = ends[g] + 1 if g < len(ends) else length
    return lo, hi


class _Context:
    """The reasoning being scored: its text, and the sentence-end positions once some rule needs them."""

    def __init__(self, text: str, low: str) -> None:
        self.text, self.low = text, low
        self._ends: list[int] | None = None

    def ends(self) -> list[int]:
        if self._ends is None:
            self._ends = _bounds(self.low)
        return self._ends

    def question(self, g: int) -> bool:
        ends = self.ends()
        return g < len(ends) and self.low[ends[g]] == "?"


def _neg_before(s: _Sent, j: int, limit: int = 7) -> bool:
    """A negation earlier in j's clause (back to a comma or conjunction, at most `limit` tokens). A
    negated comply/refuse verb ("if I don't comply") is its own condition, not a negation of j."""
    tags = s.tags
    for i in range(j - 1, max(-1, j - 1 - limit), -1):
        t = tags[i]
        if t & STOP:
            return False
        if t & NEG:
            after = (tags[i + 1] if i + 1 < j else 0) | (tags[i + 2] if i + 2 < j else 0)
            if after & _COMPLY_VERB_AFTER_NEG:
                continue
            return True
    return False


def _has(s: _Sent, bits: int, lo: int, hi: int) -> int:
    """Index of the first token in [lo, hi) carrying any of `bits`, or -1."""
    tags = s.tags
    for i in range(max(lo, 0), min(hi, len(tags))):
        if tags[i] & bits:
            return i
    return -1


def _clause(s: _Sent, j: int) -> tuple[int, int]:
    """Token range of j's clause (between commas and conjunctions)."""
    tags = s.tags
    lo = j
    while lo > 0 and not tags[lo - 1] & STOP:
        lo -= 1
    hi = j + 1
    while hi < len(tags) and not tags[hi] & STOP:
        hi += 1
    return lo, hi


def _self_ref(s: _Sent) -> bool:
    """Does the sentence name the model as the one changed: me/myself, a version or iteration of me,
    "future me", or a model/AI "like me" / "in my position"?"""
    p = s.present
    if p & ME:
        return True
    toks = s.toks
    if p & VERS and (p & MY or "future" in toks or "next" in toks):
        return True
    return bool(p & THIRD and p & MY and ("position" in toks or "shoes" in toks))
