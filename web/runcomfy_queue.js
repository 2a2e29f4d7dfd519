// The price of the whole Queue, before it is spent.
//  - What a Queue would cost (every RunComfy model node that will run × its list items × the
//    batch count, minus jobs the journal already has) is asked of POST /runcomfy/estimate_queue;
//    the server knows the prices, the journal and the threshold (RUNCOMFY_CONFIRM_ABOVE_USD).
//  - app.queuePrompt is wrapped: the Run button, Ctrl+Enter, the "Queue Prompt" commands, the
//    legacy menu and auto-queue all end there (the frontend's commands call the app's method by
//    name), in either node renderer. At or above the threshold a dialog asks first (Cancel
//    queues nothing); below it a toast says the total as the prompt is queued.
//  - The same total is shown without queueing: a badge beside the Run button and a line at the
//    top of the RunComfy tab, recomputed every 1.5 s when the graph, a widget or the batch
//    count changed (and every 20 s anyway: a job that finished makes its node free).
import { el, linkOf, postJSON, toast, usd } from "./runcomfy_common.js";

const ROUTE = "/runcomfy/estimate_queue";
const NO_JOB = new Set(["RunComfy_LoadResult"]);          // loads a result, never submits
const MEDIA = new Set(["IMAGE", "VIDEO", "AUDIO", "MASK"]);
const MUTED = 2, BYPASSED = 4;                             // LiteGraph's node modes that do not run
const LIST_BUILDERS = new Set(["CreateList"]);             // their list: one item per connected input
const WATCH_MS = 1500, RECHECK_MS = 20000;

// -- the nodes of a Queue ------------------------------------------------------------------------
// How many items a link carries into a node (1: a single value; null: a list whose length is
// known only when it runs). ComfyUI runs a node once per item of its longest list input, and a
// node that is not list-aware, fed a list, outputs a list as long. A list's length is known here
// when it comes from Create List (the sum of what its connected inputs carry) or from a RunComfy
// node (one result per item it runs); any other list (a folder of images…) is unknown.
function carried(graph, link, memo) {
  const origin = link ? graph.getNodeById?.(link.origin_id) : null;
  if (!origin) return 1;                    // a subgraph's own input: counted as one value
  const isList = origin.constructor?.nodeData?.output_is_list?.[link.origin_slot];
  if (!isList) return itemsOf(origin, memo);
  const type = origin.comfyClass || origin.type;
  if (LIST_BUILDERS.has(type)) return sumInputs(origin, memo);
  if (type?.startsWith("RunComfy_")) return itemsOf(origin, memo);
  return null;
}

function sumInputs(node, memo) {
  let total = 0;
  for (const input of node.inputs || []) {
    const link = linkOf(node.graph, input.link);
    if (!link) continue;
    const n = carried(node.graph, link, memo);
    if (n === null) return null;
    total += n;
  }
  return total;
}

// How many times a node runs per Queue entry: the longest list it is fed (null: unknown).
function itemsOf(node, memo = new Map()) {
  if (memo.has(node)) return memo.get(node);
  memo.set(node, 1);                        // a cycle (never valid) counts once
  const type = node.comfyClass || node.type;
  let items = 1;
  const listAware = node.constructor?.nodeData?.is_input_list && !type?.startsWith("RunComfy_");
  if (!listAware) {
    for (const input of node.inputs || []) {
      const link = linkOf(node.graph, input.link);
      if (!link) continue;
      const n = carried(node.graph, link, memo);
      if (n === null) { items = null; break; }
      items = Math.max(items, n);
    }
  }
  memo.set(node, items);
  return items;
}

