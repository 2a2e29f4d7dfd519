// A team's journal seen from one of its ComfyUIs, in a real headless Chromium (see run.sh: the
// ComfyUI here is studio-a, member ana, on a throw-away PostgreSQL journal with a $10 team budget;
// before this script, farm-7 (member ben) ran one job on the same journal and simulator).
//   node team.mjs http://127.0.0.1:8199     (NODE_PATH must reach playwright-core;
//                                             PG_PASSWORD: the database's password, never printed)
// Checks, each printed as PASS/FAIL with what was seen:
//   1. the RunComfy sidebar tab lists the job farm-7 ran as "ben on farm-7", and the
//      "Team today:" line holds the team's spend and budget;
//   2. a job run from the graph here is listed as ana's (no "on …": it ran here), and the team's
//      total and ana's own spend grow by its cost;
//   3. "Load into workflow" on farm-7's job adds a Load Result node; queueing it succeeds,
//      downloads the result on this machine and submits nothing (the team journal, which holds
//      every machine's jobs, has no new one);
//   4. Settings → RunComfy shows the journal URL masked (its input is a password field), and
//      GET /api/runcomfy/settings does too;
//   5. the database password is nowhere: not in the page's HTML (at each step), any
//      /api/runcomfy/* answer, a websocket message, ComfyUI's settings, or the run's logs;
//   6. no page errors.
import fs from "node:fs";
import { session } from "./session.mjs";
import path from "node:path";

const { out, page, record, shot, errors, finish, waitFor, openComfy } = await session("team");
const password = process.env.PG_PASSWORD || "";

