// evalctl HTML report. Every string from the run (answers, prompts, rationales,
// dataset values) is untrusted: it is only ever placed with textContent.
(async function () {
  "use strict";
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    for (const k of kids) if (k != null) e.append(k);
    return e;
  };
  const pct = (x) => (100 * x).toFixed(1) + "%";
  // ms formats microseconds as milliseconds.
  const ms = (us) => (us < 10000 ? (us / 1000).toFixed(1) : Math.round(us / 1000)) + " ms";

  async function load() {
    const b64 = document.getElementById("evalctl-data").textContent.trim();
    const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const stream = new Blob([bin]).stream().pipeThrough(new DecompressionStream("gzip"));
    return await new Response(stream).json();
  }
  const D = await load();
  window.evalctlData = D; // for tests and the curious
  // Strings are defined where first used (a.d: [[id, text], ...]), so the
  // report is written as the run's answers stream from the store.
  const S = [];
  for (const a of D.answers) if (a.d) for (const [i, t] of a.d) S[i] = t;

  // Header.
  const m = D.run;
  document.getElementById("title").textContent = "evalctl run " + m.id + (m.name ? " (" + m.name + ")" : "");
  document.getElementById("meta").textContent = [m.status, new Date(m.started_at).toLocaleString(),
    m.git_commit ? "commit " + m.git_commit.slice(0, 12) + (m.git_dirty ? " (dirty)" : "") : "",
    "dataset " + m.dataset, "evalctl " + m.evalctl_version].filter(Boolean).join(" · ");
  const totals = D.groups.reduce((t, g) => (t.cells += g.cells, t.gen += g.generation_errors, t.sc += g.scorer_errors, t), { cells: 0, gen: 0, sc: 0 });
  document.getElementById("totals").textContent = `${totals.cells} of ${D.cells_planned} cells; ${totals.gen} generation errors and ${totals.sc} scorer errors, counted apart from pass rates (which count decided outcomes only).`;
  for (const n of D.notes || []) document.getElementById("notes").append(el("p", { class: "note", text: n }));
  if (D.groups.some((g) => g.simulated)) document.getElementById("simnote").hidden = false;

  // Heatmaps: variants (a prompt version, with its label when it has one) ×
  // models for each scorer, and overall.
  const rowKey = (g) => (g.label ? g.label + " · " : "") + g.prompt + "@" + g.prompt_version;
  const variantName = (g) => g.label ? g.label : g.prompt + "@" + g.prompt_version + " × " + g.model;
  const rowKeys = [...new Set(D.groups.map(rowKey))];
  const prompts = [...new Set(D.groups.map((g) => g.prompt))], models = [...new Set(D.groups.map((g) => g.model))];
  const group = (rk, mo) => D.groups.find((g) => rowKey(g) === rk && g.model === mo);
  const colour = (r) => `hsl(${Math.round(120 * r)}, 62%, ${88 - 30 * Math.abs(r - 0.5)}%)`;
  const heat = document.getElementById("heatmaps");
  for (const name of ["overall", ...D.scorers]) {
    const t = el("table");
    const hr = el("tr", {}, el("th"));
    for (const mo of models) hr.append(el("th", { text: mo }));
    t.append(hr);
    for (const rk of rowKeys) {
      const tr = el("tr", {}, el("th", { text: rk }));
      for (const mo of models) {
        const g = group(rk, mo);
        if (!g) { tr.append(el("td", { class: "cell", text: "" })); continue; }
        const s = name === "overall" ? g.overall : g.scorers.find((x) => x.name === name);
        const td = el("td", { class: "cell", "data-scorer": name, "data-prompt": g.prompt, "data-model": mo, "data-variant": g.variant });
        if (s && s.rate != null) {
          td.style.background = s.kind === "pass" ? colour(s.rate) : "#e8ecf5";
          td.append(s.kind === "pass" ? pct(s.rate) : s.rate.toPrecision(3));
          td.setAttribute("data-rate", String(s.rate));
          if (s.kind === "pass") td.append(el("small", { text: `[${pct(s.lo)}–${pct(s.hi)}]` + (s.skipped ? ` · of ${s.pass + s.fail}` : "") + (s.errors ? ` · ${s.errors} err` : "") }));
          td.title = `${s.pass} pass, ${s.fail} fail, ${s.errors} errors, ${s.skipped} skipped`;
        } else {
          td.append("–");
          if (s && s.errors) td.append(el("small", { text: `${s.errors} err` }));
        }
        tr.append(td);
      }
      t.append(tr);
    }
    heat.append(el("div", { class: "heatmap" }, el("h3", { text: name }), t));
  }

  // Charts: tokens, latency and errors per prompt × model.
  if (window.Chart) {
    const labels = D.groups.map(variantName);
    const bar = (id, label, data, colour) => new Chart(document.getElementById(id), {
      type: "bar", data: { labels, datasets: [{ label, data, backgroundColor: colour }] },
      options: { animation: false, maintainAspectRatio: false, plugins: { legend: { display: true } }, scales: { x: { ticks: { autoSkip: false } } } },
    });
    bar("chart-tokens", "tokens (generation + judges)", D.groups.map((g) => g.prompt_tokens + g.completion_tokens + g.judge_tokens), "#4263eb");
    bar("chart-latency", "p50 generation latency (ms)", D.groups.map((g) => g.p50_latency_ms), "#0ca678");
    bar("chart-errors", "generation errors", D.groups.map((g) => g.generation_errors), "#e8590c");
    bar("chart-cost", "cost in USD, generation + judges (empty: no price)", D.groups.map((g) => g.cost_usd), "#ae3ec9");
  }

  // Agents: steps and tool calls per variant.
  if (D.groups.some((g) => g.agent)) {
    const rows = document.getElementById("agent-rows");
    const num = (x, d) => (x == null ? "–" : x.toFixed(d));
    for (const g of D.groups) {
      const a = g.agent;
      if (!a) continue;
      const kinds = Object.entries(a.tool_errors_by_kind).sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1)).map(([k, n]) => `${k} ${n}`).join(", ");
      rows.append(el("tr", { "data-variant": g.variant }, el("td", { text: variantName(g) }), el("td", { text: num(a.mean_steps, 1) }),
        el("td", { text: String(a.tool_calls) }), el("td", { text: num(a.mean_tool_calls, 1) }),
        el("td", { text: String(a.tool_errors) + (kinds ? ` (${kinds})` : "") }), el("td", { text: a.mean_tool_latency_ms == null ? "–" : ms(a.mean_tool_latency_ms * 1000) })));
    }
    document.getElementById("agents").hidden = false;
  }

  // Answers: filters, lazy rows, drill-down.
  const A = D.answers;
  const sel = (id, values, all) => {
    const s = document.getElementById(id);
    s.append(el("option", { value: "", text: all }));
    for (const v of values) s.append(el("option", { value: v, text: v }));
    return s;
  };
  const fPrompt = sel("f-prompt", prompts, "all prompts"), fModel = sel("f-model", models, "all models");
  const fScorer = sel("f-scorer", D.scorers, "any scorer");
  const fOutcome = sel("f-outcome", ["pass", "fail", "error", "skip"], "any outcome");
  const fSearch = document.getElementById("f-search");
  const colFilters = [];
  for (const c of D.filter_columns) {
    const values = [...new Set(A.map((a) => D.rows[a.r].vars[c] ?? ""))].sort();
    const s = el("select", { id: "f-col-" + c, "data-column": c });
    s.append(el("option", { value: "", text: "all" }));
    for (const v of values) s.append(el("option", { value: v, text: v === "" ? "(empty)" : v }));
    document.getElementById("filters").append(el("label", {}, c, s));
    colFilters.push(s);
  }
  const outcomeOf = (f) => f[1];
  let matched = [], shown = 0;
  const body = document.getElementById("rows");
  function matches(a) {
    if (fPrompt.value && a.p !== fPrompt.value) return false;
    if (fModel.value && a.m !== fModel.value) return false;
    const vars = D.rows[a.r].vars;
    for (const s of colFilters) if (s.value !== "" && (vars[s.dataset.column] ?? "") !== s.value) return false;
    if (fOutcome.value) {
      if (a.e != null) { if (fOutcome.value !== "error" || fScorer.value) return false; }
      else if (!a.f.some((f, i) => f && (!fScorer.value || D.scorers[i] === fScorer.value) && outcomeOf(f) === fOutcome.value)) return false;
    }
    const q = fSearch.value.trim().toLowerCase();
    if (q && !(S[a.a].toLowerCase().includes(q) || Object.values(vars).some((v) => v.toLowerCase().includes(q)))) return false;
    return true;
  }
  function badge(kind, text) { return el("span", { class: "badge " + kind, text }); }
  function rowFor(a) {
    const tr = el("tr", { class: "row", "data-index": String(a.i) });
    const vars = D.rows[a.r].vars;
    tr.append(el("td", { text: D.rows[a.r].id + (a.k ? "#" + a.k : "") }), el("td", { text: (D.groups[a.g] && D.groups[a.g].label ? D.groups[a.g].label + " · " : "") + a.p + "@" + a.v }), el("td", { text: a.m }));
    const outs = el("td");
    if (a.e != null) outs.append(badge("error", "generation error"));
    else a.f.forEach((f, i) => { if (f) outs.append(badge(f[1], D.scorers[i])); });
    tr.append(outs, el("td", { class: "snippet", text: (vars[D.question_column] ?? "") }), el("td", { class: "snippet", text: a.e != null ? S[a.e] : S[a.a] }));
    tr.addEventListener("click", () => openDetail(a));
    return tr;
  }
  function more(n) {
    const frag = document.createDocumentFragment();
    const end = Math.min(matched.length, shown + n);
    for (; shown < end; shown++) frag.append(rowFor(matched[shown]));
    body.append(frag);
    document.getElementById("more").hidden = shown >= matched.length;
    document.getElementById("count").textContent = `${matched.length} answers match; showing ${shown}`;
  }
  function apply() {
    matched = A.filter(matches); shown = 0; body.replaceChildren(); more(100);
  }
  for (const c of [fPrompt, fModel, fScorer, fOutcome, ...colFilters]) c.addEventListener("change", apply);
  fSearch.addEventListener("input", apply);
  document.getElementById("more").addEventListener("click", () => more(200));

  // A text of a trace: short ones inline, long ones collapsed behind their
  // first line. Always placed as text.
  function block(cls, label, text) {
    if (text.length <= 240 && !text.includes("\n")) return el("div", { class: cls }, el("span", { class: "label", text: label + " " }), el("code", { class: "text", text }));
    const d = el("details", { class: cls }, el("summary", { text: label + " (" + text.length + " characters)" }), el("pre", { class: "text", text }));
    return d;
  }
  const CUT = "Cut for this page (or at the trace's bound): evalctl trace shows the text as stored.";
  // The rows of a trace: one per span, with its offset, duration and kind.
  function traceTable(spans, withStep) {
    const t = el("table", { class: "trace" });
    t.append(el("tr", {}, ...(withStep ? ["step", "offset"] : []).map((h) => el("th", { text: h })), el("th", { text: "duration" }), el("th", { text: "kind" }), el("th", { text: "details" })));
    for (const x of spans) {
      const failed = x.e != null || !!x.ek;
      const tr = el("tr", { class: "span " + x.k + (failed ? " failed" : ""), "data-kind": x.k });
      if (withStep) tr.append(el("td", { text: x.s ? String(x.s) : "" }), el("td", { text: "+" + ms(x.o) }));
      tr.append(el("td", { text: ms(x.d) }), el("td", { text: x.k }));
      const info = el("td");
      const tokens = x.u ? `${x.u[0]} + ${x.u[1]} tokens` : "";
      if (x.k === "tool") {
        info.append(el("div", { class: "what" }, el("strong", { class: "tool-name", text: x.t || "?" }), x.sv ? el("span", { class: "meta", text: " on " + x.sv }) : null, x.c ? el("span", { class: "meta", text: " · cached" }) : null));
        if (x.a != null) info.append(block("tool-args", "arguments", S[x.a]));
        if (x.out != null) info.append(block("tool-result", "result", S[x.out]));
      } else {
        info.append(el("div", { class: "what" }, el("strong", { text: x.m || "" }), el("span", { class: "meta", text: [tokens, x.f, x.n ? `asked for ${x.n} tool call${x.n > 1 ? "s" : ""}` : "", x.c ? "cached" : ""].filter(Boolean).map((s) => " · " + s).join("") })));
        if (x.in != null) info.append(block("sent", x.k === "judge" ? "judge prompt" : "sent", S[x.in]));
        if (x.out != null) info.append(block("reply", "reply", S[x.out]));
      }
      if (failed) info.append(el("div", { class: "span-error" }, badge("error", x.ek || "error"), " ", x.e != null ? S[x.e] : ""));
      if (x.x) info.append(el("div", { class: "meta", text: CUT }));
      tr.append(info);
      t.append(tr);
    }
    return t;
  }

  const detail = document.getElementById("detail");
  function openDetail(a) {
    const row = D.rows[a.r];
    const parts = [el("button", { id: "close", text: "Close" }),
      el("h2", { text: `${row.id} · ` + (D.groups[a.g] && D.groups[a.g].label ? D.groups[a.g].label + " · " : "") + `${a.p}@${a.v} × ${a.m}` + (a.k ? ` · repeat ${a.k}` : "") }),
      el("p", { class: "meta", text: `${a.t[0]} prompt + ${a.t[1]} completion tokens · ${a.l} ms · ${a.n} attempt(s)` + (a.c ? " · from the cache" : "") })];
    if (a.s != null) parts.push(el("h3", { text: "System prompt" }), el("pre", { text: S[a.s] }));
    parts.push(el("h3", { text: "Prompt" }), el("pre", { text: S[a.in] }));
    if (a.e != null) parts.push(el("h3", { text: "Generation error" }), el("pre", { class: "error", text: S[a.e] }));
    else {
      parts.push(el("h3", { text: "Answer" }), el("pre", { id: "answer", text: S[a.a] }), el("h3", { text: "Scores" }));
      a.f.forEach((f, i) => {
        if (!f) return;
        const box = el("div", { class: "fb" }, badge(f[1], D.scorers[i]), " ", f[2] == null ? "" : String(f[2]));
        if (f[3] != null) box.append(el("div", { text: S[f[3]] }));
        if (f[4]) box.append(el("div", { class: "meta", text: `judge ${f[4]} · ${f[5]} tokens · ${f[6]} ms` }));
        if (f[7] && f[7].length) box.append(el("details", { class: "judge-calls" }, el("summary", { text: `${f[7].length} judge call${f[7].length > 1 ? "s" : ""}` }), traceTable(f[7], false)));
        const h = a.h && a.h[i];
        if (h) {
          const human = el("div", { class: "human" }, "human: ");
          if (h[0]) human.append(badge(h[0], h[0]));
          human.append(el("span", { class: "meta", text: ` ${h[1]}` + (h[0] && f[1] !== "score" && f[1] !== h[0] && (f[1] === "pass" || f[1] === "fail") ? " · disagrees with the verdict" : "") }));
          if (h[2] != null) human.append(el("div", { class: "comment", text: S[h[2]] }));
          box.append(human);
        }
        parts.push(box);
      });
    }
    if (a.x) {
      const steps = a.x.filter((x) => x.k === "generation").length, tools = a.x.filter((x) => x.k === "tool");
      const failed = tools.filter((x) => x.e != null || x.ek).length;
      parts.push(el("h3", { text: "Trace" }), el("p", { class: "meta", text: `${steps} step${steps === 1 ? "" : "s"} · ${tools.length} tool call${tools.length === 1 ? "" : "s"}` + (failed ? ` (${failed} failed)` : "") + (a.xm ? ` · ${a.xm} more spans left out of this page: evalctl trace shows them` : "") }),
        traceTable(a.x, true));
    }
    detail.replaceChildren(...parts);
    detail.hidden = false;
    document.getElementById("close").addEventListener("click", () => { detail.hidden = true; });
  }
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") detail.hidden = true; });
  apply();
  document.body.setAttribute("data-ready", "1");
})().catch((e) => { document.body.setAttribute("data-error", String(e)); console.error(e); });
