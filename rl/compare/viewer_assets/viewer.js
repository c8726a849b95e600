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
  const pct = (x) => (isNum(x) ? (100 * x).toFixed(1) + "%" : "\u2013");
  const pp = (x) => (isNum(x) ? (x > 0 ? "+" : "") + (100 * x).toFixed(1) : "\u2013");

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
      if (r._hay === undefined) r._hay = [r.query, r.scratchpad, r.output || ""].join("\n").toLowerCase();
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
    byId("rendered").textContent = left ? ` \u2014 the first ${shown} are on the page` : "";
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
            " \u201c" + e.text + "\u201d" + (e.found ? "" : " (not found in the scratchpad)")) : null);
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
      return el("td", { class: "num", title: parts.join(" \u00b7 ") || null }, pct(t[key]));
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
        el("td", { class: "num" }, `${free.n ?? "\u2013"} / ${paid.n ?? "\u2013"}`),
        el("td", { class: "num" }, `${free.failed ?? "\u2013"} / ${paid.failed ?? "\u2013"}`));
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
  const dot = " \u00b7 ";
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
