// The pack's web extension in a real headless Chromium against a running ComfyUI (see run.sh).
//   node check.mjs http://127.0.0.1:8199        (NODE_PATH must reach playwright-core)
// Checks, each printed as PASS/FAIL with what was seen:
//   1. a model node shows a price badge ("≈ $…") and it changes when the duration widget does;
//   2. a job run from the graph is listed in the RunComfy sidebar tab, with today's spend;
//   3. "Load into workflow" adds a RunComfy Load Result node holding that request id, and a
//      graph with it runs to the end without a new job;
//   4. with Nodes 2.0 (the Vue renderer) the badge shows on the node and follows the widget.
import fs from "node:fs";
import { session } from "./session.mjs";
import path from "node:path";

const { out, page, record, shot, errors, finish, openComfy } = await session("check");

async function jobs() {
  return page.evaluate(async () => (await (await fetch("/api/runcomfy/jobs?limit=10")).json()));
}

async function waitForHistory(count, timeoutMs = 90000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {           // polled from here: waitForFunction takes no async predicate
    const done = await page.evaluate(async () => {
      const h = await (await fetch("/api/history?max_items=20")).json();
      return Object.values(h).filter((x) => x.status?.completed || x.status?.status_str === "error")
        .map((x) => ({ status_str: x.status.status_str, messages: JSON.stringify(x.status.messages).slice(0, 400) }));
    });
    if (done.length >= count) return done;
    await page.waitForTimeout(500);
  }
  throw new Error(`fewer than ${count} prompt(s) finished in ${timeoutMs / 1000} s`);
}

