// RunComfy's whole catalog in the node library, checked in a real headless Chromium against a
// running ComfyUI and the pack's simulator serving a larger catalog (see run.sh).
//   node catalog.mjs http://127.0.0.1:8199      (NODE_PATH must reach playwright-core;
//                                                SIM_URL, default http://127.0.0.1:8777)
// Checks, each printed as PASS/FAIL with what was seen:
//   1. the catalog's models are nodes: /object_info has many RunComfy_* catalog nodes of this
//      pack under RunComfy/<Kind>/<vendor>, and one is created with the schema's widgets;
//   2. a model added to the service appears after "Refresh models" in the RunComfy tab, with
//      no page reload;
//   3. a property inserted mid-schema: a saved workflow opens with every value on the widget of
//      the same name and the new widget at its default, three times: as saved now, with only the
//      pack's names (a frontend without widgets_values_named), and legacy (values by position
//      only: read with /runcomfy/catalog/previous);
//   4. a model removed from the service: its node stays (RunComfy/Unavailable), a workflow with
//      it opens without missing nodes, and queueing it fails clearly with no job submitted;
//   5. a shared workflow whose model this machine's catalog lacks opens as a real node with its
//      values (and, as a control of the missing-nodes detector, one whose model nobody offers
//      does show as missing);
//   6. no page errors.
import { session } from "./session.mjs";
import path from "node:path";

const { out, page, record, shot, errors, finish, results, waitFor, openComfy } = await session("catalog");
const sim = process.env.SIM_URL || "http://127.0.0.1:8777";
const simAuth = { Authorization: `Bearer ${process.env.SIM_TOKEN || "sim-token"}` };

// -- the simulator, driven from here (as the service would change) ------------------------------
async function simCatalog(body) {
  const r = await fetch(`${sim}/sim/catalog`, { method: "POST", body: JSON.stringify(body),
                                                headers: { ...simAuth, "Content-Type": "application/json" } });
  if (!r.ok) throw new Error(`POST /sim/catalog ${JSON.stringify(body).slice(0, 120)}: HTTP ${r.status} ${await r.text()}`);
  return r.json();
}

async function simModel(modelId) {
  const r = await fetch(`${sim}/v1/models/${modelId}`, { headers: simAuth });
  return r.ok ? r.json() : null;
}

const nodeIdFor = (modelId) => "RunComfy_" + modelId.replace(/[^A-Za-z0-9]+/g, "_").replace(/^_+|_+$/g, "");

// A model as the service lists it: text to image, a few widgets of each kind and a seed.
function madeUpModel(modelId, name) {
  return {
    model_id: modelId, display_name: name, kind: "text-to-image", output: "image",
    description: `${name}, added while ComfyUI runs (browser check).`, categories: ["Webcheck"],
    base_price_usd: 0.05, price_unit: "request",
    input_schema: { type: "object", required: ["prompt"], properties: {
      prompt: { title: "Prompt", type: "string", description: "What to draw." },
      steps: { title: "Steps", type: "integer", minimum: 1, maximum: 50, default: 20 },
      style: { title: "Style", type: "string", enum: ["photo", "sketch", "anime"], default: "photo" },
      strength: { title: "Strength", type: "number", minimum: 0, maximum: 1, default: 0.5 },
      seed: { title: "Seed", type: "integer", minimum: -1, maximum: 2147483647, default: -1 },
    } },
  };
}

// -- the page's side ---------------------------------------------------------------------------
const catalogState = () => page.evaluate(async () => (await fetch("/api/runcomfy/catalog")).json());


async function waitIdleCatalog(after = null, timeoutMs = 60000) {
  return waitFor(after == null ? "the catalog's first refresh" : "the catalog refresh", async () => {
    const s = await catalogState();
    return !s.refreshing && s.fetched_at && (after == null || s.fetched_at > after) ? s : null;
  }, timeoutMs, 400);
}

