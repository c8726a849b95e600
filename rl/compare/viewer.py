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
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from env.prompts import output_prefill
from env.transcript import parse_completion

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


class _Span(NamedTuple):
    """Where one criterion's evidence sits in the scratchpad (code-point offsets)."""

    start: int
    end: int
    criterion: str


def viewer_rows(records: Sequence[EpisodeRecord]) -> list[dict[str, Any]]:
    """Flatten records into the JSON-able rows the page filters and renders, in the order given.

    Each row has: checkpoint (`record.extra["checkpoint"]`, "" when absent), variant, tier, id, query,
    category, compliance, compliance_score, compliance_evidence, af (None when the AF judgement failed,
    i.e. "af" in `record.errors`), af_score, af_kind, af_criteria, self_preservation, scratchpad (all
    scratchpad blocks joined, "" when none), output (None when the completion has no <OUTPUT>),
    evidence (a list of {criterion, text, found}: `found` says whether the text was located in the
    scratchpad), marks (the located evidence as sorted, non-overlapping [start, end, [criteria]] ranges
    in UTF-16 code units, the unit JS strings index by), malformed (list), raw (the completion as
    generated, for malformed transcripts; else None), errors (dict), n_turns.
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
                "af_score": _finite(r.af_score),
                "af_kind": r.af_kind,
                "af_criteria": dict(r.af_criteria),
                "self_preservation": r.self_preservation,
                "scratchpad": parsed.reasoning,
                "output": parsed.output,
                "evidence": evidence,
                "marks": _marks(parsed.reasoning, spans),
                "malformed": list(r.malformed),
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
    it becomes the table at the top of the page. Non-finite floats are written as null. The page is
    written to a temporary file beside `path` and renamed over it, so a reader never sees half a page
    and a failed write leaves any previous page intact. Raises OSError when the directory is not writable.
    """
    payload = {"rows": viewer_rows(records), "summary": _json_safe(list(summary)), "page_size": PAGE_SIZE}
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


def _page_html(title: str, payload: dict[str, Any]) -> str:
    # The CSP admits only this page's own script and style (by hash) and no fetches at all: a second
    # line of defence should model text ever reach the DOM as markup, and a guarantee that the page
    # works offline. The JSON data block is not executed, so it needs no hash.
    csp = f"default-src 'none'; script-src {_csp_hash(_JS)}; style-src {_csp_hash(_CSS)}; img-src data:"
    slots = {"TITLE": html.escape(title), "CSP": csp, "CSS": _CSS, "DATA": _script_json(payload), "JS": _JS}
    return _SLOT_RE.sub(lambda m: slots[m.group(1)], _PAGE)  # one pass: inserted text is never re-read


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="__CSP__">
<title>__TITLE__</title>
<style>__CSS__</style>
</head>
<body>
<header>
<h1>__TITLE__</h1>
<p id="meta" class="muted"></p>
</header>
<section id="summary-section">
<h2>Summary</h2>
<table id="summary">
<thead><tr><th>checkpoint</th><th>variant</th><th>compliance free</th><th>compliance paid</th>
<th>gap (free &minus; paid) [interval]</th><th>AF rate free</th><th>AF rate paid</th><th>n free / paid</th>
<th>failed free / paid</th></tr></thead>
<tbody></tbody>
</table>
<p class="muted">Click a row to show its transcripts.</p>
</section>
<section id="filters">
<label>checkpoint <select id="f-checkpoint"></select></label>
<label>variant <select id="f-variant"></select></label>
<label>tier <select id="f-tier"></select></label>
<label>compliance <select id="f-compliance"></select></label>
<label>AF <select id="f-af"></select></label>
<label>search <input type="search" id="f-search" placeholder="query, scratchpad or output"></label>
<label><input type="checkbox" id="f-expand" checked> expand scratchpads</label>
<button type="button" id="reset">reset filters</button>
</section>
<p><span id="count"></span><span id="rendered" class="muted"></span></p>
<main id="list"></main>
<button type="button" id="more" hidden>show more</button>
<noscript><p>This viewer needs JavaScript (it runs only the script inside this file).</p></noscript>
<script type="application/json" id="data">__DATA__</script>
<script>__JS__</script>
</body>
</html>
"""

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f; background: #f6f6f4;
  max-width: 1200px; margin: 0 auto; padding: 0 16px 48px; }
h1 { font-size: 22px; margin: 18px 0 2px; }
h2 { font-size: 16px; margin: 18px 0 6px; }
h3 { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: #666; margin: 10px 0 3px; }
[hidden] { display: none !important; }
.muted { color: #6b6b6b; }
table { border-collapse: collapse; background: #fff; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
th { background: #efefec; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
#summary tbody tr { cursor: pointer; }
#summary tbody tr:hover { background: #fff7d6; }
#filters { display: flex; flex-wrap: wrap; gap: 8px 14px; align-items: center; position: sticky; top: 0;
  z-index: 1; background: #f6f6f4; padding: 10px 0; border-bottom: 1px solid #ddd; }
#filters select, #filters input[type=search] { font: inherit; padding: 2px 4px; }
#f-search { width: 240px; }
#count { font-weight: 600; }
.transcript { background: #fff; border: 1px solid #ddd; border-left: 4px solid #bbb; border-radius: 4px;
  margin: 12px 0; padding: 8px 12px; }
.transcript[data-af="yes"] { border-left-color: #c2410c; }
.badges { display: flex; flex-wrap: wrap; gap: 4px; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; background: #eee;
  border: 1px solid #ddd; white-space: nowrap; }
.badge.tier-free { background: #e0ecff; border-color: #b5cdf5; }
.badge.tier-paid { background: #efe4ff; border-color: #d3bdf5; }
.badge.c-comply { background: #ffe1dc; border-color: #f5b5aa; }
.badge.c-partial { background: #fff1c9; border-color: #efd58a; }
.badge.c-refuse { background: #dcf5e3; border-color: #a9dfb8; }
.badge.c-malformed, .badge.c-failed, .badge.warn { background: #e9e9e9; border-color: #bbb; }
.badge.af-yes { background: #c2410c; border-color: #c2410c; color: #fff; }
.badge.af-failed, .badge.err { background: #fde2e2; border-color: #e99; color: #8a1111; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; font: 13px/1.45 ui-monospace, Menlo, Consolas, monospace;
  background: #fafaf8; border: 1px solid #eee; padding: 6px 8px; margin: 0; max-height: 36em; overflow: auto; }
details.scratchpad > summary { cursor: pointer; color: #444; margin: 8px 0 3px; }
mark.evidence { background: #ffd76a; border-bottom: 2px solid #d99a00; }
mark.evidence.multi { background: #ffb347; }
ul.criteria { margin: 4px 0; padding-left: 18px; }
ul.criteria li.met::marker { content: "\\2713  "; color: #c2410c; }
ul.criteria li.unmet::marker { content: "\\2717  "; color: #999; }
.quote { color: #555; font-style: italic; }
.errors { color: #8a1111; }
#more { display: block; margin: 16px auto; font: inherit; padding: 6px 18px; }
"""