try {
  await openComfy();
  await page.evaluate(() => { for (const n of [...window.app.graph._nodes]) window.app.graph.remove(n); });

  // 1. the price badge follows the duration widget (a frame count is a duration too)
  const badgeOf = (id) => page.evaluate((i) => {
    const n = window.app.graph.getNodeById(i);
    const texts = (n.badges || []).map((b) => (typeof b === "function" ? b() : b)?.text);
    return texts.find((t) => t && (t.startsWith("≈") || t.startsWith("price"))) || null;
  }, id);
  for (const [type, widget] of [["RunComfy_acme_reference_to_video", "duration"],
                                ["RunComfy_Wan21_FusionX_ImageToVideo", "number_of_frames"]]) {
    const id = await page.evaluate((t) => {
      const n = window.LiteGraph.createNode(t);
      n.pos = [80 + 40 * window.app.graph._nodes.length, 120];
      window.app.graph.add(n);
      return n.id;
    }, type);
    await page.waitForFunction((i) => {
      const p = window.app.graph.getNodeById(i).runcomfyPrice;
      return p && p.text !== "…";
    }, id, { timeout: 20000 });
    const before = await badgeOf(id);
    const value = await page.evaluate(([i, name]) => {
      const w = window.app.graph.getNodeById(i).widgets.find((x) => x.name === name);
      let values = w.options?.values;
      if (typeof values === "function") values = values(w);
      const v = values ? values.find((x) => String(x) !== String(w.value)) : Number(w.value) * 2;
      w.value = v;
      w.callback?.(v);
      return v;
    }, [id, widget]);
    await page.waitForFunction(([i, b]) => {
      const n = window.app.graph.getNodeById(i);
      const t = (n.badges || []).map((x) => (typeof x === "function" ? x() : x)?.text)
        .find((x) => x && (x.startsWith("≈") || x.startsWith("price")));
      return t && t !== b;
    }, [id, before], { timeout: 20000 }).catch(() => {});
    const after = await badgeOf(id);
    record(`${type}: the price badge shows and follows '${widget}'`,
           before?.startsWith("≈ $") && after?.startsWith("≈ $") && before !== after,
           { before, after, [widget]: value });
  }
  await page.screenshot({ path: path.join(out, "1-badge.png") });

  // 1b. a node fed by a list runs one job per item: its badge says "each"
  const listWorkflow = JSON.parse(fs.readFileSync(new URL("../../example_workflows/wan22_prompt_list.json",
                                                          import.meta.url), "utf8"));
  const listBadge = await page.evaluate(async (wf) => {
    await window.app.loadGraphData(wf, true, true, "list check");
    const n = window.app.graph._nodes.find((x) => x.type === "RunComfy_Wan22_ImageToVideo");
    for (let k = 0; k < 40; k++) {
      const t = (n.badges || []).map((b) => (typeof b === "function" ? b() : b)?.text).find((x) => x?.startsWith("≈"));
      if (t) return t;
      await new Promise((r) => setTimeout(r, 250));
    }
    return null;
  }, listWorkflow);
  record("a node fed by a Create List shows the price of each job", /^≈ \$[\d.]+ each$/.test(listBadge || ""),
         { badge: listBadge });
  // remove (not clear(): that reuses node ids, and the frontend keeps widget values by id)
  await page.evaluate(() => { for (const n of [...window.app.graph._nodes]) window.app.graph.remove(n); });
  await page.evaluate(() => {
    const n = window.LiteGraph.createNode("RunComfy_Wan22_ImageToVideo");
    n.pos = [80, 120];
    window.app.graph.add(n);
    window.__rc = n;
  });

  // 2. run a job from the graph, then find it in the sidebar tab
  await page.evaluate(async () => {
    const n = window.__rc;
    n.widgets.find((w) => w.name === "prompt").value = "a lighthouse at dusk";
    n.widgets.find((w) => w.name === "image_url").value = "https://example.com/lighthouse.png";
    const preview = window.LiteGraph.createNode("PreviewImage");
    preview.pos = [700, 120];
    window.app.graph.add(preview);
    n.connect(0, preview, 0);
    await window.app.queuePrompt(0, 1);
  });
  const firstRun = await waitForHistory(1);
  const listed = await jobs();
  const job = listed.jobs[0] || {};
  const tab = page.locator(".side-bar-button, button").filter({ has: page.locator(".pi-dollar") }).first();
  await tab.click({ timeout: 10000 });
  const row = page.locator(".runcomfy-job").first();
  await row.waitFor({ timeout: 15000 });
  await page.waitForFunction(() => /completed/.test(document.querySelector(".runcomfy-job")?.innerText || ""),
                             null, { timeout: 20000 }).catch(() => {});
  const rowText = await row.innerText();
  const today = await page.locator(".runcomfy-today").innerText();
  await page.screenshot({ path: path.join(out, "2-sidebar.png") });
  record("the sidebar tab lists the finished job and today's spend",
         firstRun[0]?.status_str === "success" && job.status === "completed"
           && rowText.includes("completed") && rowText.includes(job.request_id.slice(0, 8))
           && /Today: \$\d/.test(today),
         { run: firstRun[0]?.status_str, row: rowText.replace(/\n/g, " | "), today });

  // 3. load it into the workflow and run that
  await row.getByText("Load into workflow").click();
  const loaded = await page.evaluate(() => {
    const n = window.app.graph._nodes.find((x) => x.type === "RunComfy_LoadResult");
    if (!n) return null;
    for (const other of [...window.app.graph._nodes]) if (other !== n) window.app.graph.remove(other);
    const preview = window.LiteGraph.createNode("PreviewImage");
    preview.pos = [700, 400];
    window.app.graph.add(preview);
    n.connect(0, preview, 0);
    return n.widgets.find((w) => w.name === "request_id").value;
  });
  if (loaded) await page.evaluate(() => window.app.queuePrompt(0, 1));
  const secondRun = loaded ? await waitForHistory(2) : [];
  const afterJobs = await jobs();
  await page.screenshot({ path: path.join(out, "3-load-result.png") });
  record("Load into workflow adds a Load Result node that runs without a new job",
         loaded === job.request_id && secondRun.every((s) => s.status_str === "success")
           && afterJobs.jobs.length === listed.jobs.length,
         { request_id: loaded, runs: secondRun.map((s) => s.status_str), jobs: afterJobs.jobs.length });

  // 4. Nodes 2.0 (the Vue node renderer, ComfyUI Desktop's default): the badge shows and follows
  await page.evaluate(async () => {
    for (const n of [...window.app.graph._nodes]) window.app.graph.remove(n);
    await window.app.extensionManager.setting.set("Comfy.VueNodes.Enabled", true);
  });
  await page.waitForTimeout(1500);
  const vueId = await page.evaluate(() => {
    const n = window.LiteGraph.createNode("RunComfy_acme_reference_to_video");
    n.pos = [700, 140];                       // clear of the open sidebar panel
    window.app.graph.add(n);
    return n.id;
  });
  const domBadge = () => page.evaluate((i) => {
    const el = document.querySelector(`[data-node-id="${i}"]`);
    return el ? ((el.innerText || "").match(/≈ \$[\d.]+|price unknown/) || [null])[0] : "no node element";
  }, vueId);
  await page.waitForFunction((i) => /≈ \$/.test(document.querySelector(`[data-node-id="${i}"]`)?.innerText || ""),
                             vueId, { timeout: 20000 }).catch(() => {});
  const vueBefore = await domBadge();
  // typed into the node's own number field, as a user does (not set from script)
  const field = page.locator(`[data-node-id="${vueId}"] [data-testid="node-widget"]`)
    .filter({ has: page.locator('[data-testid="widget-layout-field-label"]', { hasText: /^duration$/ }) })
    .locator("input").first();
  await field.fill("10");
  await field.press("Enter");
  await page.waitForFunction(([i, b]) => {
    const t = (document.querySelector(`[data-node-id="${i}"]`)?.innerText || "").match(/≈ \$[\d.]+/);
    return t && t[0] !== b;
  }, [vueId, vueBefore], { timeout: 20000 }).catch(() => {});
  const vueAfter = await domBadge();
  await page.screenshot({ path: path.join(out, "4-vue-nodes.png") });
  record("Nodes 2.0: the price badge shows on the node and follows 'duration'",
         vueBefore?.startsWith("≈ $") && vueAfter?.startsWith("≈ $") && vueBefore !== vueAfter,
         { before: vueBefore, after: vueAfter });
} catch (e) {
  record("the check ran to the end", false, String(e).slice(0, 500));
  await page.screenshot({ path: path.join(out, "failure.png") }).catch(() => {});
} finally {
  await finish();
}