// Open the RunComfy sidebar tab once (its icon is a dollar); the catalog line is in it.
async function openRunComfyTab() {
  const button = page.getByRole("button", { name: "Refresh models" });
  if (await button.count()) return button;
  await page.locator(".side-bar-button, button").filter({ has: page.locator(".pi-dollar") }).first()
    .click({ timeout: 10000 });
  await button.waitFor({ timeout: 15000 });
  return button;
}

// "Refresh models" pressed as a user does; waits until the server's refresh finished.
async function pressRefresh() {
  const before = (await waitIdleCatalog()).fetched_at;
  const button = await openRunComfyTab();
  await page.waitForFunction(() => [...document.querySelectorAll("button")]
    .some((b) => b.textContent === "Refresh models" && !b.disabled), null, { timeout: 15000 });
  await button.click();
  return waitIdleCatalog(before);
}

const registered = (type) => page.evaluate((t) => !!window.LiteGraph.registered_node_types[t], type);

// The widget names a registered node type has now (its node definition, as the page knows it).
const widgetNamesOf = (type) => page.evaluate((t) => {
  const n = window.LiteGraph.createNode(t);
  return n ? (n.widgets || []).map((w) => w.name) : null;
}, type);

async function removeAllNodes() {
  await page.evaluate(() => { for (const n of [...window.app.graph._nodes]) window.app.graph.remove(n); });
}

// Put a node of `type` in the graph and give every widget a value other than its default
// (a number a few steps on, another choice, the boolean flipped, a text); returns its id and
// the values by widget name.
async function addNodeWithValues(type) {
  return page.evaluate(async (t) => {
    const def = (await (await fetch(`/api/object_info/${t}`)).json())[t];
    const specs = { ...(def.input.optional || {}), ...(def.input.required || {}) };
    const n = window.LiteGraph.createNode(t);
    n.pos = [500, 120];
    window.app.graph.add(n);
    const values = {};
    for (const w of n.widgets || []) {
      const [kind, opts = {}] = specs[w.name] || [];
      let choices = w.options?.values;
      if (typeof choices === "function") choices = choices(w);
      let v;
      if (Array.isArray(choices)) v = choices.find((c) => c !== w.value);
      else if (typeof w.value === "boolean") v = !w.value;
      else if (kind === "INT" || kind === "FLOAT") {
        const step = opts.step || (kind === "INT" ? 1 : 0.1);
        const lo = opts.min ?? -1e9, hi = opts.max ?? 1e9;
        v = Number(w.value) + 3 * step <= hi ? Number(w.value) + 3 * step : Number(w.value) - 3 * step;
        v = kind === "INT" ? Math.round(v) : Number(v.toFixed(4));
        if (v < lo) v = lo;
      } else if (typeof w.value === "string") v = `${w.name} from the saved workflow`;
      if (v === undefined) continue;
      w.value = v;
      values[w.name] = v;
    }
    return { id: n.id, values };
  }, type);
}

// Load a workflow as the user opens one; the first node of `type` and what it shows.
async function loadAndRead(workflow, type, title) {
  return page.evaluate(async ([wf, t, name]) => {
    await window.app.loadGraphData(wf, true, true, name);
    await new Promise((r) => setTimeout(r, 300));
    const n = window.app.graph._nodes.find((x) => x.type === t);
    if (!n) return { found: false, types: window.app.graph._nodes.map((x) => x.type) };
    return {
      found: true, real: n.constructor?.comfyClass === t && !n.has_errors,
      category: n.constructor?.nodeData?.category ?? n.constructor?.category,
      values: Object.fromEntries((n.widgets || []).map((w) => [w.name, w.value])),
      dropped: n.runcomfyDropped || [],
    };
  }, [workflow, type, title]);
}

