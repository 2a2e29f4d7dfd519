// RunComfy's whole catalog in the node library, kept current without a restart, and saved
// workflows that survive schema changes and open on any machine.
//  - The server says "runcomfy.catalog" after a refresh changed the catalog: the page reloads
//    its node definitions (new models appear in the library, changed ones take their new widgets).
//  - The RunComfy tab shows the catalog (models, when fetched) and a "Refresh models" button.
//  - A RunComfy node restores its widget values BY NAME when a workflow is loaded (whatever
//    ComfyUI's own setting says), so a field added, removed or moved in the model's schema
//    never shifts the others; values that could not be kept are named on the node.  Workflows
//    saved before names were kept are read with the widget names the model had before its
//    schema last changed (/runcomfy/catalog/previous).
//  - Each RunComfy node saves its model id; opening a workflow whose model this machine's
//    catalog lacks (a colleague's newer catalog) fetches that model first, so it opens.
import { api } from "../../scripts/api.js";
import { el, getJSON, makeBadge, postJSON } from "./runcomfy_common.js";

const PREFIX = "RunComfy_";
const POLL_MS = 1000;
let previous = {};                            // node type → widget names before its last change

function toast(app, severity, detail) {
  const t = app.extensionManager?.toast;
  if (typeof t?.add === "function") t.add({ severity, summary: "RunComfy", detail, life: 6000 });
}

async function reloadNodeDefinitions(app) {
  try {
    previous = (await getJSON("/runcomfy/catalog/previous")).previous || {};
  } catch { /* keep what we had */ }
  const command = app.extensionManager?.command;
  if (typeof command?.execute === "function") {
    try { await command.execute("Comfy.RefreshNodeDefinitions"); return; } catch { /* below */ }
  }
  await app.reloadNodeDefs?.();
}

export async function setupCatalog(app) {
  try { previous = (await getJSON("/runcomfy/catalog/previous")).previous || {}; } catch { previous = {}; }
  api.addEventListener("runcomfy.catalog", async (event) => {
    const d = event.detail || {};
    await reloadNodeDefinitions(app);
    if (d.new || d.removed || d.changed) {
      toast(app, "info", `RunComfy catalog: ${d.models} models (${d.new} new, ${d.removed} removed, `
        + `${d.changed} changed). The node library is up to date.`);
    }
  });
}

// -- the RunComfy tab's catalog line --------------------------------------------------------------
function ago(t) {
  if (!t) return "never";
  const s = Date.now() / 1000 - t;
  return s < 90 ? "just now" : s < 5400 ? `${Math.round(s / 60)} min ago` : s < 129600
    ? `${Math.round(s / 3600)} h ago` : `${Math.round(s / 86400)} d ago`;
}