// -- everything the page is told, kept to look for the password in ------------------------------
const seenTexts = [];                         // {where, text}
const pending = [];
page.on("response", (r) => {
  if (!/\/runcomfy\//.test(new URL(r.url()).pathname)) return;
  pending.push(r.text().then((text) => seenTexts.push({ where: `${r.request().method()} ${new URL(r.url()).pathname}`, text }),
                             () => {}));
});
page.on("websocket", (ws) => ws.on("framereceived", (f) => {
  if (typeof f.payload === "string") seenTexts.push({ where: "websocket", text: f.payload });
}));
const snapshotHtml = async (when) => {
  seenTexts.push({ where: `page HTML (${when})`, text: await page.content() });
  // typed values live in properties, not in the HTML
  seenTexts.push({ where: `input values (${when})`,
                   text: await page.evaluate(() => [...document.querySelectorAll("input, textarea")].map((i) => i.value).join("\n")) });
};

// -- the page's side ---------------------------------------------------------------------------
const api = (p, opt) => page.evaluate(async ([p, opt]) => {
  const r = await fetch(p, opt);
  return { status: r.status, body: await r.json().catch(() => null) };
}, [p, opt]);
const jobs = async () => (await api("/api/runcomfy/jobs?limit=200")).body;
const teamToday = (text) => Number(((text || "").match(/Team today: \$([\d.]+)/) || [])[1]);
const todayText = () => page.locator(".runcomfy-today").innerText().catch(() => "");
const oneLine = (s) => (s || "").replace(/\n+/g, " | ");


async function historyIds() {
  return Object.keys((await api("/api/history?max_items=50")).body || {});
}

// Queues the graph and waits for that prompt to finish: its status and outputs.
async function queueAndWait(before, timeoutMs = 90000) {
  await page.evaluate(() => window.app.queuePrompt(0, 1));
  return waitFor("the queued prompt to finish", async () => {
    const h = (await api("/api/history?max_items=50")).body || {};
    const fresh = Object.entries(h).filter(([id, x]) => !before.includes(id)
      && (x.status?.completed || x.status?.status_str === "error"));
    if (!fresh.length) return null;
    const [, x] = fresh[0];
    return { status_str: x.status.status_str, messages: JSON.stringify(x.status.messages).slice(0, 400),
             images: Object.values(x.outputs || {}).flatMap((o) => o.images || []).length };
  }, timeoutMs, 500);
}

try {
  if (!password) throw new Error("PG_PASSWORD is not set: run this through run.sh (SCRIPT=team.mjs)");
  await openComfy();
  await page.evaluate(() => { for (const n of [...window.app.graph._nodes]) window.app.graph.remove(n); });

  // 1. farm-7's job in the tab, and the team's spend
  const start = await jobs();
  const farm = start.jobs.find((j) => j.machine === "farm-7") || {};
  const tab = page.locator(".side-bar-button, button").filter({ has: page.locator(".pi-dollar") }).first();
  await tab.click({ timeout: 10000 });
  const farmRow = page.locator(".runcomfy-job").filter({ hasText: "ben on farm-7" }).first();
  await farmRow.waitFor({ timeout: 20000 }).catch(() => {});
  await waitFor("the Team today line", async () => /Team today: \$/.test(await todayText()), 15000).catch(() => {});
  const farmText = await farmRow.innerText().catch(() => "");
  const today1 = await todayText();
  await shot("1-farm-job");
  await snapshotHtml("the tab");
  record("the tab lists the job farm-7 ran as ben's, and the team's spend today",
         farm.member === "ben" && farm.here === false && farm.status === "completed"
           && farmText.includes(farm.request_id?.slice(0, 8)) && /completed/.test(farmText)
           && teamToday(today1) > 0 && Math.abs(teamToday(today1) - start.today.spent) < 0.006
           && /team limit \$10\.00/.test(today1) && /ana: \$0\.00 of \$5\.00/.test(today1),
         { row: oneLine(farmText), today: today1, job: { member: farm.member, machine: farm.machine, here: farm.here } });

  // 2. a job run here, as ana
  await page.evaluate(() => {
    const n = window.LiteGraph.createNode("RunComfy_Wan22_ImageToVideo");
    n.pos = [500, 120];
    window.app.graph.add(n);
    n.widgets.find((w) => w.name === "prompt").value = "a lighthouse at dusk, seen from the farm";
    n.widgets.find((w) => w.name === "image_url").value = "https://example.com/lighthouse.png";
    const preview = window.LiteGraph.createNode("PreviewImage");
    preview.pos = [1000, 120];
    window.app.graph.add(preview);
    n.connect(0, preview, 0);
  });
  const run = await queueAndWait(await historyIds());
  const afterRun = await jobs();
  const mine = afterRun.jobs.find((j) => !start.jobs.some((s) => s.request_id === j.request_id)) || {};
  const mineRow = page.locator(".runcomfy-job").filter({ hasText: (mine.request_id || "none").slice(0, 8) }).first();
  await mineRow.waitFor({ timeout: 15000 }).catch(() => {});
  await waitFor("the new job's row to be completed", async () => /completed/.test(await mineRow.innerText().catch(() => "")), 15000).catch(() => {});
  await waitFor("the team's total to grow", async () => teamToday(await todayText()) > teamToday(today1), 15000).catch(() => {});
  const mineText = await mineRow.innerText().catch(() => "");
  const today2 = await todayText();
  const cost = mine.cost ?? NaN;
  await shot("2-ana-job");
  await snapshotHtml("after ana's job");
  record("a job run here is listed as ana's (no 'on …'), and the team's total grows by its cost",
         run.status_str === "success" && mine.member === "ana" && mine.machine === "studio-a" && mine.here === true
           && /· ana(\n|$)/.test(mineText) && !/ana on /.test(mineText) && /completed/.test(mineText)
           && cost > 0 && Math.abs(teamToday(today2) - teamToday(today1) - cost) < 0.011
           && new RegExp(`ana: \\$${cost.toFixed(2).replace(".", "\\.")} of \\$5\\.00`).test(today2),
         { run: run.status_str, row: oneLine(mineText), before: today1, after: today2, cost });

  // 3. farm-7's result loaded here: no new submit
  const jobsBefore = (await jobs()).jobs;
  const farmBefore = jobsBefore.find((j) => j.request_id === farm.request_id) || {};
  await farmRow.getByText("Load into workflow").click({ timeout: 10000 });
  const loaded = await page.evaluate(() => {
    const n = window.app.graph._nodes.find((x) => x.type === "RunComfy_LoadResult");
    if (!n) return null;
    for (const other of [...window.app.graph._nodes]) if (other !== n) window.app.graph.remove(other);
    const preview = window.LiteGraph.createNode("PreviewImage");
    preview.pos = [1000, 400];
    window.app.graph.add(preview);
    n.connect(0, preview, 0);
    return n.widgets.find((w) => w.name === "request_id").value;
  });
  const loadRun = loaded ? await queueAndWait(await historyIds()) : {};
  const jobsAfter = (await jobs()).jobs;
  const farmAfter = jobsAfter.find((j) => j.request_id === farm.request_id) || {};
  await page.waitForTimeout(2500);                           // the tab's next refresh
  const farmTextAfter = await farmRow.innerText().catch(() => "");
  const today3 = await todayText();
  await shot("3-load-result");
  await snapshotHtml("after Load Result");
  record("Load into workflow on farm-7's job: a Load Result node that runs here, downloads it, submits nothing",
         loaded === farm.request_id && loadRun.status_str === "success" && loadRun.images > 0
           && jobsAfter.length === jobsBefore.length
           && jobsAfter.every((j) => jobsBefore.some((b) => b.request_id === j.request_id))
           && (farmBefore.files || []).length === 0 && (farmAfter.files || []).some((f) => f.url)
           && farmAfter.machine === "farm-7" && /ben on farm-7/.test(farmTextAfter)
           && teamToday(today3) === teamToday(today2),
         { request_id: loaded, run: loadRun.status_str, images: loadRun.images, messages: loadRun.status_str === "success" ? undefined : loadRun.messages,
           jobs: [jobsBefore.length, jobsAfter.length], files_here: [(farmBefore.files || []).length, (farmAfter.files || []).map((f) => f.filename)],
           row: oneLine(farmTextAfter), today: today3 });

  // 4. Settings → RunComfy: the journal URL masked
  const routed = (await api("/api/runcomfy/settings")).body || {};
  const view = (routed.settings || []).find((v) => v.key === "journal_url") || {};
  await page.evaluate(() => window.app.extensionManager.command.execute("Comfy.ShowSettingsDialog"));
  const nav = page.locator("[role=dialog], .p-dialog").getByText("RunComfy", { exact: true }).first();
  await nav.click({ timeout: 10000 });
  await waitFor("the RunComfy settings", () => page.evaluate(() => /Team journal \(PostgreSQL URL\)/.test(document.body.innerText)), 15000);
  await page.waitForTimeout(500);
  const dialog = await page.evaluate(() => (document.querySelector(".p-dialog, [role=dialog]")?.innerText || ""));
  const shown = (dialog.match(/Team journal \(PostgreSQL URL\): [^\n]*/) || [""])[0];
  const fields = await page.evaluate(() => [...document.querySelectorAll("input")].filter((i) => /PostgreSQL/.test(i.title))
    .map((i) => ({ type: i.type, value: i.value, autocomplete: i.getAttribute("autocomplete") })));
  const who = (dialog.match(/Your name in the team: [^\n]*/) || [""])[0];
  await shot("4-settings");
  await snapshotHtml("the settings");
  record("Settings → RunComfy shows the team journal's URL masked, in a password field",
         view.secret === true && /^postgresql:\/\/runcomfy:•••@127\.0\.0\.1:\d+\/team$/.test(view.value || "")
           && view.source === "environment" && shown.includes(view.value) && /from RUNCOMFY_JOURNAL_URL/.test(shown)
           && fields.length === 1 && fields[0].type === "password" && fields[0].value === ""
           && /ana/.test(who),
         { route: { value: view.value, secret: view.secret, source: view.source }, page: shown, fields, who });
  await page.keyboard.press("Escape");

  // 5. the password nowhere
  seenTexts.push({ where: "ComfyUI's settings (GET /api/settings)", text: JSON.stringify((await api("/api/settings")).body) });
  seenTexts.push({ where: "localStorage", text: await page.evaluate(() => JSON.stringify({ ...localStorage })) });
  await Promise.all(pending);
  for (const f of fs.readdirSync(out)) {                      // the run's logs: ComfyUI's, farm-7's, the helpers'
    if (/\.(log|json|txt)$/.test(f)) seenTexts.push({ where: `log ${f}`, text: fs.readFileSync(path.join(out, f), "utf8") });
  }
  const forms = [...new Set([password, encodeURIComponent(password), JSON.stringify(password).slice(1, -1)])];
  const leaks = seenTexts.filter((s) => forms.some((f) => s.text.includes(f))).map((s) => s.where);
  const answers = seenTexts.filter((s) => /^(GET|POST) /.test(s.where));
  // a control: what was kept does hold the URL, masked (so the password itself would be seen)
  const masked = seenTexts.filter((s) => /runcomfy:(•••|(\\u2022){3})@127\.0\.0\.1:/.test(s.text)).map((s) => s.where);
  record("the database password is in no page HTML, /api/runcomfy answer, websocket message, setting or log",
         leaks.length === 0 && answers.some((s) => s.where.startsWith("GET /api/runcomfy/jobs"))
           && answers.some((s) => s.where.startsWith("GET /api/runcomfy/settings"))
           && masked.some((w) => w.startsWith("GET /api/runcomfy/settings")) && masked.some((w) => w.startsWith("page HTML")),
         { looked_in: seenTexts.length, runcomfy_answers: answers.length, masked_url_in: [...new Set(masked)],
           routes: [...new Set(answers.map((s) => s.where))], leaks: [...new Set(leaks)] });
} catch (e) {
  record("the check ran to the end", false, String(e).slice(0, 500));
  await shot("failure");
} finally {
  record("no page errors", errors.length === 0, errors);
  await finish();
}
