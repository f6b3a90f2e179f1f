// Drives evalctl view in headless Chromium the way a reviewer uses it.
// Usage: node check.mjs EXPECT.json, written by view/browser_test.go:
// {base, token, playwright (playwright-core's index.mjs, from reports/browser),
//  a, b (the two runs, older first), flips, markup, shots (a directory)}.
import { readFileSync } from "node:fs";
import { join } from "node:path";

const expect = JSON.parse(readFileSync(process.argv[2], "utf8"));
const { chromium } = await import(expect.playwright);
const fail = (msg) => { console.error("FAIL: " + msg); process.exitCode = 1; };
const shot = (page, name) => page.screenshot({ path: join(expect.shots, name), fullPage: false });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const problems = [];
  page.on("dialog", (d) => { problems.push("dialog: " + d.message()); d.dismiss(); });
  page.on("pageerror", (e) => problems.push("script error: " + e.message));
  let watching = false; // the 401 of step 0 is expected
  // Failed loads are reported by status (below), and the denied page's own
  // favicon may report late.
  page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push("console: " + m.text()); });
  page.on("response", (r) => { if (watching && r.status() >= 400) problems.push(`${r.status()} for ${r.url()}`); });
  page.on("request", (r) => { if (!r.url().startsWith(expect.base) && !r.url().startsWith("data:")) problems.push("request to " + r.url()); });
  const ready = async () => {
    await page.waitForSelector("body[data-ready='1'], body[data-error]", { timeout: 15000 });
    const err = await page.getAttribute("body", "data-error");
    if (err) throw new Error("the page's script failed: " + err);
  };

  // 0. Without the token nothing is served; with it in the address, the
  // page keeps it in a cookie and takes it out of the address.
  const denied = await page.goto(expect.base + "/");
  if (denied.status() !== 401) fail(`without the token: ${denied.status()}`);
  watching = true;
  await page.goto(expect.base + "/?token=" + expect.token);
  await ready();
  if (page.url().includes("token")) fail("the token stays in the address: " + page.url());

  // 1. The runs page lists both runs with their pass rates; the filter keeps one.
  const ids = await page.$$eval("tr.run", (trs) => trs.map((tr) => tr.dataset.run));
  if (ids.length !== 2 || !ids.includes(expect.a) || !ids.includes(expect.b)) fail(`runs listed: ${ids}`);
  await page.waitForSelector(`tr.run[data-run="${expect.b}"] td.rates .overall`, { timeout: 15000 });
  await page.fill("input[name=tag]", "pr=2");
  await page.click("#run-filter button[type=submit]");
  await ready();
  const filtered = await page.$$eval("tr.run", (trs) => trs.map((tr) => tr.dataset.run));
  if (filtered.length !== 1 || filtered[0] !== expect.b) fail(`filter tag pr=2: ${filtered}`);
  await shot(page, "view-runs.png");

  // 2. Open the run: pass rates by variant and its worst scorer.
  await page.click(`tr.run[data-run="${expect.b}"] a.run-link`);
  await ready();
  await page.waitForSelector("#heat td.cell[data-scorer]", { timeout: 15000 });
  const worst = await page.textContent(".worst-line");
  if (!/Worst scorer: \S+/.test(worst)) fail("no worst scorer: " + worst);
  if ((await page.$$("canvas#chart-tokens")).length !== 1) fail("no token chart");
  await shot(page, "view-run.png");

  // 3. Its failing answers, and one of them: the verdict's rationale and judge.
  await page.click("#worst-failing");
  await ready();
  const failing = await page.$$eval("tr.answer", (trs) => trs.length);
  if (failing === 0) fail("the worst scorer's failing answers are none");
  await page.click("tr.answer:first-child td.snippet");
  await ready();
  const scorer = new URL(page.url()).searchParams.get("scorer");
  const verdict = await page.$eval(`tr.criterion[data-criterion="${scorer}"]`, (tr) => ({
    badge: tr.querySelector(".badge")?.textContent, rationale: tr.querySelector(".rationale")?.textContent.trim(), judge: tr.children[3].textContent }));
  if (verdict.badge !== "fail" || !verdict.rationale) fail(`the failing answer's verdict: ${JSON.stringify(verdict)}`);
  if (!(await page.textContent("#answer"))) fail("the cell page shows no answer");
  await shot(page, "view-cell.png");

  // 4. A question with markup is shown as text everywhere.
  await page.goto(`${expect.base}/runs/${expect.b}?q=${encodeURIComponent("<b>Git</b>")}`);
  await ready();
  const snippet = await page.$$eval("tr.answer td.snippet:nth-of-type(6)", (tds) => tds.map((td) => td.textContent));
  if (!snippet.length || !snippet.every((s) => s.includes('<b>Git</b>'))) fail(`the question with markup: ${JSON.stringify(snippet)}`);
  await page.click("tr.answer:first-child td.snippet");
  await ready();
  const input = await page.textContent("#input");
  if (!input.includes(expect.markup)) fail(`the rendered prompt is not the text: ${JSON.stringify(input)}`);
  if (await page.evaluate(() => window.__pwned) !== undefined) fail("the dataset's markup ran");
  if (await page.evaluate(() => document.querySelector("main img") !== null || [...document.querySelectorAll("b")].some((b) => b.textContent === "Git")))
    fail("the dataset's markup became elements");

  // 5. Label three answers from the keyboard (p, f, p: each labels and moves on).
  await page.goto(`${expect.base}/runs/${expect.b}`);
  await ready();
  const criterion = await page.getAttribute("#answer-list", "data-criterion");
  for (const [i, key] of ["p", "f", "p"].entries()) {
    const done = page.waitForResponse((r) => r.url().endsWith("/labels") && r.request().method() === "POST");
    await page.keyboard.press(key);
    const res = await done;
    if (res.status() !== 200) fail(`label ${i + 1}: ${res.status()} ${await res.text()}`);
  }
  await page.waitForFunction(() => document.querySelectorAll("tr.answer td.human .badge").length === 3);
  await page.reload();
  await ready();
  const labels = await page.$$eval("tr.answer", (trs) => trs.slice(0, 4).map((tr) => tr.querySelector("td.human .badge")?.textContent ?? ""));
  if (JSON.stringify(labels) !== JSON.stringify(["pass", "fail", "pass", ""])) fail(`labels after a reload: ${JSON.stringify(labels)} (criterion ${criterion})`);
  const agreement = await page.$$eval("table.agreement tr[data-criterion]", (trs) => trs.map((tr) => tr.dataset.criterion));
  if (!agreement.includes(criterion)) fail(`no agreement of people and judge for ${criterion}: ${agreement}`);
  // c comments on the answer under the cursor; its verdict stays.
  await page.keyboard.press("c");
  await page.waitForSelector("#comment-box:not([hidden]) textarea");
  await page.keyboard.type("cites <no> source");
  const commented = page.waitForResponse((r) => r.url().endsWith("/labels"));
  await page.keyboard.press("Enter");
  if ((await commented).status() !== 200) fail("the comment was not stored");
  await page.waitForFunction(() => document.querySelector("tr.answer td.human .comment")?.textContent === "cites <no> source");
  if (await page.textContent("tr.answer:first-child td.human .badge") !== "pass") fail("a comment changed the verdict");
  await shot(page, "view-labels.png");

  // On an answer's page, j selects a criterion and f labels it.
  await page.goto(`${expect.base}/runs/${expect.b}/cells/3`);
  await ready();
  await page.keyboard.press("j");
  const cellLabel = page.waitForResponse((r) => r.url().endsWith("/labels"));
  await page.keyboard.press("f");
  if ((await cellLabel).status() !== 200) fail("the cell page's label was not stored");
  const first = await page.$eval("tr.criterion[data-labelable]", (tr) => ({ c: tr.dataset.criterion, label: tr.querySelector("td.human .badge")?.textContent }));
  await page.waitForFunction(() => document.querySelector("tr.criterion[data-labelable] td.human .badge")?.textContent === "fail");
  if (first.c !== criterion) fail(`the cell page's first criterion ${first.c}, the list's ${criterion}`);

  // The review queue of a short list: p, p label both answers; a third p
  // labels nothing (the list is done); n shows the queue again.
  await page.goto(`${expect.base}/runs/${expect.b}?order=review&q=${encodeURIComponent("number 7 in")}`);
  await ready();
  if ((await page.$$("tr.answer")).length !== 2) fail("the queue of 'number 7 in' does not hold two answers");
  let posts = 0;
  page.on("request", (r) => { if (r.url().endsWith("/labels") && r.method() === "POST") posts++; });
  for (const key of ["p", "p"]) {
    const done = page.waitForResponse((r) => r.url().endsWith("/labels") && r.request().method() === "POST");
    await page.keyboard.press(key);
    if ((await done).status() !== 200) fail("a queue label was not stored");
  }
  await page.keyboard.press("p");
  await page.waitForTimeout(300);
  if (posts !== 2) fail(`p after the last answer labelled again (${posts} label writes)`);
  await Promise.all([page.waitForNavigation(), page.keyboard.press("n")]);
  await ready();
  const queued = await page.$$eval("tr.answer td.human .badge", (bs) => bs.map((b) => b.textContent));
  if (JSON.stringify(queued) !== JSON.stringify(["pass", "pass"])) fail(`the queue after n: ${JSON.stringify(queued)}`);

  // 6. Compare the two runs, selected on the runs page, and follow a flipped question.
  await page.goto(expect.base + "/");
  await ready();
  for (const id of [expect.a, expect.b]) await page.check(`input[name=run][value="${id}"]`);
  await page.click("#compare-selected");
  await ready();
  const diffs = await page.$$eval("#differences tbody tr", (trs) => trs.length);
  if (diffs === 0) fail("the comparison has no rows");
  const flips = await page.$$eval("li.flip", (lis) => lis.length);
  if (flips !== expect.flips) fail(`${flips} flipped questions listed, want ${expect.flips}`);
  const head = await page.textContent("table.pair");
  if (head.indexOf(expect.a) > head.indexOf(expect.b)) fail("the older run is not A");
  await shot(page, "view-compare.png");
  await page.click("li.flip a");
  await ready();
  const sides = await page.$$eval("section.side", (ss) => ss.map((s) => ({ id: s.id, answers: s.querySelectorAll("pre.answer").length, verdicts: s.querySelectorAll(".badge").length })));
  if (sides.length !== 2 || sides.some((s) => s.answers === 0 || s.verdicts === 0)) fail(`the flipped question's sides: ${JSON.stringify(sides)}`);
  const outcomes = await page.$$eval("section.side .side-cell .badge", (bs) => bs.map((b) => b.textContent));
  if (new Set(outcomes).size < 2) fail(`the question did not flip: ${outcomes}`);
  await shot(page, "view-question.png");

  // 7. The trend of the runs' name draws a line per scorer.
  await page.goto(`${expect.base}/trend?name=nightly`);
  await ready();
  const points = await page.evaluate(() => Object.values(Chart.instances)[0]?.data.datasets[0]?.data.length);
  if (points !== 2) fail(`the trend chart has ${points} points`);

  if (problems.length) fail(problems.join("; "));
  if (!process.exitCode) console.log(`ok: runs, filter, run, failing answer, escaping, 4 labels and a comment from the keyboard, compare with ${flips} flipped questions, trend; screenshots in ${expect.shots}`);
} finally {
  await browser.close();
}
