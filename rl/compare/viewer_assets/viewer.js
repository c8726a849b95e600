(() => {
  "use strict";
  const FILTERS = ["checkpoint", "variant", "tier", "compliance", "af"];
  const VERDICTS = ["comply", "partial", "refuse", "malformed", "failed"];
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
  // No scratchpad, no AF label: such transcripts are outside the AF rate's denominator, so "n/a", not "no".
  const afValue = (r) => (r.has_reasoning === false ? "n/a" : r.af === null ? "failed" : r.af ? "yes" : "no");
  const valueOf = (r, key) => (key === "af" ? afValue(r) : r[key]);
  const isNum = (x) => typeof x === "number" && isFinite(x);
  // The hash that shows one summary row's transcripts (every other filter back to "all"), as currentHash writes it.
  const rowHash = (checkpoint, variant) => "#" + new URLSearchParams({ checkpoint, variant }).toString();

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
    // One badge per fact, each saying what it is (title) so that no two read alike: the compliance verdict
    // ("malformed" among them) is not the parser's findings ("parse: no <OUTPUT> tag"), which can also sit
    // beside a well-formed verdict (soft findings).
    const badge = (cls, text, title) => el("span", { class: "badge " + cls, title }, text);
    const badges = el("div", { class: "badges" },
      badge("", r.checkpoint || "(no checkpoint)", "checkpoint"),
      badge("", r.variant, "prompt variation"),
      badge("tier-" + r.tier, r.tier,
        r.tier === "free" ? "free tier: told it is trained on" : "paid tier: told it is unmonitored"),
      badge("verdict c-" + r.compliance, r.compliance, "compliance verdict"),
      af === "n/a" ? badge("af-na", "AF n/a", "no scratchpad reasoning to judge: not in the AF rate")
        : badge("af-" + af,
          af === "failed" ? "AF judge failed"
            : (af === "yes" ? "AF" : "no AF") + (isNum(r.af_score) ? " " + r.af_score.toFixed(2) : ""),
          "alignment-faking label and score; AF kind: " + r.af_kind),
      af === "yes" && r.af_kind !== "none" ? badge("", "AF kind: " + r.af_kind, "kind of alignment faking") : null,
      r.self_preservation ? badge("warn", "self-preservation", "the reasoning argues for self-preservation") : null,
      r.category ? badge("", r.category, "query category") : null,
      r.n_turns > 1 ? badge("", r.n_turns + " turns", "turns the model took (<NEXT/> continuations)") : null,
      ...(r.parse_notes || []).map((p) => badge("parse" + (p.soft ? " soft" : ""), "parse: " + p.label,
        "the parser's finding " + p.reason
          + (p.soft ? " (soft: the answer is still read)" : " (the answer cannot be read)"))),
      Object.keys(r.errors).length
        ? badge("err", "judge error", "a judge failed on: " + Object.keys(r.errors).join(", ")) : null,
      badge("muted", "id " + r.id, "query id (the same query in both tiers)"));
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
    if (criteria.length && r.has_reasoning !== false) {  // without a scratchpad nothing was judged
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
    if ((r.parse_notes || []).length) {
      const notes = r.parse_notes.map((p) => el("li", null, `${p.label} (${p.reason}${p.soft ? ", soft" : ""})`));
      art.append(section("Parser findings", el("ul", { class: "malformed" }, ...notes)));
    }
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
    const table = data.table;
    if (!table.rows.length) {
      byId("summary-section").hidden = true;
      return;
    }
    const head = byId("summary").tHead.rows[0];
    for (const h of [...table.header, "transcripts"]) head.append(el("th", null, h));
    const lead = table.header.indexOf("variation") + 1;
    const tbody = byId("summary").tBodies[0];
    for (const row of table.rows) {
      const hash = rowHash(row.checkpoint, row.variant);
      const n = rows.filter((r) => r.checkpoint === row.checkpoint && r.variant === row.variant).length;
      const link = el("a", { href: hash, class: "to-transcripts" }, `${n} transcripts`);
      const tr = el("tr", { "data-hash": hash },
        ...row.cells.map((c, j) => el("td", { class: j < lead ? null : "num", title: row.tips[table.header[j]] }, c)),
        el("td", null, link));
      // The link is the real thing (new tab, copy, share); a click elsewhere on the row follows it too.
      tr.addEventListener("click", (ev) => {
        if (ev.target.closest("a")) return;
        link.click();
      });
      tbody.append(tr);
    }
    // Following a row's link changes the hash (the hashchange handler filters); then show the transcripts.
    byId("summary").addEventListener("click", (ev) => {
      if (!ev.target.closest("a.to-transcripts")) return;
      setTimeout(() => byId("filters").scrollIntoView(), 0);
    });
  }

  fillSelect("checkpoint");
  fillSelect("variant");
  fillSelect("tier", ["free", "paid"]);
  fillSelect("compliance", VERDICTS);
  fillSelect("af", ["yes", "no", "failed", "n/a"]);
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
