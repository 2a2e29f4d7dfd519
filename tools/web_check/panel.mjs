// The jobs panel, the spend chart and the price of a whole Queue, in a real headless Chromium
// against a running ComfyUI and the pack's simulator (see run.sh).
//   node panel.mjs http://127.0.0.1:8199        (NODE_PATH must reach playwright-core)
// Checks, each printed as PASS/FAIL with what was seen:
//   1. a video, an image and an audio job queued from the graph are rows of the RunComfy tab with
//      their models' names and a thumbnail each that loads; the video's is its first frame (the
//      video, drawn at currentTime 0 at the thumbnail's size, differs little from it; a later
//      frame is the control); while they run, a progress bar and a blue chip, done a green one;
//   2. a click on a thumbnail previews the result in the tab (<video> that can play, <img>,
//      <audio>, each with the file's URL), and the tab's refreshes keep the preview open and the
//      list where it was;
//   3. filtering by model keeps only that model's rows (as many as the route counts);
//   4. the list pages through the whole journal (a page of 1 here: every job, once, newest first);
//   5. the spend chart: 30 bars, today's (the last) is today's spend of the jobs route to the cent,
//      the daily limit is a line when one is set;
//   6. the Queue's price: the badge beside Run says what a workflow of $1.60 costs (a node fed by a
//      Create List of 2 prompts, $0.80 each, the server's total asserted first); with the
//      threshold at $1 (POST /api/runcomfy/settings) Run opens a dialog naming $1.60 and its
//      node; Cancel queues nothing (ComfyUI's queue empty, history unchanged, no new job);
//      Ctrl+Enter and Queue submit it (one prompt, the 2 jobs the estimate said); a $0.25
//      workflow queued by the "Queue Prompt" command opens no dialog and a toast names $0.25;
//   7. the tab and the dialog in both node renderers (classic canvas, Nodes 2.0) and both colour
//      palettes (dark, light): screenshots panel-<renderer>-<palette>-{tab,dialog}.png, and the
//      dialog opens from the Run button in each;
//   8. no page errors.
// Leaves the settings it changed as it found them (threshold, daily limit, renderer, palette).
import { session } from "./session.mjs";
import path from "node:path";

const { out, page, record, shot, errors, finish, waitFor, openComfy } = await session("panel", { extraArgs: ["--autoplay-policy=no-user-gesture-required"] });

