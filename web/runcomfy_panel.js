// RunComfy money you can see: price badges, the pack's settings, the sidebar tab (drawn by
// runcomfy_jobs.js). Everything here talks to the pack's routes under /api/runcomfy/
// (same-origin only); none of them ever returns the API token.
import { renderJobs } from "./runcomfy_jobs.js";
import { widgetsOf } from "./runcomfy_queue.js";
import { el, getJSON, linkOf, makeBadge, postJSON } from "./runcomfy_common.js";

const NO_ESTIMATE = new Set(["RunComfy_LoadResult", "RunComfy_Model"]);

// -- price badge -------------------------------------------------------------------------------
// The classic canvas draws badges every frame. Nodes 2.0 (the Vue renderer) reads them once
// inside a computed that re-runs only on reactive changes (the frontend's own price badges
// use a revision ref only API nodes get), so the badge getter reads a counter kept on the
// workspace store (a reactive Pinia store) and each new price bumps it.
function bumpBadges() {
  const store = window.app?.extensionManager;
  if (store) store.runcomfyBadgeRevision = (store.runcomfyBadgeRevision || 0) + 1;
}

// One job runs per list item, so a node fed by a list (Create List, a folder of images…)
// costs the estimate once per item: the badge says "each" (the count is known only at run time).
function fedByList(node) {
  const graph = node.graph;
  for (const input of node.inputs || []) {
    const link = linkOf(graph, input.link);
    const origin = link ? graph.getNodeById(link.origin_id) : null;
    if (origin?.constructor?.nodeData?.output_is_list?.[link.origin_slot]) return true;
  }
  return false;
}

export function watchPrice(node) {
  const type = node.comfyClass || node.type;
  if (!type || !type.startsWith("RunComfy_") || NO_ESTIMATE.has(type)) return;
  let badge = makeBadge("…");
  node.runcomfyPrice = { text: "…", detail: "" };
  node.badges = node.badges || [];
  node.badges.push(() => {
    void window.app?.extensionManager?.runcomfyBadgeRevision;   // see bumpBadges
    return badge;
  });
  let timer = null;
  const update = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const widgets = widgetsOf(node);
      try {
        const est = await postJSON("/runcomfy/estimate", { node_type: type, widgets });
        node.runcomfyPrice = est;
        badge = makeBadge(est.text.startsWith("≈") && fedByList(node) ? `${est.text} each` : est.text);
      } catch (e) {
        node.runcomfyPrice = { text: "price ?", detail: e.message };
        badge = makeBadge("price ?");
      }
      node.setDirtyCanvas?.(true, true);
      bumpBadges();
    }, 250);
  };
  for (const w of node.widgets || []) {
    const original = w.callback;
    w.callback = function (...args) {
      const out = original?.apply(this, args);
      update();
      return out;
    };
  }
  const connections = node.onConnectionsChange;
  node.onConnectionsChange = function (...args) {   // a list linked in or out: "each" or not
    const out = connections?.apply(this, args);
    update();
    return out;
  };
  const configure = node.onConfigure;
  node.onConfigure = function (...args) {     // a loaded workflow sets the widgets after creation
    const out = configure?.apply(this, args);
    update();
    return out;
  };
  update();
}

// -- settings ------------------------------------------------------------------------------------
// Every setting the pack's table marks as shown (nodes/core/settings.py) is one row here, as
// the route /runcomfy/settings lists it: a new shown setting appears without touching this file.
function settingRow(view, refresh) {
  const row = el("div", {}, "display:flex;flex-direction:column;align-items:flex-end;gap:4px");
  const state = el("span", {}, "opacity:0.8;font-size:0.9em");
  const controls = el("div", {}, "display:flex;gap:6px;align-items:center");
  const input = el("input", { type: view.numeric ? "number" : view.secret ? "password" : "text",
                              placeholder: view.unit, autocomplete: "off",
                              className: "p-inputtext p-component", title: view.what },
                   view.numeric ? "width:8rem" : "width:16rem");
  if (view.numeric) Object.assign(input, { min: "0", step: "0.5" });
  const save = el("button", { type: "button", textContent: "Save", className: "p-button p-component p-button-sm" });
  const clear = el("button", { type: "button", textContent: view.clear_label || "Default",
                               className: "p-button p-component p-button-sm p-button-secondary" });
  const where = view.source === "environment" ? ` (from ${view.env_var}, which wins)` : "";
  // a number's unit follows it ("5 USD"); for a text ("ana", a URL, "never") the unit only
  // names what to type (the placeholder): not "ana name"
  const unit = typeof view.value === "number" && view.unit ? ` ${view.unit}` : "";
  state.textContent = view.problem
    || (view.value == null ? `${view.label}: ${view.clear_label || "default"}`
                           : `${view.label}: ${view.value}${unit}${where}`);
  const send = async (value) => {
    try { refresh(await postJSON("/runcomfy/settings", { [view.key]: value })); }
    catch (e) { state.textContent = e.message; }
  };
  save.addEventListener("click", () => {
    if (input.value !== "") send(view.numeric ? Number(input.value) : input.value.trim());
  });
  clear.addEventListener("click", () => send(null));
  controls.append(input, save, clear);
  row.append(state, controls);
  return row;
}

function renderSettingsEntry() {
  const box = el("div", {}, "display:flex;flex-direction:column;align-items:flex-end;gap:10px");
  const show = (data) => {
    box.replaceChildren(...(data.settings || []).map((view) => settingRow(view, show)));
  };
  box.textContent = "Checking…";
  getJSON("/runcomfy/settings").then(show, (e) => { box.textContent = e.message; });
  return box;
}

export function settingsEntry() {
  return {
    id: "RunComfy.DailyLimit",
    category: ["RunComfy", "Spending", "Daily limit"],
    name: "RunComfy settings",
    tooltip: "Stored in the RunComfy config file in your ComfyUI user folder. The same setting in "
      + "ComfyUI's environment (RUNCOMFY_…) wins.",
    type: renderSettingsEntry,
    defaultValue: "",
  };
}

// -- jobs sidebar tab (runcomfy_jobs.js) ------------------------------------------------------------
export function setupPanel(app) {
  const manager = app.extensionManager;
  const register = manager?.registerSidebarTab?.bind(manager) || manager?.sidebarTab?.registerSidebarTab?.bind(manager.sidebarTab);
  if (!register) return;
  let stop = null;
  register({
    id: "runcomfy-jobs",
    icon: "pi pi-dollar",
    title: "RunComfy",
    tooltip: "RunComfy jobs and today's spend",
    type: "custom",
    render: (root) => { stop?.(); stop = renderJobs(app, root); },
    destroy: () => { stop?.(); stop = null; },
  });
}