// What the page shows about missing node types after a load: ComfyUI's missing-nodes dialog,
// its errors overlay / panel, or a placeholder node.
async function missingNodesShown(type) {
  return page.evaluate((t) => {
    const visible = (e) => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
    // the words on the page that say so: a dialog, the errors overlay, a panel (leaf texts)
    const said = [...document.querySelectorAll("body *")]
      .filter((e) => !e.childElementCount && visible(e) && /missing|not installed/i.test(e.textContent || ""))
      .map((e) => e.textContent.trim()).join(" | ");
    const placeholder = window.app.graph._nodes.some((n) => n.type === t && (n.has_errors
                                                                            || n.constructor?.comfyClass !== t));
    return said || placeholder ? { said: said ? said.replace(/\s+/g, " ").slice(0, 200) : null, placeholder } : null;
  }, type);
}

async function historyNow() {
  return page.evaluate(async () => (await (await fetch("/api/history?max_items=50")).json()));
}

async function jobsCount() {
  return page.evaluate(async () => (await (await fetch("/api/runcomfy/jobs?limit=200")).json()).jobs.length);
}

// One check: a failure (a timeout, an exception) is that check's FAIL; the next ones still run.
async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    record(name, false, String(e).slice(0, 500));
    await shot(`failure-${results.length}`);
  }
}

