// Small helpers every part of the RunComfy web extension uses: the pack's routes as JSON, a DOM
// element, a node badge.
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
