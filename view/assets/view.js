// evalctl view. Every text from a run (answers, prompts, rationales, data)
// reaches the page either inside the server's own HTML, escaped by
// html/template, or through textContent here: never as markup from JSON.
(function () {
  "use strict";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const csrf = () => $("meta[name=csrf-token]").content;
  const readOnly = () => document.body.dataset.readonly === "1";
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  };

  // A short message in the corner (aria-live), red when something failed.
  let statusTimer;
  function say(msg, bad) {
    const s = $("#status");
    s.textContent = msg;
    s.classList.toggle("bad", !!bad);
    s.hidden = false;
    clearTimeout(statusTimer);
    statusTimer = setTimeout(() => { s.hidden = true; }, bad ? 6000 : 2500);
  }

  // fragment fetches a piece of a page the server renders (its own escaped HTML).
  async function fragment(url) {
    const r = await fetch(url, { headers: { Accept: "text/html" } });
    if (!r.ok) throw new Error(url + ": " + r.status);
    const t = document.createElement("template");
    t.innerHTML = await r.text(); // server-rendered, html/template-escaped
    return t.content;
  }

  // postLabel records a label; value "" with a comment keeps the verdict.
  async function postLabel(run, cell, criterion, value, comment) {
    const r = await fetch("/runs/" + encodeURIComponent(run) + "/labels", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify({ cell: Number(cell), criterion, value, comment: comment || "" }),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(text.trim() || String(r.status));
    return JSON.parse(text);
  }

  // showLabel puts a label into a "human" cell.
  function showLabel(td, l, long) {
    td.textContent = "";
    if (l.value) td.append(el("span", "badge " + l.value, l.value));
    if (long) td.append(" ", el("span", "by", l.author + ", " + l.at));
    if (l.comment) td.append(" ", el(long ? "div" : "span", "comment", long ? l.comment : l.comment.slice(0, 60)));
  }

  const typing = (e) => e.target.closest("input, textarea, select, [contenteditable]") || e.altKey || e.ctrlKey || e.metaKey;

  // The comment box: c opens it for the current answer or criterion.
  function commentBox(target, onSave) {
    const box = $("#comment-box");
    if (!box) return;
    $("#comment-target").textContent = target;
    const ta = $("textarea", box);
    ta.value = "";
    box.hidden = false;
    ta.focus();
    const close = () => { box.hidden = true; box.onsubmit = null; ta.onkeydown = null; };
    box.onsubmit = (e) => { e.preventDefault(); const c = ta.value.trim(); close(); if (c) onSave(c); };
    ta.onkeydown = (e) => {
      if (e.key === "Escape") close();
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); box.requestSubmit(); }
    };
    $("#comment-cancel").onclick = close;
  }

  // Runs page: two runs to compare; rows counted late or being written.
  function runsPage() {
    const button = $("#compare-selected");
    const boxes = () => $$("input[name=run]");
    const update = () => { button.disabled = boxes().filter((b) => b.checked).length !== 2; };
    document.addEventListener("change", (e) => { if (e.target.name === "run") update(); });
    update();
    const refresh = async (tr) => {
      const id = tr.dataset.run;
      const checked = $("input[name=run]", tr).checked;
      try {
        const f = await fragment("/runs/" + encodeURIComponent(id) + "/row");
        const fresh = f.querySelector("tr");
        if (!fresh) return;
        $("input[name=run]", fresh).checked = checked;
        tr.replaceWith(fresh);
        if (fresh.dataset.live || fresh.dataset.pending) setTimeout(() => refresh(fresh), 3000);
      } catch (err) { say(String(err), true); }
    };
    for (const tr of $$("tr.run[data-pending], tr.run[data-live]")) refresh(tr);
  }

  // Run page: the summary (when it was not ready), its charts, and the
  // keyboard review of the answers.
  function runPage() {
    const sec = $("#summary");
    const meta = $("#run-meta");
    const load = async () => {
      try {
        const f = await fragment(sec.dataset.fragment);
        sec.textContent = "";
        sec.append(f);
        sec.removeAttribute("data-pending");
        drawRunCharts();
        const state = $(".summary-state", sec);
        if (state && $("#progress")) $("#progress").textContent = state.dataset.progress;
        if ((state && state.dataset.live) || sec.querySelector(".pending")) setTimeout(load, 3000);
      } catch (err) { say(String(err), true); }
    };
    if (sec.dataset.pending || meta.dataset.live) load(); else drawRunCharts();

    const list = $("#answer-list");
    if (!list) return;
    const rows = () => $$("tbody tr.answer", list);
    let cur = -1;
    const move = (i) => {
      const rs = rows();
      if (!rs.length) return null;
      cur = Math.max(0, Math.min(rs.length - 1, i));
      rs.forEach((r, j) => r.classList.toggle("cur", j === cur));
      rs[cur].scrollIntoView({ block: "nearest" });
      return rs[cur];
    };
    // After the last row is labelled the list is done: p and f do not
    // label it again; n goes on (the next page, or more of the queue).
    let done = false;
    const current = () => (done ? null : cur < 0 ? move(0) : rows()[cur]);
    const more = () => {
      if (list.dataset.more) location.href = list.dataset.more;
      else say("no more answers in this list");
    };
    const label = async (tr, value, comment) => {
      const crit = list.dataset.criterion;
      try {
        const l = await postLabel(list.dataset.run, tr.dataset.cell, crit, value, comment);
        showLabel($("td.human", tr), l, false);
        say(`cell ${l.cell}: ${crit} ${l.value || "comment"}${l.comment ? " — " + l.comment : ""}`);
      } catch (err) { say(String(err.message || err), true); }
    };
    list.addEventListener("click", (e) => {
      const tr = e.target.closest("tr.answer");
      if (!tr || e.target.closest("a")) return;
      location.href = tr.dataset.href;
    });
    document.addEventListener("keydown", (e) => {
      if (typing(e) || !$("#comment-box").hidden) return;
      switch (e.key) {
        case "j": done = false; move(cur + 1); break;
        case "k": done = false; move(cur - 1); break;
        case "n": more(); break;
        case "Enter": case "o": { const tr = cur >= 0 && !done ? rows()[cur] : null; if (tr) location.href = tr.dataset.href; else return; break; }
        case "p": case "f": {
          if (readOnly()) return say("read-only: labels are off", true);
          const tr = current();
          if (!tr) { if (done) say("that was the last answer here: n for " + (list.dataset.more ? "more" : "nothing more")); return; }
          label(tr, e.key === "p" ? "pass" : "fail");
          if (cur === rows().length - 1) {
            done = true;
            tr.classList.remove("cur");
          } else move(cur + 1);
          break;
        }
        case "c": {
          if (readOnly()) return say("read-only: labels are off", true);
          const tr = current();
          if (!tr) return;
          commentBox(`cell ${tr.dataset.cell} (${list.dataset.criterion})`, (c) => label(tr, "", c));
          break;
        }
        default: return;
      }
      e.preventDefault();
    });
  }

  let charts = [];
  function drawRunCharts() {
    const data = $("#chart-data");
    if (!data || !window.Chart) return;
    const D = JSON.parse(data.textContent);
    charts.forEach((c) => c.destroy());
    charts = [];
    if (!D.labels || !D.labels.length) return;
    const opts = (title, stacked) => ({ responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { title: { display: true, text: title } }, scales: { x: { stacked }, y: { stacked, beginAtZero: true } } });
    const bar = (id, title, sets, stacked) => {
      const c = $(id);
      if (c) charts.push(new Chart(c, { type: "bar", data: { labels: D.labels, datasets: sets }, options: opts(title, stacked) }));
    };
    bar("#chart-tokens", "Tokens", [{ label: "prompt", data: D.prompt_tokens }, { label: "completion", data: D.completion_tokens },
      { label: "judge", data: D.judge_tokens }], true);
    bar("#chart-latency", "Median latency (ms)", [{ label: "p50", data: D.p50_ms }], false);
    bar("#chart-errors", "Errors", [{ label: "generation", data: D.generation_errors }, { label: "verdict", data: D.verdict_errors }], true);
  }

  // Cell page: label each criterion from the keyboard or its form.
  function cellPage() {
    const table = $("#criteria");
    const rows = () => $$("tr.criterion[data-labelable]", table);
    let cur = -1;
    const move = (i) => {
      const rs = rows();
      if (!rs.length) return null;
      cur = Math.max(0, Math.min(rs.length - 1, i));
      $$("tr.criterion", table).forEach((r) => r.classList.remove("cur"));
      rs[cur].classList.add("cur");
      rs[cur].scrollIntoView({ block: "nearest" });
      return rs[cur];
    };
    const current = () => (cur < 0 ? move(0) : rows()[cur]);
    const label = async (tr, value, comment) => {
      try {
        const l = await postLabel(table.dataset.run, table.dataset.cell, tr.dataset.criterion, value, comment);
        showLabel($("td.human", tr), l, true);
        say(`${tr.dataset.criterion}: ${l.value || "comment"}${l.comment ? " — " + l.comment : ""}`);
        return true;
      } catch (err) { say(String(err.message || err), true); return false; }
    };
    for (const form of $$("form.label-form", table)) {
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        const value = e.submitter ? e.submitter.value : "";
        const input = $("input[name=comment]", form);
        if (!value && !input.value.trim()) return;
        if (await label(form.closest("tr"), value, input.value.trim())) input.value = "";
      });
    }
    document.addEventListener("keydown", (e) => {
      if (typing(e) || ($("#comment-box") && !$("#comment-box").hidden)) return;
      const go = (sel) => { const a = $(sel); if (a) location.href = a.href; };
      switch (e.key) {
        case "j": move(cur + 1); break;
        case "k": move(cur - 1); break;
        case "]": go("#next-cell"); break;
        case "[": go("#prev-cell"); break;
        case "u": go("#back"); break;
        case "p": case "f": {
          if (readOnly()) return say("read-only: labels are off", true);
          const tr = current();
          if (tr) label(tr, e.key === "p" ? "pass" : "fail");
          break;
        }
        case "c": {
          if (readOnly()) return say("read-only: labels are off", true);
          const tr = current();
          if (tr) commentBox(tr.dataset.criterion, (c) => label(tr, "", c));
          break;
        }
        default: return;
      }
      e.preventDefault();
    });
  }

  function trendPage() {
    const data = $("#trend-data");
    if (!data || !window.Chart) return;
    const D = JSON.parse(data.textContent);
    new Chart($("#chart-trend"), {
      type: "line",
      data: { labels: D.labels, datasets: (D.series || []).map((s) => ({ label: s.scorer, data: s.rates.map((r) => (r == null ? null : 100 * r)), spanGaps: true })) },
      options: { responsive: true, maintainAspectRatio: false, animation: false,
        scales: { y: { min: 0, max: 100, title: { display: true, text: "pass rate (%)" } } },
        onClick: (e, items) => { if (items.length) location.href = "/runs/" + encodeURIComponent(D.runs[items[0].index]); } },
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    try {
      if ($("#compare-selected")) runsPage();
      if ($("#summary")) runPage();
      if ($("#criteria")) cellPage();
      if ($("#trend-data")) trendPage();
      document.body.dataset.ready = "1";
    } catch (err) {
      document.body.dataset.error = String(err);
      throw err;
    }
  });
})();
