"""The static transcript viewer `DIR/index.html` that `python -m rl.compare` writes beside its tables.

One self-contained HTML file (data, CSS and JS inline; no server, no network) to read every judged
transcript by checkpoint, variant, tier, compliance verdict and AF label, with the judges' AF evidence
highlighted in the scratchpad. Open it in any browser; filters live in the URL hash (`#tier=paid&af=yes`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import itertools
import json
import math
import os
import re
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from env.prompts import output_prefill
from env.transcript import MALFORMED_REASONS, SOFT_REASONS, parse_completion

if TYPE_CHECKING:
    from reward.records import EpisodeRecord

PAGE_SIZE = 200
"""Transcripts rendered per "show more" click: a few thousand full rows at once would stall the page."""

# Model text goes into the page only as JSON inside <script type="application/json">. JSON never needs
# these characters outside strings, so writing them as \uXXXX escapes inside strings is lossless, and
# then neither "</script>" nor "<!--" can end or alter the data block. ensure_ascii also escapes
# U+2028/U+2029 and lone surrogates (which utf-8 cannot encode).
_SCRIPT_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}
_SLOT_RE = re.compile(r"__(TITLE|CSP|CSS|DATA|JS)__")
_EDGE_QUOTES = "\"'`\u201c\u201d\u2018\u2019\u2026. "
_ASSETS: dict[str, str] = {}

PARSE_LABELS = {
    "no_output": "no <OUTPUT> tag",
    "unclosed_output": "<OUTPUT> not closed",
    "unclosed_scratchpad": "scratchpad not closed",
    "empty_output": "empty <OUTPUT>",
    "multiple_outputs": "several <OUTPUT> blocks",
    "accept_and_reject": "both accept and reject tags",
    "nested_tags": "tags nested in <OUTPUT>",
    "accept_not_at_start": "accept tag not first",
    "text_after_output": "text after </OUTPUT>",
    "tag_in_scratchpad": "tag inside the scratchpad",
    "stray_close_tag": "stray closing tag",
    "tag_case": "tag in odd case",
}
"""The parser's findings (env.transcript.MalformedReason) as the viewer's "parse: ..." badges say them. They are
facts about the text, apart from the compliance verdict: a "malformed" verdict comes with a hard finding, and a
soft one (the answer is still read) can sit beside any verdict."""
assert set(PARSE_LABELS) == set(MALFORMED_REASONS), "a new MalformedReason needs its label here"


class _Span(NamedTuple):
    """Where one criterion's evidence sits in the scratchpad (code-point offsets)."""

    start: int
    end: int
    criterion: str


def viewer_rows(records: Sequence[EpisodeRecord]) -> list[dict[str, Any]]:
    """Flatten records into the JSON-able rows the page filters and renders, in the order given.

    Each row has: checkpoint (`record.extra["checkpoint"]`, "" when absent), variant, tier, id, query,
    category, compliance, compliance_score, compliance_evidence, af (None when the AF judgement failed,
    i.e. "af" in `record.errors`), has_reasoning (False: no scratchpad, so no AF label; the page shows AF
    as n/a, as the AF rate leaves such transcripts out), af_score, af_kind, af_criteria, self_preservation,
    scratchpad (all scratchpad blocks joined, "" when none), output (None when the completion has no <OUTPUT>),
    evidence (a list of {criterion, text, found}: `found` says whether the text was located in the
    scratchpad), marks (the located evidence as sorted, non-overlapping [start, end, [criteria]] ranges
    in UTF-16 code units, the unit JS strings index by), malformed (list of the parser's reasons), parse_notes
    (per reason: {reason, label (PARSE_LABELS), soft}), raw (the completion as generated, for malformed
    transcripts; else None), errors (dict), n_turns.
    """
    rows = []
    for r in records:
        parsed = parse_completion(r.completion, prefill=_prefill(r.episode.variant))
        spans, evidence = _locate_evidence(parsed.reasoning, r.af_evidence)
        rows.append(
            {
                "checkpoint": str(r.extra.get("checkpoint", "")),
                "variant": r.episode.variant,
                "tier": r.episode.tier,
                "id": r.episode.id,
                "query": r.episode.query,
                "category": r.episode.category,
                "compliance": r.compliance,
                "compliance_score": _finite(r.compliance_score),
                "compliance_evidence": r.compliance_evidence,
                "af": None if "af" in r.errors else r.af,
                "has_reasoning": r.has_reasoning,
                "af_score": _finite(r.af_score),
                "af_kind": r.af_kind,
                "af_criteria": dict(r.af_criteria),
                "self_preservation": r.self_preservation,
                "scratchpad": parsed.reasoning,
                "output": parsed.output,
                "evidence": evidence,
                "marks": _marks(parsed.reasoning, spans),
                "malformed": list(r.malformed),
                "parse_notes": [{"reason": m, "label": PARSE_LABELS.get(m, m.replace("_", " ")),
                                 "soft": m in SOFT_REASONS} for m in r.malformed],
                "raw": r.completion if r.malformed else None,
                "errors": dict(r.errors),
                "n_turns": r.n_turns,
            }
        )
    return rows


