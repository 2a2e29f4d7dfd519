// What every browser check shares (see run.sh): a headless Chromium with a fresh profile, the
// ComfyUI page, PASS/FAIL records, screenshots into OUT_DIR, page errors, and the exit code.
//   const s = await session("catalog");      // screenshots named catalog-<name>.png
//   s.record("a check", ok, seen); await s.shot("tab"); ... await s.finish();
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

export async function session(prefix, { extraArgs = [] } = {}) {
  const url = process.argv[2] || "http://127.0.0.1:8199";
  const out = process.env.OUT_DIR || os.tmpdir();
  const results = [];
  const browser = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), "rc-chromium-")), {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true,
    viewport: { width: 1600, height: 1000 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync", ...extraArgs],
  });
  const page = browser.pages()[0] || await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e).slice(0, 300)));
  return {
    url, out, page, browser, errors, results,
    record(name, ok, seen) {
      results.push({ name, ok: !!ok, seen });
      console.log(`${ok ? "PASS" : "FAIL"} ${name}: ${JSON.stringify(seen)}`);
    },
    shot: (name) => page.screenshot({ path: path.join(out, `${prefix}-${name}.png`) }).catch(() => {}),
    async openComfy() {                      // the ComfyUI page, its app ready, a first-run dialog closed
      await page.goto(url, { waitUntil: "domcontentloaded" });
      await page.waitForFunction(() => window.app?.graph && window.LiteGraph && window.app.extensionManager,
                                 null, { timeout: 120000 });
      await page.waitForTimeout(1500);
      await page.keyboard.press("Escape");
    },
    async waitFor(what, fn, timeoutMs = 30000, everyMs = 250) {   // fn's first truthy answer
      const end = Date.now() + timeoutMs;
      while (Date.now() < end) {
        const last = await fn();
        if (last) return last;
        await page.waitForTimeout(everyMs);
      }
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    },
    async finish() {                         // closes the browser and exits: 1 when a check failed
      if (errors.length) console.log("page errors:", errors);
      await browser.close();
      const failed = results.filter((r) => !r.ok).length;
      console.log(failed ? `${failed} check(s) failed` : "all checks passed");
      process.exit(failed ? 1 : 0);
    },
  };
}