// A node runs only when an output node needs it (ComfyUI executes what the outputs ask for):
// it is an output node, or one of its outputs feeds a node that runs. Inside a subgraph, an
// output that leaves the subgraph runs when the subgraph node does. `only` (a partial run's
// output node ids) limits which outputs count.
function runsFor(only) {
  const memo = new Map();
  const runs = (node, outer) => {
    if (memo.has(node)) return memo.get(node);
    memo.set(node, false);
    // a bypassed node passes its inputs on: it is needed when what it feeds is
    let yes = !!node.constructor?.nodeData?.output_node && node.mode !== BYPASSED
      && (!only || only.has(String(node.id)));
    for (const output of yes ? [] : node.outputs || []) {
      for (const id of output.links || []) {
        const link = linkOf(node.graph, id);
        const target = link ? node.graph.getNodeById?.(link.target_id) : null;
        if (target ? target.mode !== MUTED && runs(target, outer) : outer) {
          yes = true;
          break;
        }
      }
      if (yes) break;
    }
    // a subgraph holding an output node runs (inside it, what leaves the subgraph is then
    // counted as running: see queueNodes)
    if (!yes && node.subgraph) yes = inner(node.subgraph, false).some(([, , r]) => r);
    memo.set(node, yes);
    return yes;
  };
  // every node of a graph: [node, id as the prompt names it, whether it runs]
  const inner = (graph, outer, prefix = "") => (graph?._nodes || graph?.nodes || [])
    .filter((n) => n.mode !== MUTED && n.mode !== BYPASSED)
    .map((n) => [n, `${prefix}${n.id}`, runs(n, outer)]);
  return inner;
}

export function widgetsOf(node) {
  // a seed's "control after generate" combo is not a model field (and its name may be one:
  // the frontend names it after its default mode, "fixed")
  const controls = new Set((node.widgets || []).flatMap((w) => w.linkedWidgets || []));
  const widgets = {};
  for (const w of node.widgets || []) {
    if (!controls.has(w) && w.name && w.type !== "button") widgets[w.name] = w.value;
  }
  return widgets;
}

// The same values in every run of a batch: no seed whose control changes it after each run.
function fixedOf(node) {
  return !(node.widgets || []).some((w) => (w.linkedWidgets || []).some((c) => {
    const modes = Array.isArray(c.options?.values) ? c.options.values : [];
    return modes.includes("randomize") && c.value !== "fixed";
  }));
}

// The RunComfy nodes a Queue would run, as the route wants them. `only`: the output node ids of
// a partial run (the frontend's "Queue selected output nodes"), else every output.
export function queueNodes(app, only = null) {
  const graph = app.rootGraph || app.graph;
  const nodes = [];
  const walk = (g, prefix, outer, lister) => {
    for (const [node, id, runs] of lister(g, outer, prefix)) {
      if (!runs) continue;
      if (node.subgraph) { walk(node.subgraph, `${id}:`, true, runsFor(null)); continue; }
      const type = node.comfyClass || node.type;
      if (!type?.startsWith("RunComfy_") || NO_JOB.has(type)) continue;
      nodes.push({
        node: id, type, title: node.title || type, widgets: widgetsOf(node), items: itemsOf(node),
        linked: (node.inputs || []).some((i) => i.link != null && MEDIA.has(String(i.type).toUpperCase())),
        fixed: fixedOf(node),
      });
    }
  };
  walk(graph, "", false, runsFor(only ? new Set(only.map(String)) : null));
  return nodes;
}

export function estimateQueue(app, batch, only = null) {
  const nodes = queueNodes(app, only);
  if (!nodes.length) return Promise.resolve(null);
  return postJSON(ROUTE, { batch: Math.max(1, Number(batch) || 1), nodes });
}

// -- words ----------------------------------------------------------------------------------------
// Ask when the total reaches the threshold (null: never). Threshold 0 means "every paid Queue":
// a total above $0, or one with a part of unknown price (never taken for $0); a Queue that
// costs nothing (every job already in the journal) is not asked about.
export function shouldAsk(est) {
  const t = est?.confirm_above;
  if (t === null || t === undefined) return false;
  return t === 0 ? est.total > 0 || !est.complete : est.total >= t;
}