export function catalogSection() {
  const box = el("div", { className: "runcomfy-catalog" },
                 "padding:6px 4px;display:flex;gap:8px;align-items:center;justify-content:space-between");
  const line = el("span", { textContent: "Catalog: …" }, "font-size:0.9em");
  const button = el("button", { type: "button", textContent: "Refresh models",
                                className: "p-button p-component p-button-sm p-button-secondary" });
  const show = (s) => {
    const when = `fetched ${ago(s.fetched_at)}`;
    line.textContent = s.refreshing ? "Catalog: refreshing…"
      : `Catalog: ${s.models} models, ${when}${s.removed ? ` (${s.removed} no longer offered)` : ""}`
        + (s.error ? ` · last refresh failed: ${s.error}` : "") + (s.token ? "" : " · set a token to fetch it");
    line.title = s.error || "";
    button.disabled = !!s.refreshing;
  };
  const poll = async () => {
    for (let i = 0; i < 600; i++) {
      const s = await getJSON("/runcomfy/catalog");
      show(s);
      if (!s.refreshing) return;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  };
  button.addEventListener("click", async () => {
    try { show(await postJSON("/runcomfy/catalog/refresh", {})); await poll(); }
    catch (e) { line.textContent = `Catalog: ${e.message}`; }
  });
  getJSON("/runcomfy/catalog").then(show, (e) => { line.textContent = `Catalog: ${e.message}`; });
  box.append(line, button);
  return box;
}

// -- saved by name, restored by name ------------------------------------------------------------
function modelIdOf(nodeData) {
  return nodeData?.search_aliases?.[0] || null;
}

// The name a widget's value is saved and restored under: its own, except a seed's "control after
// generate" widget, keyed by the widget it controls ("seed:control_after_generate", as the
// server names it in /runcomfy/catalog/previous).  ComfyUI's frontend names that widget after
// the input's control_after_generate string, i.e. after its default mode ("fixed"), so its own
// name says nothing about which widget it belongs to.
function widgetKey(node, widget) {
  const owner = (node.widgets || []).find((o) => o !== widget && o.linkedWidgets?.includes(widget));
  return owner ? `${owner.name}:control_after_generate` : widget.name;
}

// The key of `named` that holds this widget's value (null: the workflow did not have it).
function savedKey(node, widget, named) {
  const key = widgetKey(node, widget);
  if (key in named) return key;
  if (widget.name in named) return widget.name;           // ComfyUI's own widgets_values_named
  return key !== widget.name && "control_after_generate" in named ? "control_after_generate" : null;
}

function namedValues(node, info) {
  if (info.widgets_values_named && Object.keys(info.widgets_values_named).length) {
    return info.widgets_values_named;
  }
  const values = info.widgets_values;
  if (!Array.isArray(values)) return null;
  const saved = info.properties?.runcomfy_widgets;
  const before = previous[node.type];
  const names = Array.isArray(saved) ? saved
    : before && values.length === before.length && values.length !== (node.widgets?.length || 0) ? before
      : null;
  if (!names) return null;
  return Object.fromEntries(names.map((n, i) => [n, values[i]]).filter(([, v]) => v !== undefined));
}

function restoreByName(node, info, defaults) {
  const named = namedValues(node, info);
  if (!named) return;
  const dropped = [];
  const used = new Set();
  for (const [i, w] of (node.widgets || []).entries()) {
    const key = savedKey(node, w, named);
    if (key === null) {                       // a widget the schema did not have then: default
      if (defaults && i < defaults.length) w.value = defaults[i];
      continue;
    }
    used.add(key);
    const v = named[key];
    const choices = w.options?.values;
    if (Array.isArray(choices) && !choices.includes(v)) {
      dropped.push(`${w.name} '${v}' (no longer a choice)`);
      continue;
    }
    w.value = v;
  }
  for (const name of Object.keys(named)) {
    if (!used.has(name)) dropped.push(`${name} (no longer in the model)`);
  }
  showDropped(node, dropped);
  if (dropped.length) toast(window.app, "warn", `${node.title}: values not kept: ${dropped.join(", ")}.`);
}

// The "values not kept" badge is on the node only while there are such values: the canvas
// draws every entry of node.badges (a getter must return a badge, never null: drawBadges
// measures each one), so it is added and taken away rather than left returning nothing.
function showDropped(node, dropped) {
  node.runcomfyDropped = dropped;
  node.badges = node.badges || [];
  const at = node.badges.indexOf(node.runcomfyDroppedBadge);
  if (at >= 0) node.badges.splice(at, 1);
  node.runcomfyDroppedBadge = dropped.length
    ? () => makeBadge(`⚠ ${dropped.length} value(s) not kept`, "#5d4037") : null;
  if (node.runcomfyDroppedBadge) node.badges.push(node.runcomfyDroppedBadge);
  node.setDirtyCanvas?.(true, true);
}

export function patchNodeType(nodeType, nodeData) {
  if (!nodeData?.name?.startsWith(PREFIX)) return;
  const modelId = modelIdOf(nodeData);
  const created = nodeType.prototype.onNodeCreated;
  nodeType.prototype.onNodeCreated = function (...args) {
    const out = created?.apply(this, args);
    this.runcomfyDefaults = (this.widgets || []).map((w) => w.value);
    return out;
  };
  const configure = nodeType.prototype.onConfigure;
  nodeType.prototype.onConfigure = function (info, ...rest) {
    const out = configure?.apply(this, [info, ...rest]);
    restoreByName(this, info || {}, this.runcomfyDefaults);
    return out;
  };
  const serialize = nodeType.prototype.onSerialize;
  nodeType.prototype.onSerialize = function (o, ...rest) {
    const out = serialize?.apply(this, [o, ...rest]);
    o.properties = { ...(o.properties || {}),
                     runcomfy_widgets: (this.widgets || []).map((w) => widgetKey(this, w)) };
    if (modelId) o.properties.runcomfy_model_id = modelId;
    return out;
  };
}

// -- a workflow from a machine with a newer catalog ---------------------------------------------
export async function resolveMissing(app, graphData) {
  const known = window.LiteGraph?.registered_node_types || {};
  const wanted = new Set();
  const walk = (nodes) => {
    for (const n of nodes || []) {
      if (n?.type?.startsWith(PREFIX) && !known[n.type] && n.properties?.runcomfy_model_id) {
        wanted.add(n.properties.runcomfy_model_id);
      }
    }
  };
  walk(graphData?.nodes);
  for (const sg of graphData?.definitions?.subgraphs || []) walk(sg.nodes);
  if (!wanted.size) return;
  try {
    const r = await postJSON("/runcomfy/catalog/resolve", { model_ids: [...wanted].slice(0, 50) });
    if (r.found?.length) await reloadNodeDefinitions(app);
    if (r.missing?.length) {
      toast(app, "warn", `RunComfy models not available here (offline, or not in RunComfy's catalog): `
        + r.missing.join(", "));
    }
  } catch (e) {
    toast(app, "warn", `RunComfy could not fetch the models of this workflow (${e.message}): `
      + [...wanted].join(", "));
  }
}
