// Small helpers every part of the RunComfy web extension uses: the pack's routes as JSON, a DOM
// element, a node badge, a dollar amount, a toast, a graph's link.
import { api } from "../../scripts/api.js";

export async function getJSON(path, options = {}) {
  const resp = await api.fetchApi(path, options);
  let data = {};
  try { data = await resp.json(); } catch { /* keep the status below */ }
  if (!resp.ok) throw new Error(data.error || `HTTP ${resp.status}`);
  return data;
}

export function postJSON(path, body) {
  return getJSON(path, { method: "POST", headers: { "Content-Type": "application/json" },
                         body: JSON.stringify(body) });
}

// A same-origin route's URL for an <img>/<video>/<a> (the page may be served under a prefix).
export function routeURL(path) {
  return api.apiURL ? api.apiURL(path) : path;
}

export function el(tag, props = {}, style = "") {
  const node = Object.assign(document.createElement(tag), props);
  if (style) node.style.cssText = style;
  return node;
}

export function makeBadge(text, bgColor = "#2e7d32") {
  const Badge = window.LGraphBadge;
  const options = { text, fgColor: "#e8f5e9", bgColor };
  return Badge ? new Badge(options) : options;
}

export function usd(value) {
  return `$${Number(value || 0).toFixed(2)}`;
}

export function toast(severity, detail, life = 6000) {
  const t = window.app?.extensionManager?.toast;
  if (typeof t?.add === "function") t.add({ severity, summary: "RunComfy", detail, life });
}

// A link by id: graphs keep them in a Map (new frontends) or a plain object (older ones).
export function linkOf(graph, id) {
  if (id == null || !graph) return null;
  return graph.links?.get?.(id) ?? graph.links?.[id] ?? null;
}
