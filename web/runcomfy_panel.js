// RunComfy money you can see: price badges, the daily limit setting, the jobs sidebar tab.
// Everything here talks to the pack's routes under /api/runcomfy/ (same-origin only); none
// of them ever returns the API token.
import { api } from "../../scripts/api.js";
import { catalogSection } from "./runcomfy_catalog.js";
import { el, getJSON, makeBadge, postJSON } from "./runcomfy_common.js";

const NO_ESTIMATE = new Set(["RunComfy_LoadResult", "RunComfy_Model"]);
const REFRESH_MS = 2000;

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
    const link = input.link != null ? (graph?.links?.get?.(input.link) ?? graph?.links?.[input.link]) : null;
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
      const widgets = {};
      for (const w of node.widgets || []) widgets[w.name] = w.value;
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

// -- jobs sidebar tab ---------------------------------------------------------------------------
function age(seconds) {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 129600) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

function loadIntoWorkflow(app, requestId) {
  const node = window.LiteGraph.createNode("RunComfy_LoadResult");
  if (!node) throw new Error("RunComfy Load Result is not available");
  const widget = node.widgets?.find((w) => w.name === "request_id");
  if (widget) widget.value = requestId;
  const canvas = app.canvas;
  const [x, y] = canvas?.ds ? [-canvas.ds.offset[0] + 420, -canvas.ds.offset[1] + 80] : [420, 100];  // right of the tab
  node.pos = [x, y];
  app.graph.add(node);
  app.graph.setDirtyCanvas?.(true, true);
  return node;
}

function jobRow(app, job, refresh, shared) {
  const row = el("div", { className: "runcomfy-job" },
    "border-bottom:1px solid var(--border-color,#444);padding:6px 4px;display:flex;flex-direction:column;gap:3px");
  const head = el("div", {}, "display:flex;justify-content:space-between;gap:6px");
  head.append(el("span", { textContent: job.model_id, title: job.model_id },
                 "font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap"),
              el("span", { className: "runcomfy-status", textContent: job.status }, "opacity:0.85"));
  const who = shared && job.member ? ` · ${job.member}${job.here ? "" : " on " + job.machine}` : "";
  const info = el("div", { textContent: `${age(job.age_s)} ago · ${job.billed}${job.request_id ? " · " + job.request_id.slice(0, 8) : ""}${who}` },
                  "font-size:0.85em;opacity:0.8");
  const actions = el("div", {}, "display:flex;gap:4px;flex-wrap:wrap");
  const button = (label, fn) => {
    const b = el("button", { type: "button", textContent: label, className: "p-button p-component p-button-sm p-button-text" },
                 "padding:1px 6px;font-size:0.85em");
    b.addEventListener("click", async () => {
      try { await fn(); } catch (e) { alert(e.message); }
      refresh();
    });
    actions.append(b);
  };
  if (job.can_cancel) button("Cancel", () => postJSON("/runcomfy/jobs/cancel", { request_id: job.request_id }));
  if (job.request_id) button("Copy id", () => navigator.clipboard.writeText(job.request_id));
  if (job.can_load) button("Load into workflow", () => loadIntoWorkflow(app, job.request_id));
  for (const f of job.files || []) {
    if (!f.url) continue;
    const a = el("a", { href: api.apiURL ? api.apiURL(f.url) : f.url, target: "_blank", textContent: "Open " + f.filename.split(".").pop() },
                 "font-size:0.85em;align-self:center");
    actions.append(a);
  }
  row.append(head, info);
  if (job.error) row.append(el("div", { textContent: job.error }, "font-size:0.8em;opacity:0.7"));
  row.append(actions);
  return row;
}

// Today's spend: this machine's, or with a team journal the team's and this member's, each
// beside the limit that applies to it.
function todayLine(t) {
  const usd = (v) => `$${v.toFixed(2)}`;
  const running = t.running ? ` · ${usd(t.running)} still running` : "";
  if (!t.shared) {
    return `Today: ${usd(t.spent)} (${t.limit == null ? "no limit" : "limit " + usd(t.limit)})${running}`;
  }
  const team = t.team_limit == null ? "no team limit" : `team limit ${usd(t.team_limit)}`;
  const mine = t.member_limit == null ? "" : ` of ${usd(t.member_limit)}`;
  return `Team today: ${usd(t.spent)} (${team}) · ${t.member}: ${usd(t.member_spent)}${mine}${running}`;
}

function renderJobs(app, root) {
  root.innerHTML = "";
  const top = el("div", { className: "runcomfy-today" }, "padding:6px 4px;font-weight:600");
  const list = el("div", { className: "runcomfy-jobs" });
  root.append(el("h3", { textContent: "RunComfy jobs" }, "margin:6px 4px"), catalogSection(), top, list);
  let stopped = false;
  const refresh = async () => {
    try {
      const data = await getJSON("/runcomfy/jobs?limit=50");
      top.textContent = todayLine(data.today);
      list.replaceChildren(...data.jobs.map((j) => jobRow(app, j, refresh, data.today.shared)));
      if (!data.jobs.length) list.append(el("div", { textContent: "No jobs yet." }, "opacity:0.7;padding:6px 4px"));
    } catch (e) {
      top.textContent = `Could not load the jobs: ${e.message}`;
    }
  };
  const loop = async () => {                 // render() may run before the tab is attached:
    if (stopped) return;                     // refresh whenever it is on the page
    if (root.isConnected || !started) await refresh();
    started = true;
    setTimeout(loop, REFRESH_MS);
  };
  let started = false;
  loop();
  return () => { stopped = true; };
}

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
