// Thumbnails for example_workflows/: each workflow loaded into a real ComfyUI (see run.sh),
// fitted to the view and saved as <name>.jpg beside it, which is the file ComfyUI's template
// browser shows for a custom node pack's example workflow.
//   SCRIPT=thumbnails.mjs tools/web_check/run.sh      (THUMB_DIR: where to write, default OUT_DIR)
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

const url = process.argv[2] || "http://127.0.0.1:8199";
const pack = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
const folder = path.join(pack, "example_workflows");
const target = process.env.THUMB_DIR || process.env.OUT_DIR || os.tmpdir();
const THUMB_WIDTH = 900;      // px: sharp in the template browser, ~50 KB a file

const browser = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), "rc-thumbs-")), {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true,
  viewport: { width: 2200, height: 1400 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"],
});
const page = browser.pages()[0] || await browser.newPage();
let failed = 0;
try {
  await page.goto(url, { waitUntil: "domcontentloaded" });
  await page.waitForFunction(() => window.app?.graph && window.app.extensionManager, null, { timeout: 120000 });
  await page.waitForTimeout(1500);
  await page.keyboard.press("Escape");
  const known = await page.evaluate(async () => {
    const settings = window.app.extensionManager.setting;
    await settings.set("Comfy.NodeBadge.NodeSourceBadgeMode", "None");   // not the folder's name
    await settings.set("Comfy.Minimap.Visible", false);
    return Object.keys(window.LiteGraph.registered_node_types);
  });
  for (const file of fs.readdirSync(folder).filter((f) => f.endsWith(".json")).sort()) {
    const workflow = JSON.parse(fs.readFileSync(path.join(folder, file), "utf8"));
    const { types, clip } = await page.evaluate(async (wf) => {
      await window.app.loadGraphData(wf, true, true, "thumbnail");
      await new Promise((r) => setTimeout(r, 500));
      const canvas = window.app.canvas, ds = canvas.ds, nodes = window.app.graph._nodes;
      const title = window.LiteGraph.NODE_TITLE_HEIGHT || 30;
      const box = nodes.reduce((b, n) => [Math.min(b[0], n.pos[0]), Math.min(b[1], n.pos[1] - title),
        Math.max(b[2], n.pos[0] + n.size[0]), Math.max(b[3], n.pos[1] + n.size[1])],
        [Infinity, Infinity, -Infinity, -Infinity]);
      const rect = canvas.canvas.getBoundingClientRect();
      const fit = Math.min((rect.width - 80) / (box[2] - box[0]), (rect.height - 80) / (box[3] - box[1]), 1);
      ds.scale = Math.max(fit, 0.75);                 // below ~0.6 LiteGraph drops the text (no animation:
                                                      // the FitView command animates and would race this)
      ds.offset[0] = (rect.width / ds.scale - (box[2] - box[0])) / 2 - box[0];   // centred
      ds.offset[1] = (rect.height / ds.scale - (box[3] - box[1])) / 2 - box[1];
      canvas.setDirty(true, true);
      const pad = 24, x = rect.left + (box[0] + ds.offset[0]) * ds.scale - pad,
        y = rect.top + (box[1] + ds.offset[1]) * ds.scale - pad;
      return { types: nodes.map((n) => n.type), clip: { x: Math.max(0, x), y: Math.max(0, y),
        width: (box[2] - box[0]) * ds.scale + 2 * pad, height: (box[3] - box[1]) * ds.scale + 2 * pad } };
    }, workflow);
    await page.waitForTimeout(800);
    const missing = types.filter((t) => !known.includes(t));
    const out = path.join(target, file.replace(/\.json$/, ".jpg"));
    const raw = await page.screenshot({ type: "png", clip });
    const shot = raw.toString("base64");
    const jpeg = await page.evaluate(async ({ b64, width }) => {    // scaled down in the page itself
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const c = document.createElement("canvas");
      c.width = Math.min(width, img.width);
      c.height = Math.round(img.height * c.width / img.width);
      const g = c.getContext("2d");
      g.imageSmoothingQuality = "high";
      g.drawImage(img, 0, 0, c.width, c.height);
      return c.toDataURL("image/jpeg", 0.85).split(",")[1];
    }, { b64: shot, width: THUMB_WIDTH });
    fs.writeFileSync(out, Buffer.from(jpeg, "base64"));
    const ok = missing.length === 0;
    failed += ok ? 0 : 1;
    console.log(`${ok ? "OK  " : "FAIL"} ${file}: ${types.length} nodes${ok ? "" : `, unknown: ${missing}`} -> ${out}`);
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);