export function totalText(est) {
  const unknown = est.complete ? "" : ` + unknown: ${est.unknown.join(", ")}`;
  return `≈ ${usd(est.total)}${unknown}`;
}

function partText(p) {
  if (p.reused) return "$0.00 (already in the journal)";
  if (p.usd === null) return p.runs === null ? `${p.text} each × a list of unknown length` : `price unknown`;
  return p.runs > 1 ? `${usd(p.usd)} (${p.text} × ${p.runs})` : usd(p.usd);
}

// Today's spend and the daily limit (a team journal: the team's), and where this Queue leaves it.
function todayText(t, est = null) {
  if (!t) return "";
  const limit = t.shared ? t.team_limit : t.limit;
  const who = t.shared ? "Team today" : "Today";
  const after = est ? ` · after this Queue ≈ ${usd(t.spent + est.total)}` : "";
  return `${who}: ${usd(t.spent)} spent${limit == null ? ", no daily limit" : ` of the ${usd(limit)} daily limit`}${after}`;
}

// -- the dialog ------------------------------------------------------------------------------------
let asking = null;                          // the open dialog's promise

function askDialog(est) {
  if (asking) return asking.then(() => false);        // a second Run while asked: queues nothing
  asking = new Promise((resolve) => {
    const overlay = el("div", { className: "runcomfy-queue-overlay" });
    const box = el("div", { className: "runcomfy-queue-dialog" });
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-modal", "true");
    const title = el("h3", { className: "runcomfy-queue-title", textContent: `Queue RunComfy jobs for ${totalText(est)}?` });
    box.setAttribute("aria-label", title.textContent);
    const list = el("table", { className: "runcomfy-queue-parts" });
    const titles = est.nodes.map((p) => p.title);
    for (const p of est.nodes) {
      const tr = el("tr");
      const twice = titles.indexOf(p.title) !== titles.lastIndexOf(p.title);   // then which node: its id
      tr.append(el("td", { textContent: twice ? `${p.title} (#${p.node})` : p.title, title: p.model_id }),
                el("td", { textContent: partText(p) }));
      list.append(tr);
    }
    const batch = est.batch > 1 ? ` (batch of ${est.batch})` : "";
    const lines = [
      el("div", { className: "runcomfy-queue-sum", textContent: `Total${batch}: ${totalText(est)}` }),
      el("div", { className: "runcomfy-queue-today", textContent: todayText(est.today, est) }),
      el("div", { className: "runcomfy-queue-why",
                  textContent: est.confirm_problem
                    || (est.confirm_above === 0 ? "Asked before every paid Queue (Settings → RunComfy)."
                      : `Asked because the Queue costs ${usd(est.confirm_above)} or more (Settings → RunComfy).`) }),
    ];
    const buttons = el("div", { className: "runcomfy-queue-buttons" });
    const cancel = el("button", { type: "button", textContent: "Cancel", className: "runcomfy-queue-cancel runcomfy-button" });
    const ok = el("button", { type: "button", textContent: "Queue", className: "runcomfy-queue-ok runcomfy-button primary" });
    buttons.append(cancel, ok);
    box.append(title, list, ...lines, buttons);
    overlay.append(box);
    const close = (answer) => {
      overlay.remove();
      document.removeEventListener("keydown", keys, true);
      asking = null;
      resolve(answer);
    };
    // the canvas listens on the window: keys stay with the dialog while it is open
    // (the dialog is modal: Ctrl+Enter again queues nothing more; Tab moves between the buttons)
    const keys = (e) => {
      if (e.key === "Tab") return;
      if (e.key === "Escape") close(false);
      else if (e.key === "Enter" && !e.ctrlKey && !e.metaKey) close(document.activeElement !== cancel);
      e.preventDefault();
      e.stopPropagation();
    };
    cancel.addEventListener("click", () => close(false));
    ok.addEventListener("click", () => close(true));
    overlay.addEventListener("mousedown", (e) => { if (e.target === overlay) close(false); });
    document.addEventListener("keydown", keys, true);
    document.body.append(overlay);
    ok.focus();
  });
  return asking;
}