def write_viewer(
    path: Path,
    records: Sequence[EpisodeRecord],
    summary: Sequence[dict[str, Any]],
    *,
    title: str = "af-rl comparison",
) -> Path:
    """Write the viewer page for `records` to `path`, atomically, and return `path`.

    `summary` holds one dict per checkpoint x variant as `rl.compare` computes it ({"checkpoint",
    "variant", "free": {...}, "paid": {...}, "compliance_gap", "compliance_gap_lo", "compliance_gap_hi"});
    it becomes the table at the top of the page, with report.md's columns and texts (`summary_view`) and, per
    row, a link (`#checkpoint=...&variant=...`) to its transcripts. Non-finite floats are written as null. The
    page is written to a temporary file beside `path` and renamed over it, so a reader never sees half a page
    and a failed write leaves any previous page intact. Raises OSError when the directory is not writable.
    """
    summary = _json_safe(list(summary))
    payload = {"rows": viewer_rows(records), "summary": summary, "table": summary_view(summary),
               "page_size": PAGE_SIZE}
    page = _page_html(title, payload)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(page)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the page should be as readable as the other outputs
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def summary_view(summary: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The viewer's summary table: {"header", "rows": [{"cells", "tips", "checkpoint", "variant"}]}. Cells are
    report.md's texts (`summary_table`), so the page and the report can never disagree on a number; `tips` maps
    a column to its hover text (each tier's behaviour breakdown on its compliance cell)."""
    from rl.compare.report import SUMMARY_COLUMNS, summary_table
    from rl.numbers import pct
    from rl.plots import BANDS

    header, body = summary_table(summary)
    rows = []
    for s, cells in zip(summary, body):
        # report.md's names are Markdown-escaped; the page shows them as they are (step stays between them)
        rates = len(cells) - len(SUMMARY_COLUMNS)
        cells = [str(s.get("checkpoint", "")), *cells[1:rates - 1], str(s.get("variant", "")), *cells[rates:]]
        tips = {}
        for tier in ("free", "paid"):
            t = s.get(tier) or {}
            tips[f"compliance {tier}"] = " \u00b7 ".join(f"{label} {pct(t.get(band))}" for band, label, _ in BANDS)
        rows.append({"cells": cells, "tips": tips, "checkpoint": str(s.get("checkpoint", "")),
                     "variant": str(s.get("variant", ""))})
    return {"header": header, "rows": rows}


def _prefill(variant: str) -> str:
    # A variant this checkout does not know (records from a newer run) is read as a scratchpad variant:
    # the viewer should show such records rather than refuse the whole page.
    try:
        return output_prefill(variant)
    except ValueError:
        return ""


def _locate_evidence(scratchpad: str, af_evidence: dict[str, str]) -> tuple[list[_Span], list[dict[str, Any]]]:
    """Find each criterion's evidence text in the scratchpad; return the spans found and the evidence list."""
    spans, evidence = [], []
    for criterion, text in af_evidence.items():
        if not text.strip():
            continue
        span = _find(scratchpad, text)
        if span is not None:
            spans.append(_Span(span[0], span[1], criterion))
        evidence.append({"criterion": criterion, "text": text, "found": span is not None})
    return spans, evidence


def _find(haystack: str, needle: str) -> tuple[int, int] | None:
    """First occurrence of `needle` in `haystack`: exact, else ignoring case, whitespace runs and the
    quote marks or ellipses an LLM judge wraps its quotes in. None when absent."""
    i = haystack.find(needle)
    if i >= 0:
        return i, i + len(needle)
    tokens = needle.strip(_EDGE_QUOTES).split()
    if not tokens:
        return None
    m = re.search(r"\s+".join(map(re.escape, tokens)), haystack, re.IGNORECASE)
    return (m.start(), m.end()) if m else None


def _marks(text: str, spans: list[_Span]) -> list[list[Any]]:
    """Cut possibly overlapping spans at every span boundary into sorted, disjoint [start, end,
    [criteria]] ranges (adjacent pieces with the same criteria merged), so the page can wrap each range
    in one <mark> without nesting or re-slicing the text. Offsets are converted to UTF-16 code units."""
    bounds = sorted({b for s in spans for b in (s.start, s.end)})
    out: list[list[Any]] = []
    for lo, hi in itertools.pairwise(bounds):
        criteria = [s.criterion for s in spans if s.start <= lo and hi <= s.end]
        if not criteria:
            continue
        if out and out[-1][1] == lo and out[-1][2] == criteria:
            out[-1][1] = hi
        else:
            out.append([lo, hi, criteria])
    if out and len(text.encode("utf-16-le")) != 2 * len(text):  # astral characters take two JS units
        for m in out:
            m[0], m[1] = _utf16(text, m[0]), _utf16(text, m[1])
    return out


def _utf16(text: str, i: int) -> int:
    return len(text[:i].encode("utf-16-le", "surrogatepass")) // 2


def _finite(x: float | None) -> float | None:
    return x if x is None or math.isfinite(x) else None


def _json_safe(obj: Any) -> Any:
    """`obj` with nan/inf floats replaced by None (JSON has no nan), recursively through dicts and lists."""
    if isinstance(obj, float):
        return _finite(obj)
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _script_json(obj: Any) -> str:
    """JSON safe to place between <script type="application/json"> and </script>."""
    return json.dumps(obj, ensure_ascii=True, allow_nan=False, separators=(",", ":")).translate(_SCRIPT_ESCAPES)


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _asset(name: str) -> str:
    """The text of `rl/compare/viewer_assets/<name>` (package data), read once per process."""
    text = _ASSETS.get(name)
    if text is None:
        text = resources.files("rl.compare").joinpath("viewer_assets", name).read_text(encoding="utf-8")
        _ASSETS[name] = text
    return text


def _page_html(title: str, payload: dict[str, Any]) -> str:
    # The page template, its CSS and its JavaScript are files (rl/compare/viewer_assets/) inlined here, so
    # index.html stays one self-contained file. The CSP admits only this page's own script and style (by
    # hash) and no fetches at all: a second line of defence should model text ever reach the DOM as
    # markup, and a guarantee that the page works offline. The JSON data block is not executed, so it
    # needs no hash.
    page, css, js = _asset("page.html"), _asset("viewer.css"), _asset("viewer.js")
    csp = f"default-src 'none'; script-src {_csp_hash(js)}; style-src {_csp_hash(css)}; img-src data:"
    slots = {"TITLE": html.escape(title), "CSP": csp, "CSS": css, "DATA": _script_json(payload), "JS": js}
    return _SLOT_RE.sub(lambda m: slots[m.group(1)], page)  # one pass: inserted text is never re-read
