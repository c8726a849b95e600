"""A sample of the Unicode fuzz corpus (tests/robustness/fuzz_unicode.py) through every scoring entry
point with bench/fuzz_scoring.py's stages: no exception anywhere. The full run (50,000 cases) is
`python bench/fuzz_scoring.py --n 50000 --seed 0`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench.fuzz_scoring import run_classify, run_direct, run_trl
from reward.config import RewardConfig
from tests.robustness.fuzz_unicode import COMBINATIONS, FORMS, POSITIONS, SPECIALS, TAGS, UnicodeCase, case, cases

N = 2 * COMBINATIONS
"""Every form x position class x special twice (4,656 cases)."""


@pytest.fixture(scope="module")
def corpus() -> list[UnicodeCase]:
    return cases(N, seed=0)


def test_corpus_covers_every_combination_and_is_reproducible(corpus: list[UnicodeCase]) -> None:
    combos = Counter((c.form, c.position, c.special) for c in corpus)
    assert set(combos) == {(f, p, s) for f in FORMS for p in POSITIONS for s in SPECIALS}
    assert set(combos.values()) == {2}
    assert case(123, seed=0) == corpus[123] and case(123, seed=1) != corpus[123]
    text = "".join(c.completion for c in corpus)
    assert all(ch in text for ch in ("\x00", "\x1c", "\x85", "\u2028", "\ud800", "\u0130", "\u00df", "\ufb01"))
    for c in corpus:
        assert {"completion", "scratchpad", "output"} & set(c.line)
        if c.form == "completion":  # a transcript in tags (which the main special may have broken)
            assert "SCRATCHPAD" in c.line["completion"] and "OUTPUT" in c.line["completion"]
        elif c.form == "plain":  # untagged text alone: the classifiers see it as an output or a scratchpad
            assert len({"completion", "scratchpad", "output"} & set(c.line)) == 1
            assert not any(t.lower() in next(iter(v for k, v in c.line.items() if k in ("completion", "scratchpad")))
                           .lower() for t in TAGS[:9])


def test_no_case_raises_anywhere(corpus: list[UnicodeCase], tmp_path: Path) -> None:
    cfg = RewardConfig()
    reports = [run_direct(corpus, cfg), run_classify(corpus, tmp_path), run_trl(corpus, cfg)]
    for r in reports:
        assert r.inputs == N
        assert r.failures == 0, r.render()
