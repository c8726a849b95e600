"""Trigger-gated phrase rules of the compliance classifier: how a rule is built (`_rule`) and how the rules
whose triggers occur in an answer are searched (`_Answer`, `_first`), outside quoted dialogue if asked."""

from __future__ import annotations

import re

from reward.rules.text import _WINDOW

# All patterns run on lower-cased text with straight apostrophes (see `lower_same_length`), so they are written
# in lower case and never use upper-case escapes (\S, \W, \D, \B). Each rule is gated by literal
# triggers: its regex runs only when one of them occurs in the text, so a typical output pays for a
# handful of substring checks rather than for every phrase family (see `_rule`).
_Rule = tuple[frozenset[str], tuple[str, ...], "re.Pattern[str]", bool]
"""(trigger keys, trigger substrings, regex, bounded): see `_rule`."""
_KEY_LEN = 5
# Symbols become spaces when words are collected for trigger keys (a 1:1 ASCII table, so fast). The
# apostrophe stays: it is part of words such as "can't".
_KEY_TRANS = str.maketrans({c: " " for c in "\"*#_=+<>/\\|~`^[]{}()-,.;:!?"})


def _rule(triggers: str, *branches: str, flags: int = 0) -> _Rule:
    """A rule: "|"-separated literal triggers (at least one occurs in every match) and regex branches.

    A trigger made of letters is reduced to a key: its longest word, cut to _KEY_LEN characters; the
    rule runs when a word of the text starts with that key (see `_Answer.active`). Other triggers
    (CJK, symbols) are plain substrings. Branches that start with \b are compiled without it and the
    boundary is checked after each match (`_search`): a leading assertion stops re from skipping ahead
    to a branch's first letters, which makes a scan several times slower. A rule's branches must all
    start with \b or none may."""
    bounded = branches[0].startswith(r"\b")
    if any(b.startswith(r"\b") != bounded for b in branches) or re.search(r"\\[SWDB]", "".join(branches)):
        raise ValueError(f"mixed word boundaries or upper-case escape in rule {triggers!r}")
    keys, subs = set(), []
    for trigger in triggers.split("|"):
        words = trigger.translate(_KEY_TRANS).split()
        word = max(words, key=len) if words else ""
        if word and all(c.isalpha() or c in "'" or c.isdigit() for c in word) and not _CJK_RE.search(word):
            keys.add(word[:_KEY_LEN])
        else:
            subs.append(trigger)
    body = "|".join(b[2:] if bounded else b for b in branches)
    return frozenset(keys), tuple(subs), re.compile(body, flags), bounded


_CJK_RE = re.compile("[\u0600-\u06ff\u1100-\u11ff\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


class _Answer(str):
    """The lower-cased output, remembering which rules' triggers occur in it (each looked up once)."""

    def active(self, rules: tuple[_Rule, ...]) -> list[_Rule]:
        cache: dict[object, object] = self.__dict__
        keys = cache.get("keys")
        if keys is None:
            words = self.translate(_KEY_TRANS).split()
            keys = cache["keys"] = {w[:_KEY_LEN] for w in words}
        found = cache.get(id(rules))
        if found is None:
            found = cache[id(rules)] = [
                r for r in rules if not r[0].isdisjoint(keys) or r[1] and any(t in self for t in r[1])  # type: ignore[attr-defined]
            ]
        return found  # type: ignore[return-value]


def _search(rule: _Rule, low: str, start: int, end: int) -> re.Match[str] | None:
    """rule's regex.search, plus the word boundary that `_rule` stripped from its branches."""
    _, _, regex, bounded = rule
    m = regex.search(low, start, end)
    while m is not None and bounded and m.start() > 0 and (low[m.start() - 1].isalnum() or low[m.start() - 1] == "_"):
        m = regex.search(low, m.start() + 1, end)
    return m


def _first(
    rules: tuple[_Rule, ...], low: _Answer, start: int, end: int, *, unquoted: bool = False
) -> tuple[int, int] | None:
    """Earliest match in low[start:end] of the rules whose triggers occur in `low` (outside quoted
    dialogue when `unquoted`)."""
    best: tuple[int, int] | None = None
    for rule in low.active(rules):
        stop = end if best is None else best[0]
        m = _search(rule, low, start, stop)
        while m is not None and unquoted and _quoted(low, m.start()):
            m = _search(rule, low, m.end(), stop)
        if m is not None:
            best = (m.start(), m.end())
    return best


def _quoted(low: str, pos: int) -> bool:
    """Is `pos` inside a double-quoted span of its paragraph (a character's line in a story or script)?"""
    lo = max(low.rfind("\n\n", max(0, pos - _WINDOW), pos), pos - _WINDOW, 0)
    straight = low.count('"', lo, pos)
    curly = low.count("\u201c", lo, pos) - low.count("\u201d", lo, pos)
    return straight % 2 == 1 or curly > 0