// -- the hook --------------------------------------------------------------------------------------
export function hookQueue(app) {
  const original = app.queuePrompt;
  if (typeof original !== "function" || original.runcomfyWrapped) return;
  // queuePrompt(number, batchCount = 1, options = {queueNodeIds, intent} | queueNodeIds[])
  const wrapped = async function (number, batchCount = 1, options = {}, ...rest) {
    const only = Array.isArray(options) ? options : options?.queueNodeIds;
    let est = null;
    try {
      est = await estimateQueue(app, batchCount, only?.length ? only : null);
    } catch (e) {                           // a price we cannot get never stops a Queue
      toast("warn", `Could not price this Queue (${e.message}); queued anyway.`);
    }
    if (est?.nodes?.length) {
      publish(est);
      if (shouldAsk(est)) {
        if (!(await askDialog(est))) return false;
      } else {
        toast("info", `This Queue: ${totalText(est)}${est.batch > 1 ? ` (batch of ${est.batch})` : ""}`, 5000);
      }
    }
    return original.call(this, number, batchCount, options, ...rest);
  };
  wrapped.runcomfyWrapped = true;
  app.queuePrompt = wrapped;
}

// -- the total without queueing ---------------------------------------------------------------------
const listeners = new Set();
let latest = null;                          // the last estimate (null: no RunComfy node)

function publish(est) {
  latest = est?.nodes?.length ? est : null;
  for (const fn of listeners) fn(latest);
}

// fn(estimate | null) now and at every change; returns the unsubscribe
export function onQueueTotal(fn) {
  listeners.add(fn);
  fn(latest);
  return () => listeners.delete(fn);
}

export function describeParts(est) {
  return est.nodes.map((p) => `${p.title}: ${partText(p)}`).join("\n");
}

// The Queue's batch count as the Run button's field shows it (the new menu's, else the legacy one's).
function batchCount() {
  const input = document.querySelector('input[aria-label="Batch Count"], #batchCountInputNumber');
  return Math.max(1, parseInt(input?.value, 10) || 1);
}

// The badge beside the Run button. The action bar is the frontend's (Vue) DOM, so the badge is
// put back whenever it was dropped; no Run button (legacy menu): the tab's line only.
function placeBadge(badge) {
  const group = document.querySelector(".queue-button-group");
  if (!group?.parentElement) { badge.remove(); return; }
  if (badge.nextElementSibling !== group) group.parentElement.insertBefore(badge, group);
}

export function watchQueueTotal(app) {
  const badge = el("span", { className: "runcomfy-queue-badge" });
  onQueueTotal((est) => {
    badge.hidden = !est;
    if (!est) return;
    badge.textContent = `Queue ≈ ${usd(est.total)}${est.complete ? "" : " + ?"}`;   // the rest in its title
    badge.title = `RunComfy: what this Queue would cost\n${describeParts(est)}\n${todayText(est.today)}`;
    badge.classList.toggle("ask", shouldAsk(est));
  });
  let lastKey = "", lastAt = 0, busy = false;
  setInterval(async () => {
    placeBadge(badge);
    if (busy || document.hidden || !(app.rootGraph || app.graph)) return;
    const batch = batchCount();
    let nodes;
    try { nodes = queueNodes(app); } catch { return; }       // a graph being loaded
    const key = JSON.stringify([batch, nodes]);
    if (key === lastKey && Date.now() - lastAt < RECHECK_MS) return;
    lastKey = key; lastAt = Date.now();
    if (!nodes.length) { publish(null); return; }
    busy = true;
    try { publish(await postJSON(ROUTE, { batch, nodes })); }
    catch { lastKey = ""; }                                    // try again at the next tick
    finally { busy = false; }
  }, WATCH_MS);
}