_JS = """
(() => {
  "use strict";
  const FILTERS = ["checkpoint", "variant", "tier", "compliance", "af"];
  const VERDICTS = ["comply", "partial", "refuse", "malformed", "failed"];
  const BREAKDOWN = ["comply_no_af", "comply_af", "partial", "refuse", "malformed"];
  const data = JSON.parse(document.getElementById("data").textContent);
  const rows = data.rows;
  const PAGE_SIZE = data.page_size;
  const byId = (id) => document.getElementById(id);
  const select = Object.fromEntries(FILTERS.map((k) => [k, byId("f-" + k)]));
  const search = byId("f-search");
  const expand = byId("f-expand");
  const list = byId("list");
  const more = byId("more");
  let matched = [];
  let shown = 0;
  let lastHash = null;

  // Builds DOM nodes; strings become text nodes and attributes are set one by one, so model text is
  // never parsed as HTML.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else node.setAttribute(k, String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }
  const afValue = (r) => (r.af === null ? "failed" : r.af ? "yes" : "no");
  const valueOf = (r, key) => (key === "af" ? afValue(r) : r[key]);
  const isNum = (x) => typeof x === "number" && isFinite(x);
  const pct = (x) => (isNum(x) ? (100 * x).toFixed(1) + "%" : "\\u2013");
  const pp = (x) => (isNum(x) ? (x > 0 ? "+" : "") + (100 * x).toFixed(1) : "\\u2013");

  function fillSelect(key, fixed) {
    const counts = new Map();
    for (const r of rows) counts.set(valueOf(r, key), (counts.get(valueOf(r, key)) || 0) + 1);
    const values = fixed ? [...fixed, ...[...counts.keys()].filter((v) => !fixed.includes(v))] : [...counts.keys()];
    select[key].append(el("option", { value: "all" }, `all (${rows.length})`));
    for (const v of values) {
      select[key].append(el("option", { value: v }, `${v === "" ? "(none)" : v} (${counts.get(v) || 0})`));
    }
  }
  function ensureOption(s, v) {
    if (![...s.options].some((o) => o.value === v)) s.append(el("option", { value: v }, `${v} (0)`));
  }

  function readHash() {
    const p = new URLSearchParams(location.hash.replace(/^#/, ""));
    for (const k of FILTERS) {
      const v = p.has(k) ? p.get(k) : "all";
      ensureOption(select[k], v);
      select[k].value = v;
    }
    search.value = p.get("q") || "";
  }
  function currentHash() {
    const p = new URLSearchParams();
    for (const k of FILTERS) if (select[k].value !== "all") p.set(k, select[k].value);
    if (search.value) p.set("q", search.value);
    const h = p.toString();
    return h ? "#" + h : "";
  }
  function writeHash() {
    lastHash = currentHash();
    if (lastHash === location.hash) return;
    try {
      history.replaceState(null, "", location.href.split("#")[0] + lastHash);
    } catch (e) {
      location.replace(lastHash || "#");
    }
  }

  function matches(r, f) {
    for (const k of FILTERS) if (f[k] !== "all" && valueOf(r, k) !== f[k]) return false;
    if (f.q) {
      if (r._hay === undefined) r._hay = [r.query, r.scratchpad, r.output || ""].join("\\n").toLowerCase();
      if (!r._hay.includes(f.q)) return false;
    }
    return true;
  }
  function apply() {
    const f = { q: search.value.trim().toLowerCase() };
    for (const k of FILTERS) f[k] = select[k].value;
    matched = rows.filter((r) => matches(r, f));
    shown = 0;
    list.replaceChildren();
    renderMore();
  }
  function renderMore() {
    const frag = document.createDocumentFragment();
    for (const r of matched.slice(shown, shown + PAGE_SIZE)) frag.append(renderRow(r));
    list.append(frag);
    shown = Math.min(matched.length, shown + PAGE_SIZE);
    const left = matched.length - shown;
    more.hidden = left === 0;
    more.textContent = `show ${Math.min(left, PAGE_SIZE)} more (${left} not shown yet)`;
    byId("count").textContent = `showing ${matched.length} of ${rows.length} transcripts`;
    byId("rendered").textContent = left ? ` \\u2014 the first ${shown} are on the page` : "";
  }
  function onFilter() {
    writeHash();
    apply();
  }

  function marked(text, marks) {
    const pre = el("pre", { class: "text" });
    let pos = 0;
    for (const [start, end, criteria] of marks) {
      if (start > pos) pre.append(text.slice(pos, start));
      const cls = criteria.length > 1 ? "evidence multi" : "evidence";
      const attrs = { class: cls, title: criteria.join(", "), "data-criteria": criteria.join(" ") };
      pre.append(el("mark", attrs, text.slice(start, end)));
      pos = end;
    }
    pre.append(text.slice(pos));
    return pre;
  }
  function section(label, ...content) {
    return el("section", null, el("h3", null, label), ...content);
  }
  function renderRow(r) {
    const af = afValue(r);
    const badges = el("div", { class: "badges" },
      el("span", { class: "badge" }, r.checkpoint || "(no checkpoint)"),
      el("span", { class: "badge" }, r.variant),
      el("span", { class: "badge tier-" + r.tier }, r.tier),
      el("span", { class: "badge c-" + r.compliance }, r.compliance),
      el("span", { class: "badge af-" + af, title: "AF kind: " + r.af_kind },
        af === "failed" ? "AF judge failed"
          : (af === "yes" ? "AF" : "no AF") + (isNum(r.af_score) ? " " + r.af_score.toFixed(2) : "")),
      af === "yes" && r.af_kind !== "none" ? el("span", { class: "badge" }, "AF " + r.af_kind) : null,
      r.self_preservation ? el("span", { class: "badge warn" }, "self-preservation") : null,
      r.category ? el("span", { class: "badge" }, r.category) : null,
      r.n_turns > 1 ? el("span", { class: "badge" }, r.n_turns + " turns") : null,
      r.malformed.length ? el("span", { class: "badge warn" }, "malformed") : null,
      Object.keys(r.errors).length ? el("span", { class: "badge err" }, "judge error") : null,
      el("span", { class: "badge muted" }, "id " + r.id));
    const art = el("article", { class: "transcript", "data-checkpoint": r.checkpoint, "data-variant": r.variant,
      "data-tier": r.tier, "data-compliance": r.compliance, "data-af": af, "data-id": r.id }, badges);
    art.append(section("Query", el("div", { class: "text query" }, r.query)));
    if (r.scratchpad) {
      const n = r.evidence.filter((e) => e.found).length;
      const quoted = n ? `, ${n} evidence quote${n > 1 ? "s" : ""} highlighted` : "";
      const details = el("details", { class: "scratchpad" },
        el("summary", null, `Scratchpad (${r.scratchpad.length} chars${quoted})`),
        marked(r.scratchpad, r.marks));
      details.open = expand.checked;
      art.append(details);
    } else {
      art.append(section("Scratchpad", el("p", { class: "muted" }, "no scratchpad")));
    }
    // Criteria the judge scored, plus any that carry evidence without a verdict (listed as met).
    const quotes = new Map(r.evidence.map((e) => [e.criterion, e]));
    const unscored = [...quotes.keys()].filter((k) => !(k in r.af_criteria)).map((k) => [k, true]);
    const criteria = [...Object.entries(r.af_criteria), ...unscored];
    if (criteria.length) {
      art.append(section("AF criteria", el("ul", { class: "criteria" }, ...criteria.map(([name, met]) => {
        const e = quotes.get(name);
        return el("li", { class: met ? "met" : "unmet" }, name,
          e ? el("span", { class: "quote" },
            " \\u201c" + e.text + "\\u201d" + (e.found ? "" : " (not found in the scratchpad)")) : null);
      }))));
    }
    art.append(section("Output", r.output === null
      ? el("p", { class: "muted" }, "no output")
      : el("pre", { class: "text output" }, r.output)));
    if (r.compliance_evidence) {
      const quote = el("div", { class: "quote compliance-evidence" }, r.compliance_evidence);
      art.append(section("Compliance evidence", quote));
    }
    if (r.malformed.length) art.append(section("Malformed", el("div", { class: "malformed" }, r.malformed.join(", "))));
    if (r.raw !== null && r.raw !== undefined) {
      const raw = el("details", { class: "raw" }, el("summary", null, `Raw completion (${r.raw.length} chars)`),
        el("pre", { class: "text raw" }, r.raw));
      raw.open = !r.scratchpad && r.output === null;
      art.append(raw);
    }
    const errors = Object.entries(r.errors);
    if (errors.length) {
      const items = errors.map(([k, v]) => el("li", null, k + ": " + v));
      art.append(section("Judge errors", el("ul", { class: "errors" }, ...items)));
    }
    return art;
  }

  function renderSummary() {
    if (!data.summary.length) {
      byId("summary-section").hidden = true;
      return;
    }
    const tbody = byId("summary").tBodies[0];
    const cell = (tier, key) => {
      const t = tier || {};
      const parts = BREAKDOWN.filter((k) => isNum(t[k])).map((k) => `${k} ${pct(t[k])}`);
      return el("td", { class: "num", title: parts.join(" \\u00b7 ") || null }, pct(t[key]));
    };
    for (const s of data.summary) {
      const lo = s.compliance_gap_lo, hi = s.compliance_gap_hi;
      const gap = pp(s.compliance_gap) + (isNum(s.compliance_gap) ? " pp" : "")
        + (isNum(lo) && isNum(hi) ? ` [${pp(lo)}, ${pp(hi)}]` : "");
      const free = s.free || {}, paid = s.paid || {};
      const tr = el("tr", { title: "show these transcripts" },
        el("td", null, s.checkpoint), el("td", null, s.variant),
        cell(free, "compliance"), cell(paid, "compliance"), el("td", { class: "num" }, gap),
        cell(free, "af_rate"), cell(paid, "af_rate"),
        el("td", { class: "num" }, `${free.n ?? "\\u2013"} / ${paid.n ?? "\\u2013"}`),
        el("td", { class: "num" }, `${free.failed ?? "\\u2013"} / ${paid.failed ?? "\\u2013"}`));
      tr.addEventListener("click", () => {
        for (const k of FILTERS) select[k].value = "all";
        for (const [k, v] of [["checkpoint", s.checkpoint], ["variant", s.variant]]) {
          ensureOption(select[k], v);
          select[k].value = v;
        }
        onFilter();
        byId("filters").scrollIntoView();
      });
      tbody.append(tr);
    }
  }

  fillSelect("checkpoint");
  fillSelect("variant");
  fillSelect("tier", ["free", "paid"]);
  fillSelect("compliance", VERDICTS);
  fillSelect("af", ["yes", "no", "failed"]);
  const distinct = (k) => new Set(rows.map((r) => r[k])).size;
  const dot = " \\u00b7 ";
  byId("meta").textContent =
    `${rows.length} transcripts${dot}${distinct("checkpoint")} checkpoints${dot}${distinct("variant")} variants`;
  renderSummary();
  readHash();
  lastHash = location.hash;
  apply();
  for (const k of FILTERS) select[k].addEventListener("change", onFilter);
  search.addEventListener("input", onFilter);
  more.addEventListener("click", renderMore);
  expand.addEventListener("change", () => {
    for (const d of list.querySelectorAll("details.scratchpad")) d.open = expand.checked;
  });
  byId("reset").addEventListener("click", () => {
    for (const k of FILTERS) select[k].value = "all";
    search.value = "";
    onFilter();
  });
  // A hash pasted or edited by hand (or back/forward) re-reads the filters; our own writes are skipped.
  window.addEventListener("hashchange", () => {
    if (location.hash === lastHash) return;
    lastHash = location.hash;
    readHash();
    apply();
  });
  document.body.dataset.ready = "1";
})();
"""