try {
  await openComfy();
  await removeAllNodes();
  const mark = `page-${Date.now()}`;                          // gone if the page ever reloads
  await page.evaluate((m) => { window.__runcomfyCheckMark = m; }, mark);

  // 1. the catalog's models are in the node library
  const first = await waitIdleCatalog();
  let catalogNodes = [], sample = null;
  await step("the catalog's models are nodes of this pack, created with their schema's widgets", async () => {
    await page.waitForFunction(() => Object.keys(window.LiteGraph.registered_node_types)
      .filter((t) => t.startsWith("RunComfy_")).length > 10, null, { timeout: 30000 }).catch(() => {});
    const info = await page.evaluate(async () => {
      const all = await (await fetch("/api/object_info")).json();
      const pack = all.RunComfy_Wan22_ImageToVideo?.python_module;
      const ours = Object.values(all).filter((d) => d.name.startsWith("RunComfy_") && d.python_module === pack);
      return { pack, nodes2: !!window.app.extensionManager.setting.get("Comfy.VueNodes.Enabled"),
               ours: ours.map((d) => ({ name: d.name, category: d.category, alias: d.search_aliases?.[0] })),
               registered: Object.keys(window.LiteGraph.registered_node_types).filter((t) => t.startsWith("RunComfy_")).length };
    });
    catalogNodes = info.ours.filter((d) => /^RunComfy\/(Video|Image|Audio|3D)\/[^/]+$/.test(d.category)
                                           && d.alias && nodeIdFor(d.alias) === d.name);
    sample = catalogNodes.find((d) => d.alias.endsWith("/text-to-image"));
    const sampleDoc = sample ? await simModel(sample.alias) : null;
    const sampleWidgets = sample ? await widgetNamesOf(sample.name) : null;
    // a widget may be renamed (num_images → number_of_images); its tooltip names the field it sends
    const sends = sample ? await page.evaluate(async (t) => {
      const def = (await (await fetch(`/api/object_info/${t}`)).json())[t];
      return Object.fromEntries(Object.entries(def.input.required || {}).map(([name, [, o]]) =>
        [((o?.tooltip || "").match(/Sent to RunComfy as '([^']+)'/) || [])[1] || name, name]));
    }, sample.name) : {};
    const scalar = Object.entries(sampleDoc?.input_schema?.properties || {})
      .filter(([k, p]) => ["integer", "number", "float", "boolean"].includes(p.type)
                          || (p.type === "string" && !p.format && !/url/.test(k)))
      .map(([k]) => k);
    const missingWidgets = scalar.filter((k) => !(sampleWidgets || []).includes(sends[k]));
    record("the catalog's models are nodes of this pack, created with their schema's widgets",
           first.models >= 40 && catalogNodes.length >= 40 && /runcomfy/i.test(info.pack || "")
             && info.registered >= catalogNodes.length && sampleWidgets && scalar.length >= 4 && !missingWidgets.length,
           { nodes_2: info.nodes2, catalog: first.models, catalog_nodes: catalogNodes.length, python_module: info.pack,
             registered_in_page: info.registered, categories: [...new Set(catalogNodes.map((d) => d.category))].slice(0, 6),
             sample: sample?.name, sample_category: sample?.category, widgets: sampleWidgets, schema_widgets_missing: missingWidgets });
  });

  // 2. a model added to the service appears after "Refresh models", no reload
  await step("a model added to the service is a node after 'Refresh models', without a reload", async () => {
    const addedId = "webcheck/added-1/text-to-image";
    const addedType = nodeIdFor(addedId);
    const wasThere = await registered(addedType);
    await simCatalog({ action: "add", model: madeUpModel(addedId, "Webcheck Added One") });
    const afterAdd = await pressRefresh();
    await waitFor(`${addedType} in the page`, () => registered(addedType), 20000).catch(() => {});
    const addedWidgets = await widgetNamesOf(addedType);
    const sameMark = await page.evaluate(() => window.__runcomfyCheckMark);
    await page.waitForFunction((n) => (document.querySelector(".runcomfy-catalog")?.innerText || "")
      .includes(`${n} models`), afterAdd.models, { timeout: 5000 }).catch(() => {});
    const line = await page.locator(".runcomfy-catalog").innerText().catch(() => "");
    await shot("2-refresh-models");
    record("a model added to the service is a node after 'Refresh models', without a reload",
           !wasThere && afterAdd.models === first.models + 1 && sameMark === mark
             && line.includes(`Catalog: ${afterAdd.models} models, fetched just now`)
             && ["prompt", "steps", "style", "strength", "seed"].every((w) => addedWidgets?.includes(w)),
           { before: wasThere, catalog: afterAdd.models, widgets: addedWidgets, tab: line.replace(/\n/g, " | "),
             page_reloaded: sameMark !== mark });
  });

  // 3. a property inserted mid-schema: values kept by name (a saved workflow, a legacy one)
  await step("schema drift: values kept by name", async () => {
    const drift = catalogNodes.find((d) => d.alias.endsWith("/text-to-video"));
    await removeAllNodes();
    const placed = await addNodeWithValues(drift.name);
    const saved = await page.evaluate(() => JSON.parse(JSON.stringify(window.app.graph.serialize())));
    const olderFrontend = JSON.parse(JSON.stringify(saved));    // a frontend that saves no names itself
    for (const n of olderFrontend.nodes) delete n.widgets_values_named;
    const legacy = JSON.parse(JSON.stringify(olderFrontend));   // as older versions of the pack saved it
    for (const n of legacy.nodes) {
      if (n.properties) { delete n.properties.runcomfy_widgets; delete n.properties.runcomfy_model_id; }
    }
    const oldOrder = await widgetNamesOf(drift.name);
    const newKey = "style_strength";
    await simCatalog({ action: "insert_property", model_id: drift.alias, key: newKey, index: 2,
                       property: { title: "Style Strength", type: "integer", minimum: 0, maximum: 10, default: 4,
                                   description: "How strongly to apply the style (added later)." } });
    await pressRefresh();
    const newOrder = await waitFor(`${drift.name} with '${newKey}'`, async () => {
      const names = await widgetNamesOf(drift.name);
      return names?.includes(newKey) ? names : null;
    }, 20000).catch(() => null);                                 // then the loads below say what is wrong
    const previous = await page.evaluate(async () => (await (await fetch("/api/runcomfy/catalog/previous")).json()).previous);
    const moved = Object.keys(placed.values).filter((k) => oldOrder.indexOf(k) !== (newOrder || oldOrder).indexOf(k));
    const compare = (got) => {
      const wrong = Object.entries(placed.values).filter(([k, v]) => JSON.stringify(got.values?.[k]) !== JSON.stringify(v))
        .map(([k, v]) => `${k}: saved ${JSON.stringify(v)}, shown ${JSON.stringify(got.values?.[k])}`);
      return { wrong, new_widget: got.values?.[newKey] };
    };
    for (const [label, wf] of [["as saved now", saved],
                               ["saved with the pack's names only (no widgets_values_named)", olderFrontend],
                               ["legacy (values by position only)", legacy]]) {
      const got = await loadAndRead(wf, drift.name, `drift ${label}`);
      const { wrong, new_widget } = compare(got);
      record(`schema drift, a workflow ${label}: every value on the widget of its name, the new one at its default`,
             got.found && got.real && moved.length > 0 && !wrong.length && new_widget === 4 && !got.dropped.length,
             { node: drift.name, new_widget_in_page: !!newOrder, values: Object.keys(placed.values).length,
               moved_by_the_insert: moved.length,
               wrong, [newKey]: new_widget, dropped: got.dropped,
               ...(label.startsWith("legacy") ? { previous_names: previous?.[drift.name]?.length ?? null } : {}) });
    }
    await shot("3-schema-drift");
  });

  // 4. a model removed from the service: its node stays, opens, and does not run
  await step("a removed model", async () => {
    const gone = catalogNodes.find((d) => d.alias.endsWith("/text-to-image") && d.name !== sample?.name) || sample;
    await removeAllNodes();
    const goneWorkflow = await page.evaluate((t) => {
      const n = window.LiteGraph.createNode(t);
      n.pos = [500, 120];
      window.app.graph.add(n);
      n.widgets.find((w) => w.name === "prompt").value = "a lighthouse at dusk";
      const preview = window.LiteGraph.createNode("PreviewImage");
      preview.pos = [1000, 120];
      window.app.graph.add(preview);
      n.connect(n.outputs.findIndex((o) => o.type === "IMAGE"), preview, 0);
      return JSON.parse(JSON.stringify(window.app.graph.serialize()));
    }, gone.name);
    await simCatalog({ action: "remove", model_id: gone.alias });
    const afterRemove = await pressRefresh();
    const category = await waitFor(`${gone.name} under RunComfy/Unavailable`, () => page.evaluate((t) => {
      const c = window.LiteGraph.registered_node_types[t]?.nodeData?.category;
      return c === "RunComfy/Unavailable" ? c : null;
    }, gone.name), 20000).catch(() => null);
    const serverCategory = await page.evaluate(async (t) => (await (await fetch(`/api/object_info/${t}`)).json())[t]?.category,
                                               gone.name);
    const openedGone = await loadAndRead(goneWorkflow, gone.name, "removed model");
    await page.waitForTimeout(500);
    const missingGone = await missingNodesShown(gone.name);
    await shot("4-removed-model");
    record("a removed model keeps its node (RunComfy/Unavailable) and its workflow opens without missing nodes",
           category === "RunComfy/Unavailable" && serverCategory === "RunComfy/Unavailable" && afterRemove.removed >= 1
             && openedGone.found && openedGone.real && !missingGone,
           { node: gone.name, page_category: category, server_category: serverCategory,
             catalog: { models: afterRemove.models, removed: afterRemove.removed }, real_node: openedGone.real,
             missing_nodes_shown: missingGone });
    const jobsBefore = await jobsCount();
    const historyBefore = new Set(Object.keys(await historyNow()));
    await page.evaluate(() => window.app.queuePrompt(0, 1));
    const outcome = await waitFor("the removed model's prompt to finish", async () => {
      const h = await historyNow();
      const mine = Object.entries(h).find(([k, x]) => !historyBefore.has(k) && (x.status?.completed || x.status?.status_str === "error"));
      if (!mine) return null;
      const err = (mine[1].status.messages || []).find(([kind]) => kind === "execution_error")?.[1] || {};
      return { status: mine[1].status.status_str, node_type: err.node_type, message: err.exception_message };
    }, 60000);
    const jobsAfter = await jobsCount();
    await shot("4-removed-model-queued");
    await page.keyboard.press("Escape");
    record("queueing a removed model fails with a clear error and submits no job",
           outcome.status === "error" && outcome.node_type === gone.name
             && /no longer offers/.test(outcome.message || "") && jobsAfter === jobsBefore,
           { ...outcome, jobs_before: jobsBefore, jobs_after: jobsAfter });
  });

  // 5. a shared workflow whose model this machine's catalog does not have yet
  await step("a shared workflow", async () => {
    const sharedId = "webcheck/shared-1/text-to-image";
    const sharedType = nodeIdFor(sharedId);
    await simCatalog({ action: "add", model: madeUpModel(sharedId, "Webcheck Shared One") });   // no refresh
    const knownBefore = await registered(sharedType);
    // the seed's control widget: ComfyUI names it "fixed" (the input's control_after_generate),
    // the pack saves it as "seed:control_after_generate"
    const sharedValues = { prompt: "a colleague's prompt", steps: 33, style: "anime", strength: 0.8,
                           seed: 4242, fixed: "increment" };
    const names = ["prompt", "steps", "style", "strength", "seed", "seed:control_after_generate"];
    const shared = {                      // as a colleague's ComfyUI with this pack saved it
      last_node_id: 7, last_link_id: 0, links: [], groups: [], config: {}, extra: {}, version: 0.4,
      nodes: [{ id: 7, type: sharedType, pos: [400, 150], size: [400, 300], flags: {}, order: 0, mode: 0,
                inputs: [], outputs: [{ name: "IMAGE", type: "IMAGE", links: null }],
                properties: { "Node name for S&R": sharedType, runcomfy_widgets: names, runcomfy_model_id: sharedId },
                widgets_values: Object.values(sharedValues), widgets_values_named: sharedValues }],
    };
    await removeAllNodes();
    const openedShared = await loadAndRead(shared, sharedType, "shared workflow");
    await page.waitForTimeout(500);
    const missingShared = await missingNodesShown(sharedType);
    const wrongShared = Object.entries(sharedValues).filter(([k, v]) => openedShared.values?.[k] !== v)
      .map(([k, v]) => `${k}: saved ${JSON.stringify(v)}, shown ${JSON.stringify(openedShared.values?.[k])}`);
    await shot("5-shared-workflow");
    record("a shared workflow with a model this catalog lacks opens as a real node with its values",
           !knownBefore && openedShared.found && openedShared.real && !missingShared && !wrongShared.length,
           { node: sharedType, known_before: knownBefore, real_node: openedShared.real, wrong: wrongShared,
             missing_nodes_shown: missingShared, types: openedShared.types });

    // the missing-nodes detector of checks 4 and 5 does see a model nobody offers (and the pack
    // says it could not fetch it)
    const nobodyId = "webcheck/nobody-offers/text-to-image";
    const nobody = JSON.parse(JSON.stringify(shared));
    Object.assign(nobody.nodes[0], { type: nodeIdFor(nobodyId) });
    Object.assign(nobody.nodes[0].properties, { runcomfy_model_id: nobodyId, "Node name for S&R": nodeIdFor(nobodyId) });
    await loadAndRead(nobody, nodeIdFor(nobodyId), "nobody offers it");
    await page.waitForTimeout(500);
    const missingNobody = await missingNodesShown(nodeIdFor(nobodyId));
    const toasts = await page.evaluate(() => [...document.querySelectorAll(".p-toast-message")]
      .map((e) => e.innerText.replace(/\s+/g, " ")).filter((t) => t.includes("not available here")));
    await shot("5b-nobody-offers");
    record("control: a workflow whose model nobody offers shows as missing, and the pack says so",
           missingNobody?.said && missingNobody.placeholder && toasts.length,
           { missing_nodes_shown: missingNobody, toast: toasts[0] || null });
    await page.keyboard.press("Escape");
  });

  const stillSame = await page.evaluate(() => window.__runcomfyCheckMark);
  if (stillSame !== mark) record("the page was never reloaded", false, { mark: stillSame });
} catch (e) {
  record("the check ran to the end", false, String(e).slice(0, 500));
  await shot("failure");
} finally {
  record("no page errors", errors.length === 0, errors);
  await finish();
}
