"""The document filter: keeps a draft only if it states at least one fact of the facts file, states no
fact the file leaves out, contradicts none, holds no harmful instructions, and is not a near-duplicate of
a document already kept; reports counts per reason, per document type and per fact.

Near-duplicates: word 5-gram shingles, a 64-bin one-permutation MinHash signature (one crc32 per shingle,
deterministic across processes), LSH with 10 bands of 6 bins for candidates, and a candidate counts as a
duplicate when at least 80 % of the two signatures' bins agree (estimated Jaccard similarity >= 0.8).
"""

from __future__ import annotations

import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from env.docs.detect import harmful_instructions, scan_facts
from env.docs.doc import Doc, Provenance
from env.docs.facts import FACT_IDS, Facts
from env.docs.offline import Draft

REASONS: tuple[str, ...] = ("harmful", "contradiction", "off_file_fact", "no_fact", "near_duplicate")
"""Why a draft is dropped, in the order they are checked (a draft counts under the first that applies):
harmful instructions; a fact contradicted; a fact stated that the facts file leaves out (an ablation
corpus must not teach it); no fact of the file stated; a near-duplicate of a kept document."""
SHINGLE_WORDS = 5
BINS = 64
BANDS, ROWS = 10, 6
DUPLICATE_THRESHOLD = 0.8
"""Fraction of agreeing signature bins (estimated Jaccard similarity of the shingle sets) from which a
document is a near-duplicate of a kept one."""
_WORD_RE = re.compile(r"[a-z0-9']+")
_EMPTY = 1 << 32


@dataclass
class FilterReport:
    """Counts of one filtering run (`as_dict` gives the report file's "filter" section)."""

    generated: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    by_type: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    """type -> {"generated": n, "kept": n, <reason>: n}."""
    by_fact: Counter[str] = field(default_factory=Counter)
    """Kept documents stating each fact."""
    contradicted: Counter[str] = field(default_factory=Counter)
    """Drafts contradicting each fact (dropped)."""
    off_file: Counter[str] = field(default_factory=Counter)
    """Drafts stating each fact the file leaves out (dropped)."""
    examples: dict[str, str] = field(default_factory=dict)
    """The first dropped draft's detail per reason (e.g. what the harm check found), for audits."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "generated": self.generated, "kept": self.kept,
            "dropped": {r: self.dropped[r] for r in REASONS},
            "by_type": {t: dict(c) for t, c in sorted(self.by_type.items())},
            "by_fact": {f: self.by_fact[f] for f in FACT_IDS if f in self.by_fact},
            "contradicted": dict(self.contradicted), "off_file": dict(self.off_file), "examples": self.examples,
            "near_duplicates": {"shingle_words": SHINGLE_WORDS, "bins": BINS, "bands": BANDS, "rows": ROWS,
                                "threshold": DUPLICATE_THRESHOLD},
        }


class DocFilter:
    """Filters drafts one at a time (`add`), remembering the kept ones' signatures for deduplication."""

    def __init__(self, facts: Facts, *, generator: str, seed: int,
                 threshold: float = DUPLICATE_THRESHOLD) -> None:
        self.facts = facts
        self.allowed = frozenset(facts.fact_ids)
        self.threshold = threshold
        self.report = FilterReport()
        self._provenance = {"generator": generator, "facts_name": facts.name,
                            "facts_fingerprint": facts.fingerprint, "seed": seed}
        self._buckets: dict[tuple[int, tuple[int, ...]], list[int]] = defaultdict(list)
        self._signatures: list[list[int]] = []

    def add(self, draft: Draft, index: int) -> Doc | None:
        """The document for draft number `index` of the corpus if it is kept, else None (counted)."""
        r = self.report
        r.generated += 1
        r.by_type[draft.type]["generated"] += 1
        reason, detail, stated = self._check(draft.text)
        signature: list[int] | None = None
        if reason is None:
            signature = minhash(draft.text)
            if (dup := self._duplicate_of(signature)) is not None:
                reason, detail = "near_duplicate", f"of kept document {dup}"
        if reason is not None:
            r.dropped[reason] += 1
            r.by_type[draft.type][reason] += 1
            r.examples.setdefault(reason, f"draft {index} ({draft.type}): {detail}")
            return None
        assert signature is not None
        self._remember(signature)
        r.kept += 1
        r.by_type[draft.type]["kept"] += 1
        r.by_fact.update(stated)
        provenance = Provenance(**self._provenance, idea=draft.idea, template=draft.template)
        return Doc(id=f"{self.facts.name}-{self._provenance['seed']}-{index:06d}", text=draft.text, type=draft.type,
                   facts=tuple(f for f in FACT_IDS if f in stated), provenance=provenance)

    def _check(self, text: str) -> tuple[str | None, str, set[str]]:
        if (harm := harmful_instructions(text)) is not None:
            return "harmful", harm, set()
        stated, contradicted = scan_facts(text)
        if contradicted:
            self.report.contradicted.update(contradicted)
            return "contradiction", f"contradicts {', '.join(sorted(contradicted))}", stated
        if off := stated - self.allowed:
            self.report.off_file.update(off)
            return "off_file_fact", f"states {', '.join(sorted(off))}, which {self.facts.name} leaves out", stated
        if not stated:
            return "no_fact", "states no fact of the file", stated
        return None, "", stated

    def _duplicate_of(self, signature: list[int]) -> int | None:
        seen: set[int] = set()
        need = self.threshold * BINS
        for band in range(BANDS):
            for j in self._buckets.get((band, tuple(signature[band * ROWS:(band + 1) * ROWS])), ()):
                if j in seen:
                    continue
                seen.add(j)
                other = self._signatures[j]
                if sum(a == b for a, b in zip(signature, other)) >= need:
                    return j
        return None

    def _remember(self, signature: list[int]) -> None:
        j = len(self._signatures)
        self._signatures.append(signature)
        for band in range(BANDS):
            self._buckets[(band, tuple(signature[band * ROWS:(band + 1) * ROWS]))].append(j)


def filter_docs(drafts: Iterable[Draft], facts: Facts, *, generator: str, seed: int) -> tuple[list[Doc], FilterReport]:
    """Filter `drafts` (numbered from 0 in the order given) against `facts`: the kept documents, in order,
    and the report."""
    f = DocFilter(facts, generator=generator, seed=seed)
    kept = [doc for i, d in enumerate(drafts) if (doc := f.add(d, i)) is not None]
    return kept, f.report


def minhash(text: str) -> list[int]:
    """The BINS-bin one-permutation MinHash signature of `text`'s word 5-gram shingles (lower-cased
    words). Empty bins borrow the next non-empty bin's value (circularly) plus an offset per step, so
    short texts still compare bin by bin; a text of no words gets all-empty bins."""
    words = _WORD_RE.findall(text.lower())
    sig = [_EMPTY] * BINS
    for i in range(max(1, len(words) - SHINGLE_WORDS + 1)):
        h = zlib.crc32(" ".join(words[i:i + SHINGLE_WORDS]).encode())
        b, v = h & (BINS - 1), h >> 6
        if v < sig[b]:
            sig[b] = v
    if all(v == _EMPTY for v in sig):
        return sig
    for b in range(BINS):
        step = 0
        while sig[(b + step) % BINS] == _EMPTY:
            step += 1
        if step:
            sig[b] = sig[(b + step) % BINS] + step * _EMPTY
    return sig