// -- the page's side -----------------------------------------------------------------------------
const api = (p, opt) => page.evaluate(async ([p, opt]) => {
  const r = await fetch(p, opt);
  return { status: r.status, body: await r.json().catch(() => null) };
}, [p, opt]);
const post = (p, body) => api(p, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
const jobs = async (q = "") => (await api(`/api/runcomfy/jobs?limit=200${q}`)).body;
const historyIds = async () => Object.keys((await api("/api/history?max_items=200")).body || {});
const setting = (id, value) => page.evaluate(([i, v]) => window.app.extensionManager.setting.set(i, v), [id, value]);
const getSetting = (id) => page.evaluate((i) => window.app.extensionManager.setting.get(i), id);
const money = (v) => Math.round(Number(v) * 100);           // to the cent


// the prompts queued after `before` (history ids), once all have finished
async function finished(before, count, timeoutMs = 90000) {
  return waitFor(`${count} prompt(s) to finish`, async () => {
    const h = (await api("/api/history?max_items=200")).body || {};
    const fresh = Object.entries(h).filter(([id]) => !before.includes(id)).map(([, x]) => x.status || {});
    const done = fresh.filter((s) => s.completed || s.status_str === "error");
    return done.length >= count ? done.map((s) => s.status_str) : null;
  }, timeoutMs, 500);
}

// Graphs built in the page (removing every node first: clear() would reuse node ids).
// Each RunComfy node feeds an output node: ComfyUI runs only what an output needs.
async function build(kind, tag) {
  await page.evaluate(([kind, tag]) => {
    const graph = window.app.graph;
    for (const n of [...graph._nodes]) graph.remove(n);
    const add = (type, x, y) => {
      const n = window.LiteGraph.createNode(type);
      n.pos = [x, y];
      graph.add(n);
      return n;
    };
    const set = (n, name, v) => { n.widgets.find((w) => w.name === name).value = v; };
    if (kind === "three") {                // a video, an image, a sound: $0.25 + $0.03 + $0.01
      const v = add("RunComfy_Wan22_ImageToVideo", 420, 60);
      set(v, "prompt", `a lighthouse at dusk ${tag}`);
      set(v, "image_url", "https://example.com/lighthouse.png");
      v.connect(0, add("PreviewImage", 900, 60), 0);
      const i = add("RunComfy_Wan26_ImageToImage", 420, 380);
      set(i, "prompt", `a cat on a windowsill ${tag}`);
      set(i, "image_urls", "https://example.com/cat.png");
      i.connect(0, add("PreviewImage", 900, 380), 0);
      const a = add("RunComfy_acme_text_to_audio", 420, 700);
      set(a, "prompt", `a bell far away ${tag}`);
      a.connect(0, add("PreviewAudio", 900, 700), 0);
    } else if (kind === "list") {          // $0.80 (8 s × $0.10/s) × a list of 2 prompts = $1.60
      const list = add("CreateList", 420, 300);
      ["a paper boat on a river", "a paper plane over a city"].forEach((text, k) => {
        const p = add("PrimitiveStringMultiline", 60, 120 + 220 * k);
        set(p, "value", `${text} ${tag}`);
        p.connect(0, list, k);
      });
      const r = add("RunComfy_acme_reference_to_video", 700, 120);
      set(r, "duration", 8);
      r.connect(0, add("PreviewImage", 1150, 120), 0);
      list.connect(0, r, r.inputs.findIndex((x) => x.name === "prompt"));
      window.__rcList = r.id;
    } else if (kind === "cheap") {         // one Wan 2.2 job: $0.25
      const v = add("RunComfy_Wan22_ImageToVideo", 420, 100);
      set(v, "prompt", `a harbour in the fog ${tag}`);
      set(v, "image_url", "https://example.com/harbour.png");
      v.connect(0, add("PreviewImage", 900, 100), 0);
    }
    graph.setDirtyCanvas?.(true, true);
  }, [kind, tag]);
}

async function openTab() {
  if (await page.locator(".runcomfy-tab").isVisible().catch(() => false)) return;
  await page.locator(".side-bar-button, button").filter({ has: page.locator(".pi-dollar") }).first().click({ timeout: 10000 });
  await page.locator(".runcomfy-tab").waitFor({ timeout: 10000 });
}

const rowOf = (rid) => page.locator(`.runcomfy-job[data-request-id="${rid}"]`);
const dialog = () => page.locator(".runcomfy-queue-dialog");
const badgeText = () => page.locator(".runcomfy-queue-badge").innerText().catch(() => "");
const unfocus = () => page.evaluate(() => document.activeElement?.blur?.());

const initial = {};
try {
  await openComfy();
  initial.vue = await getSetting("Comfy.VueNodes.Enabled");
  initial.palette = await getSetting("Comfy.ColorPalette");
  const settings = ((await api("/api/runcomfy/settings")).body?.settings || []);
  initial.confirm = settings.find((v) => v.key === "confirm_above_usd")?.saved ?? null;
  initial.limit = settings.find((v) => v.key === "daily_limit_usd")?.saved ?? null;
  await setting("Comfy.VueNodes.Enabled", false);
  await setting("Comfy.ColorPalette", "dark");
  await post("/api/runcomfy/settings", { confirm_above_usd: null });   // the default, $5
  const tag = `${Date.now()}`;                                // new prompts: never a journaled job

  // 1. three jobs from the graph, three rows with names and thumbnails
  const start = await jobs();
  const newest = Math.max(0, ...start.jobs.map((j) => j.id));
  await build("three", tag);
  await openTab();
  let before = await historyIds();
  await page.evaluate(() => window.app.queuePrompt(0, 1));
  const running = await waitFor("a running job's progress bar", () => page.evaluate((n) => {
    const row = [...document.querySelectorAll(".runcomfy-job")].find((r) => Number(r.dataset.id) > n && r.querySelector(".runcomfy-progress"));
    const chip = row?.querySelector(".runcomfy-status");
    return row && { status: row.dataset.status, chip: chip.textContent, colour: getComputedStyle(chip).backgroundColor,
                    progress: row.querySelector(".runcomfy-progress-text")?.textContent };
  }, newest), 30000, 200).catch(() => null);
  await shot("1-running");
  const run1 = await finished(before, 1);
  const after1 = await jobs();
  const mine = after1.jobs.filter((j) => !start.jobs.some((s) => s.id === j.id));
  const byKind = Object.fromEntries(mine.map((j) => [j.kind, j]));
  await openTab();
  await waitFor("the three rows", async () => (await Promise.all(mine.map((j) => rowOf(j.request_id).count()))).every((n) => n === 1), 20000).catch(() => {});
  await page.waitForFunction((ids) => ids.every((id) => {
    const img = document.querySelector(`.runcomfy-job[data-request-id="${id}"] .runcomfy-thumb-img`);
    return img && img.complete && img.naturalWidth > 0;
  }), mine.map((j) => j.request_id), { timeout: 15000 }).catch(() => {});
  const rows = await page.evaluate((ids) => ids.map((id) => {
    const row = document.querySelector(`.runcomfy-job[data-request-id="${id}"]`);
    const img = row?.querySelector(".runcomfy-thumb-img");
    return { id: id.slice(0, 8), kind: row?.dataset.kind, name: row?.querySelector(".runcomfy-job-name")?.textContent,
             name_title: row?.querySelector(".runcomfy-job-name")?.title, status: row?.querySelector(".runcomfy-status")?.textContent,
             thumb: img ? img.naturalWidth : null };
  }), mine.map((j) => j.request_id));
  const doneColour = await page.evaluate(() => {
    const chip = document.querySelector('.runcomfy-job[data-status="completed"] .runcomfy-status');
    return chip && getComputedStyle(chip).backgroundColor;
  });
  await shot("1-rows");
  record("while a job runs its row has a progress bar and a blue status chip; a completed one's chip is green",
         running && /^(submitted|queued|running|submitting)/.test(running.chip) && running.colour === "rgb(21, 101, 192)"
           && running.progress && doneColour === "rgb(46, 125, 50)",
         { running, completed_colour: doneColour });
  record("three jobs from the graph are rows with their models' names and a thumbnail that loads",
         run1.every((s) => s === "success") && mine.length === 3 && ["video", "image", "audio"].every((k) => byKind[k])
           && rows.every((r, k) => r.name && mine[k].display_name.endsWith(r.name) && r.name_title === mine[k].model_id
                                   && r.thumb > 0 && r.status === "completed"),
         { run: run1, rows });

  // 1b. the video's thumbnail is its first frame
  const frames = await page.evaluate(async ([videoUrl, thumbSrc]) => {
    const img = new Image();
    img.src = thumbSrc;
    await img.decode();
    const video = Object.assign(document.createElement("video"), { muted: true, preload: "auto", src: videoUrl });
    await new Promise((ok, no) => { video.onloadeddata = ok; video.onerror = () => no(new Error(`video error ${video.error?.code}`)); });
    const seek = (t) => new Promise((ok) => { video.onseeked = ok; video.currentTime = t; });
    const [w, h] = [img.naturalWidth, img.naturalHeight];
    const grab = (src) => {
      const c = Object.assign(document.createElement("canvas"), { width: w, height: h });
      const g = c.getContext("2d", { willReadFrequently: true });
      g.drawImage(src, 0, 0, w, h);
      return g.getImageData(0, 0, w, h).data;
    };
    const diff = (a, b) => {                 // mean absolute difference per channel, 0…255
      let s = 0;
      for (let i = 0; i < a.length; i += 4) s += Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]) + Math.abs(a[i + 2] - b[i + 2]);
      return s / (a.length / 4 * 3);
    };
    const thumb = grab(img);
    await seek(0);
    const first = grab(video);
    await seek(video.duration * 0.8);
    const later = grab(video);
    return { size: [w, h], video: [video.videoWidth, video.videoHeight], duration: video.duration,
             first: +diff(thumb, first).toFixed(2), later: +diff(thumb, later).toFixed(2) };
  }, [`/api${byKind.video?.files?.[0]?.url}`, `/api${byKind.video?.thumb}`]).catch((e) => ({ error: String(e) }));
  record("the video's thumbnail is its first frame (drawn at the same size: small mean difference; a later frame: larger)",
         frames.first < 8 && frames.later > frames.first, frames);

  // 2. a thumbnail's click previews the result; refreshes keep it
  const previews = {};
  for (const kind of ["video", "image", "audio"]) {
    const job = byKind[kind];
    if (!job) continue;
    await rowOf(job.request_id).locator(".runcomfy-thumb").click();
    const element = kind === "image" ? "img" : kind;
    const item = page.locator(`.runcomfy-job-item:has(.runcomfy-job[data-request-id="${job.request_id}"]) .runcomfy-preview ${element}.runcomfy-preview-media`);
    await item.first().waitFor({ timeout: 10000 }).catch(() => {});
    await page.waitForFunction(([id, t]) => {
      const m = document.querySelector(`.runcomfy-job-item:has(.runcomfy-job[data-request-id="${id}"]) .runcomfy-preview ${t}`);
      return m && (t === "img" ? m.complete && m.naturalWidth > 0 : m.readyState >= 1);
    }, [job.request_id, element], { timeout: 15000 }).catch(() => {});
    previews[kind] = await item.first().evaluate((m) => ({ src: m.getAttribute("src"), ready: m.readyState ?? null,
                                                           width: m.naturalWidth ?? m.videoWidth ?? null,
                                                           duration: Number.isFinite(m.duration) ? +m.duration.toFixed(2) : null,
                                                           controls: m.controls ?? null, muted: m.muted ?? null })).catch(() => null);
    if (previews[kind]) previews[kind].file = job.files[0]?.url;
  }
  const played = await page.evaluate(async (id) => {   // the video plays (autoplay allowed for the check)
    const v = document.querySelector(`.runcomfy-job-item:has(.runcomfy-job[data-request-id="${id}"]) .runcomfy-preview video`);
    if (!v) return null;
    v.__rcMark = true;
    try { await v.play(); } catch (e) { return String(e); }
    await new Promise((r) => setTimeout(r, 700));
    v.pause();
    return +v.currentTime.toFixed(2);
  }, byKind.video?.request_id);
  await shot("2-preview");
  const sameFile = (p) => p && p.file && p.src?.endsWith(p.file);
  record("a click on a thumbnail previews the result in the tab (video that plays, with sound; image; audio)",
         sameFile(previews.video) && previews.video.ready >= 1 && previews.video.controls && !previews.video.muted
           && typeof played === "number" && played > 0
           && sameFile(previews.image) && previews.image.width > 0
           && sameFile(previews.audio) && previews.audio.ready >= 1,
         { previews, played_to_s: played });
  const scroller = () => page.evaluate(() => {
    for (let n = document.querySelector(".runcomfy-tab"); n; n = n.parentElement) {
      if (n.scrollHeight > n.clientHeight && /(auto|scroll)/.test(getComputedStyle(n).overflowY)) return n.scrollTop;
    }
    return 0;
  });
  await page.evaluate(() => {                 // scrolled a little, to see it stay
    for (let n = document.querySelector(".runcomfy-tab"); n; n = n.parentElement) {
      if (n.scrollHeight > n.clientHeight && /(auto|scroll)/.test(getComputedStyle(n).overflowY)) { n.scrollTop = 120; return; }
    }
  });
  const scrollBefore = await scroller();
  await page.waitForTimeout(4500);            // two refreshes of the tab
  const kept = await page.evaluate((id) => {
    const v = document.querySelector(`.runcomfy-job-item:has(.runcomfy-job[data-request-id="${id}"]) .runcomfy-preview video`);
    return { same_video: !!v?.__rcMark, previews_open: document.querySelectorAll(".runcomfy-preview").length };
  }, byKind.video?.request_id);
  const scrollAfter = await scroller();
  record("the tab's refreshes keep the preview open (the same <video>) and the scroll position",
         kept.same_video && kept.previews_open === 3 && scrollAfter === scrollBefore,
         { ...kept, scroll: [scrollBefore, scrollAfter] });
  await page.evaluate(() => document.querySelectorAll(".runcomfy-preview .runcomfy-link-button").forEach((b) => b.click()));

  // 3. filter by model
  const imageModel = byKind.image?.model_id;
  await page.locator(".runcomfy-filter-model").selectOption(imageModel);
  const routeCount = (await jobs(`&model=${encodeURIComponent(imageModel)}`)).jobs.length;
  await waitFor("only the image model's rows", () => page.evaluate(([m, n]) => {
    const r = [...document.querySelectorAll(".runcomfy-job")];
    return r.length === n && r.every((x) => x.dataset.modelId === m);
  }, [imageModel, routeCount]), 10000).catch(() => {});
  const filtered = await page.evaluate(() => [...document.querySelectorAll(".runcomfy-job")].map((r) => r.dataset.modelId));
  await shot("3-filter");
  record("filtering by model keeps only that model's rows",
         filtered.length === routeCount && filtered.length > 0 && filtered.every((m) => m === imageModel),
         { model: imageModel, rows: filtered.length, route: routeCount, others: filtered.filter((m) => m !== imageModel) });
  await page.locator(".runcomfy-filter-model").selectOption("");

  // 4. paging through the whole journal, 1 job a page
  const all = (await jobs()).jobs.map((j) => j.id);
  const pages = [];                           // the pages below the first the tab asked for
  const onRequest = (r) => { if (/\/runcomfy\/jobs\?.*before=/.test(r.url())) pages.push(new URL(r.url()).searchParams.get("before")); };
  page.on("request", onRequest);
  await page.evaluate(() => { document.querySelector(".runcomfy-jobs").dataset.pageSize = "1"; });
  await page.locator(".runcomfy-filter-status").selectOption("completed");
  await page.locator(".runcomfy-filter-status").selectOption("");   // the list again, now by 1
  const paged = await waitFor("every job to be listed", async () => {
    await page.locator(".runcomfy-more:visible").click({ timeout: 500 }).catch(() => {});   // or it came by scrolling
    const ids = await page.evaluate(() => [...document.querySelectorAll(".runcomfy-job")].map((r) => Number(r.dataset.id)));
    return ids.length >= all.length ? ids : null;
  }, 30000, 300).catch(() => []);
  await page.waitForTimeout(2500);            // a refresh of the first page merges, never drops
  const pagedAfter = await page.evaluate(() => [...document.querySelectorAll(".runcomfy-job")].map((r) => Number(r.dataset.id)));
  page.off("request", onRequest);
  record("the list pages through the whole journal (1 a page): every job once, newest first, kept across refreshes",
         all.length > 2 && JSON.stringify(paged) === JSON.stringify(all) && JSON.stringify(pagedAfter) === JSON.stringify(all)
           && pages.length >= all.length - 1 && await page.locator(".runcomfy-more").isHidden(),
         { journal: all.length, listed: paged.length, after_refresh: pagedAfter.length, pages_below_the_first: pages.length,
           order: JSON.stringify(paged) === JSON.stringify(all) ? "as the journal's" : { journal: all, listed: paged, after: pagedAfter } });
  await page.evaluate(() => { document.querySelector(".runcomfy-jobs").dataset.pageSize = "50"; });

  // 5. the spend chart
  await post("/api/runcomfy/settings", { daily_limit_usd: 20 });
  await page.waitForTimeout(500);
  const limitLine = await waitFor("the limit line", () => page.evaluate(() =>
    document.querySelector(".runcomfy-spend-chart .runcomfy-spend-limit")?.dataset.limit), 40000).catch(() => null);
  const chartToday = (await jobs()).today;
  await page.waitForFunction((spent) => {
    const bars = document.querySelectorAll(".runcomfy-spend-chart .runcomfy-spend-bar");
    return bars.length && Math.abs(Number(bars[bars.length - 1].dataset.spent) - spent) < 0.005;
  }, chartToday.spent, { timeout: 35000 }).catch(() => {});
  const chart = await page.evaluate(() => {
    const bars = [...document.querySelectorAll(".runcomfy-spend-chart .runcomfy-spend-bar")];
    const last = bars[bars.length - 1];
    return { bars: bars.length, last_spent: last && Number(last.dataset.spent), last_day: last && Number(last.dataset.day),
             title: last?.parentElement.querySelector("title")?.textContent,
             head: document.querySelector(".runcomfy-spend-head")?.innerText.replace(/\n/g, " | ") };
  });
  const spendRoute = (await api("/api/runcomfy/spend?days=30")).body;
  await page.locator(".runcomfy-spend").screenshot({ path: path.join(out, "panel-5-chart.png") }).catch(() => {});
  record("the spend chart: 30 days, today's bar is today's spend (to the cent), the daily limit a line",
         chart.bars === 30 && chartToday.spent > 0 && money(chart.last_spent) === money(chartToday.spent)
           && chart.last_day === spendRoute.days[29].day && Number(limitLine) === 20 && /\$/.test(chart.title || ""),
         { ...chart, today_spent: chartToday.spent, limit_line: limitLine });
  await post("/api/runcomfy/settings", { daily_limit_usd: initial.limit });

  // 6. the price of the whole Queue
  await build("list", tag);
  const listId = await page.evaluate(() => window.__rcList);
  const server = (await post("/api/runcomfy/estimate_queue", { batch: 1, nodes: [{ node: String(listId),
    type: "RunComfy_acme_reference_to_video", title: "x", widgets: { duration: 8, resolution: "480p" }, items: 2, linked: false, fixed: true }] })).body;
  const badge = await waitFor("the badge to say $1.60", async () => {
    const t = await badgeText();
    return /\$1\.60/.test(t) ? t : null;
  }, 10000).catch(async () => badgeText());
  record("the Queue's total is shown before queueing: the badge beside Run says $1.60 (the server's total for the workflow)",
         server?.total === 1.6 && server.complete && /Queue ≈ \$1\.60$/.test(badge.trim()),
         { server: server && { total: server.total, runs: server.nodes?.[0]?.runs, each: server.nodes?.[0]?.each }, badge });

  await post("/api/runcomfy/settings", { confirm_above_usd: 1 });
  before = await historyIds();
  const jobsBefore = (await jobs()).jobs.length;
  await page.locator('[data-testid="queue-button"]').click();
  await dialog().waitFor({ timeout: 10000 }).catch(() => {});
  const asked = await dialog().innerText().catch(() => "");
  await shot("6-dialog");
  await page.locator(".runcomfy-queue-cancel").click().catch(() => {});
  await page.waitForTimeout(2500);
  const queueAfter = (await api("/api/queue")).body || {};
  const historyAfter = await historyIds();
  const jobsAfterCancel = (await jobs()).jobs.length;
  record("at the $1 threshold, Run opens a dialog naming $1.60 and its node; Cancel queues nothing",
         /\$1\.60/.test(asked) && /Reference to Video/i.test(asked) && /Queue/.test(asked) && /Cancel/.test(asked)
           && await dialog().count() === 0
           && (queueAfter.queue_running || []).length === 0 && (queueAfter.queue_pending || []).length === 0
           && historyAfter.length === before.length && jobsAfterCancel === jobsBefore,
         { dialog: asked.replace(/\n+/g, " | "), queue: [(queueAfter.queue_running || []).length, (queueAfter.queue_pending || []).length],
           history: [before.length, historyAfter.length], jobs: [jobsBefore, jobsAfterCancel] });

  await unfocus();
  await page.keyboard.press("Control+Enter");
  await dialog().waitFor({ timeout: 10000 }).catch(() => {});
  const askedAgain = await dialog().innerText().catch(() => "");
  await page.locator(".runcomfy-queue-ok").click().catch(() => {});
  const run6 = await finished(before, 1).catch((e) => [String(e)]);
  const historyQueued = await historyIds();
  const jobsQueued = (await jobs()).jobs;
  const fresh = jobsQueued.length - jobsBefore;
  record("Ctrl+Enter asks too, and Queue submits it as usual (one prompt; its 2 jobs, one per list item)",
         /\$1\.60/.test(askedAgain) && run6.every((s) => s === "success") && historyQueued.length === before.length + 1
           && fresh === 2 && jobsQueued.slice(0, 2).every((j) => j.model_id === "acme/reference-to-video"),
         { run: run6, prompts: historyQueued.length - before.length, new_jobs: fresh });

  await build("cheap", tag);
  before = await historyIds();
  await page.evaluate(() => { window.__rcQueued = window.app.extensionManager.command.execute("Comfy.QueuePrompt"); });
  const toastText = await waitFor("the toast", () => page.evaluate(() =>
    [...document.querySelectorAll(".p-toast-message")].map((t) => t.innerText).find((t) => /This Queue/.test(t)) || null), 10000).catch(() => "");
  const sawDialog = await dialog().count();
  await shot("6-toast");
  const run7 = await finished(before, 1).catch((e) => [String(e)]);
  record("below the threshold ($0.25, the Queue Prompt command): no dialog, a toast names the total, it runs",
         sawDialog === 0 && /\$0\.25/.test(toastText) && run7.every((s) => s === "success"),
         { toast: (toastText || "").replace(/\n+/g, " | "), dialog: sawDialog, run: run7 });

  // 7. both renderers, both palettes: the tab and the dialog
  await build("list", `${tag}-look`);
  const looks = [];
  for (const vue of [false, true]) {
    for (const palette of ["dark", "light"]) {
      await setting("Comfy.VueNodes.Enabled", vue);
      await setting("Comfy.ColorPalette", palette);
      await page.waitForTimeout(1200);
      await openTab();
      const video = byKind.video && rowOf(byKind.video.request_id);
      if (video && !(await page.locator(".runcomfy-preview").count())) await video.locator(".runcomfy-thumb").click().catch(() => {});
      await page.waitForTimeout(600);
      const name = `${vue ? "nodes2" : "classic"}-${palette}`;
      await shot(`${name}-tab`);
      await page.locator('[data-testid="queue-button"]').click();
      const opened = await dialog().waitFor({ timeout: 10000 }).then(() => true, () => false);
      const colours = await page.evaluate(() => {
        const d = document.querySelector(".runcomfy-queue-dialog");
        return d ? [getComputedStyle(d).backgroundColor, getComputedStyle(d).color] : null;
      });
      await shot(`${name}-dialog`);
      await page.locator(".runcomfy-queue-cancel").click().catch(() => {});
      looks.push({ name, opened, vue_nodes: vue ? await page.locator("[data-node-id]").count() : 0, colours });
    }
  }
  const queueEnd = (await api("/api/queue")).body || {};
  record("the tab and the dialog in both renderers and palettes (screenshots); the dialog opens from Run in each, Nodes 2.0 too",
         looks.length === 4 && looks.every((l) => l.opened) && looks.filter((l) => l.name.startsWith("nodes2")).every((l) => l.vue_nodes > 0)
           && looks[0].colours?.[0] !== looks[1].colours?.[0]
           && (queueEnd.queue_pending || []).length === 0,
         { looks });
} catch (e) {
  record("the check ran to the end", false, String(e).slice(0, 500));
  await shot("failure");
} finally {
  // leave the settings as they were (the scripts share this ComfyUI)
  await post("/api/runcomfy/settings", { confirm_above_usd: initial.confirm ?? null, daily_limit_usd: initial.limit ?? null }).catch(() => {});
  if (initial.vue !== undefined) await setting("Comfy.VueNodes.Enabled", initial.vue).catch(() => {});
  if (initial.palette !== undefined) await setting("Comfy.ColorPalette", initial.palette).catch(() => {});
  record("no page errors", errors.length === 0, errors);
  await finish();
}
