// Opens an evalctl HTML report from file:// in headless Chromium and checks it
// the way a reviewer would use it. Usage: node check.mjs EXPECT.json
// EXPECT.json: {html, json, screenshot, failing, malicious, agent}, written by the Go test;
// agent: {html, cell, kinds, tool_result, long_cell, excerpt, marker, screenshot}, a run with an agent.
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const expect = JSON.parse(readFileSync(process.argv[2], "utf8"));
const report = JSON.parse(readFileSync(expect.json, "utf8"));
const fail = (msg) => { console.error("FAIL: " + msg); process.exitCode = 1; };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const dialogs = [];
  page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
  const requests = [];
  page.on("request", (r) => { if (!r.url().startsWith("file:") && !r.url().startsWith("data:") && !r.url().startsWith("blob:")) requests.push(r.url()); });
  await page.goto("file://" + expect.html);
  await page.waitForSelector("body[data-ready='1'], body[data-error]", { timeout: 15000 });
  const err = await page.getAttribute("body", "data-error");
  if (err) throw new Error("the report's script failed: " + err);

  // 1. Heatmap values equal the JSON report's.
  const cells = await page.$$eval("td.cell[data-rate]", (tds) => tds.map((td) => ({
    scorer: td.dataset.scorer, prompt: td.dataset.prompt, model: td.dataset.model, variant: td.dataset.variant, rate: Number(td.dataset.rate) })));
  let checked = 0;
  for (const c of cells) {
    if (c.scorer === "overall") continue;
    const g = report.groups.find((g) => g.variant === c.variant);
    const s = g && g.scorers.find((s) => s.name === c.scorer);
    const want = s && (s.pass_rate ?? s.mean);
    if (want == null || Math.abs(want - c.rate) > 1e-9) fail(`heatmap ${c.scorer} ${c.prompt} × ${c.model}: ${c.rate}, JSON says ${want}`);
    checked++;
  }
  const expectedCells = report.groups.reduce((n, g) => n + g.scorers.filter((s) => (s.pass_rate ?? s.mean) != null).length, 0);
  if (checked !== expectedCells) fail(`heatmap shows ${checked} scorer cells, JSON has ${expectedCells}`);

  // 2. Filter to failures.
  await page.selectOption("#f-outcome", "fail");
  const count = await page.textContent("#count");
  if (!count.startsWith(`${expect.failing} answers match`)) fail(`filtering to failures: "${count}", want ${expect.failing}`);
  const rows = await page.$$eval("#rows tr", (trs) => trs.length);
  if (rows !== Math.min(100, expect.failing)) fail(`${rows} rows shown after filtering`);

  // 3. Drill-down on a failing answer shows its scores and rationales.
  await page.click("#rows tr:first-child");
  await page.waitForSelector("#detail:not([hidden])");
  const detail = await page.textContent("#detail");
  if (!detail.includes("Answer") || !detail.includes("Scores") || !detail.includes("Prompt")) fail("drill-down lacks its sections");
  await page.click("#close");

  // 4. A malicious answer is shown as text and never runs.
  await page.selectOption("#f-outcome", "");
  await page.fill("#f-search", "pwned");
  await page.click("#rows tr:first-child");
  const shown = await page.textContent("#answer");
  if (shown !== expect.malicious) fail(`the malicious answer is not shown verbatim: ${JSON.stringify(shown)}`);
  const pwned = await page.evaluate(() => window.__pwned);
  if (pwned !== undefined) fail("an answer's script ran: window.__pwned = " + pwned);
  if (await page.$("#detail img, #rows img, #detail script")) fail("an answer's markup became elements");
  if (dialogs.length) fail("dialogs opened: " + dialogs.join(", "));
  if (requests.length) fail("the report reached the network: " + requests.join(", "));

  await page.screenshot({ path: expect.screenshot, fullPage: false });

  // 5. An agent's drill-down shows its trace: a row per span, tool calls
  // with their arguments and results (as text), errors marked, judge calls
  // per verdict with their prompts.
  const ag = expect.agent;
  await page.goto("file://" + ag.html);
  await page.waitForSelector("body[data-ready='1'], body[data-error]", { timeout: 15000 });
  const agErr = await page.getAttribute("body", "data-error");
  if (agErr) throw new Error("the agent report's script failed: " + agErr);
  const agentRows = await page.$$eval("#agents:not([hidden]) #agent-rows tr", (trs) => trs.map((tr) => tr.textContent));
  if (agentRows.length !== 2) fail(`the agents table has ${agentRows.length} rows, want 2`);
  await page.click(`#rows tr[data-index="${ag.cell}"]`);
  await page.waitForSelector("#detail:not([hidden]) > table.trace");
  const kinds = await page.$$eval("#detail > table.trace tr.span", (trs) => trs.map((tr) => tr.dataset.kind));
  if (JSON.stringify(kinds) !== JSON.stringify(ag.kinds)) fail(`trace rows ${JSON.stringify(kinds)}, want ${JSON.stringify(ag.kinds)}`);
  const tools = await page.$$eval("#detail > table.trace tr.span.tool", (trs) => trs.map((tr) => ({
    name: tr.querySelector(".tool-name")?.textContent, args: tr.querySelector(".tool-args .text")?.textContent,
    result: tr.querySelector(".tool-result .text")?.textContent ?? null, failed: tr.classList.contains("failed"), text: tr.textContent })));
  if (!tools.some((x) => x.name === "fetch" && x.result === ag.tool_result)) fail(`the tool result with markup is not shown as text: ${JSON.stringify(tools)}`);
  if (!tools.some((x) => x.name === "fetch" && x.args.includes("<b>dune</b>"))) fail("tool arguments are not shown as text");
  if (!tools.some((x) => x.failed && x.text.includes("timeout"))) fail("the tool call that timed out is not marked as failed");
  const offsets = await page.$$eval("#detail > table.trace tr.span td:nth-child(2)", (tds) => tds.map((td) => td.textContent));
  if (!offsets.every((o) => /^\+[0-9.]+ ms$/.test(o))) fail(`offsets ${JSON.stringify(offsets)}`);
  // The verdict's judge call: collapsed, its prompt as text.
  await page.click("#detail details.judge-calls > summary");
  await page.click("#detail details.judge-calls details.sent > summary");
  const prompt = await page.textContent("#detail details.judge-calls .sent .text");
  if (!prompt.includes("<script>window.__pwned=5</script>")) fail(`the judge prompt is not shown as text: ${JSON.stringify(prompt)}`);
  await page.screenshot({ path: ag.screenshot, fullPage: false });
  await page.click("#close");
  // A long tool result is cut for the page, collapsed, and says so.
  await page.click(`#rows tr[data-index="${ag.long_cell}"]`);
  await page.waitForSelector("#detail:not([hidden]) > table.trace");
  const long = await page.$eval("#detail > table.trace tr.span.tool", (tr) => ({
    collapsed: tr.querySelector("details.tool-result") !== null, text: tr.querySelector(".tool-result .text").textContent, note: tr.textContent.includes("evalctl trace") }));
  if (!long.collapsed || !long.note || !long.text.endsWith(ag.marker) || new TextEncoder().encode(long.text).length > ag.excerpt)
    fail(`the long tool result: collapsed ${long.collapsed}, note ${long.note}, ${long.text.length} characters`);
  if (await page.evaluate(() => window.__pwned) !== undefined) fail("a tool result's or judge prompt's script ran");
  if (await page.$("#detail img, #detail script")) fail("a trace's markup became elements");
  if (dialogs.length) fail("dialogs opened: " + dialogs.join(", "));
  if (requests.length) fail("the report reached the network: " + requests.join(", "));

  if (!process.exitCode) console.log(`ok: ${checked} heatmap cells, ${expect.failing} failing answers, drill-down, escaping; agent trace of ${kinds.length} spans; screenshots ${expect.screenshot}, ${ag.screenshot}`);
} finally {
  await browser.close();
}
