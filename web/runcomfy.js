// RunComfy: the API token and the pack's settings (daily spend limit …) in ComfyUI's Settings,
// a price badge on every model node ("≈ $0.40", updated as its widgets change), the price of
// the whole Queue before it is spent (a badge beside Run; a dialog above a threshold) and a
// "RunComfy" sidebar tab: the journal's jobs with thumbnails and previews, the spend per day.
//   runcomfy_panel.js    the node price badge, the settings rows, the sidebar tab's registration
//   runcomfy_jobs.js     the tab: jobs list, filters, previews (runcomfy_chart.js: spend per day)
//   runcomfy_queue.js    the Queue's total, the confirmation before queueing
//   runcomfy_catalog.js  the catalog kept current, workflows restored by widget name
//   runcomfy.css         the look of all of it (the frontend's theme variables: light and dark)
//
// API token:
// The token never becomes a ComfyUI setting value: the entry is a custom-rendered
// setting (type = render function) whose value is never set, so nothing reaches
// comfy.settings.json. Its controls talk to the pack's route /api/runcomfy/token, which
// keeps the token in an owner-only file and only ever answers "set / last 4 / source".
// Fallback for frontends without custom setting types: the command
// "RunComfy: Set API token…" (Extensions → RunComfy menu and the command palette).
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { el } from "./runcomfy_common.js";

const ROUTE = "/runcomfy/token";

async function call(method, token) {
  const options = { method, headers: {} };
  if (method === "POST") {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify({ token });
  }
  const resp = await api.fetchApi(ROUTE, options);
  let data = {};
  try { data = await resp.json(); } catch { /* not JSON: keep the status below */ }
  if (!resp.ok) throw new Error(data.error || `RunComfy token route answered HTTP ${resp.status}`);
  return data;
}

function describe(s) {
  if (s.problem) return s.problem;
  if (!s.set) return "Not set";
  const tail = s.last4 ? ` (…${s.last4})` : "";
  return s.source === "environment"
    ? `Set from ${s.env_var || "the environment"}${tail}`
    : `Set${tail}`;
}

function notify(ok, text) {
  const toast = app.extensionManager?.toast;
  if (typeof toast?.success === "function") toast[ok ? "success" : "error"]("RunComfy", { description: text });
  else if (typeof toast?.add === "function") toast.add({ severity: ok ? "success" : "error", summary: "RunComfy", detail: text, life: 5000 });
  else if (!ok) alert(text);
}

async function change(method, token) {
  try {
    const s = await call(method, token);
    notify(true, `${method === "DELETE" || !token ? "Token cleared" : "Token saved"}. ${s.message || ""}`);
    return s;
  } catch (e) {
    notify(false, e.message);
    return null;
  }
}

// Custom setting renderer: (name, setter, value, attrs) => HTMLElement. The setter is
// deliberately never called, so the token never becomes a stored setting value.
function renderTokenEntry() {
  const box = el("div", {}, "display:flex;flex-direction:column;align-items:flex-end;gap:6px");
  const state = el("span", { textContent: "Checking…" }, "opacity:0.8;font-size:0.9em");
  const row = el("div", {}, "display:flex;gap:6px;align-items:center");
  const input = el("input", {
    type: "password", placeholder: "Paste a new API token", autocomplete: "off",
    spellcheck: false, className: "p-inputtext p-component",
  }, "width:14rem");
  const save = el("button", { type: "button", textContent: "Save", className: "p-button p-component p-button-sm" });
  const clear = el("button", { type: "button", textContent: "Clear", className: "p-button p-component p-button-sm p-button-secondary" });
  const show = (s) => {
    if (!s) return;
    state.textContent = describe(s);
    state.title = s.message || "";
    clear.disabled = !s.saved;
  };
  const submit = async () => {
    const token = input.value.trim();
    if (!token) return;
    input.value = "";
    show(await change("POST", token));
  };
  save.addEventListener("click", submit);
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") submit(); });
  clear.addEventListener("click", async () => show(await change("DELETE")));
  call("GET").then(show, (e) => { state.textContent = `Unknown (${e.message})`; });
  row.append(input, save, clear);
  box.append(state, row);
  return box;
}

async function promptForToken() {
  let s = null;
  try { s = await call("GET"); } catch { /* still offer to set one */ }
  const message = `Current: ${s ? describe(s) : "unknown"}. Paste a new RunComfy API token (empty clears it).`;
  const dialog = app.extensionManager?.dialog;
  const value = typeof dialog?.prompt === "function"
    ? await dialog.prompt({ title: "RunComfy API token", message, defaultValue: "" })
    : window.prompt(message, "");
  if (value === null || value === undefined) return;
  await change(value.trim() ? "POST" : "DELETE", value.trim());
}

import { settingsEntry, setupPanel, watchPrice } from "./runcomfy_panel.js";
import { patchNodeType, resolveMissing, setupCatalog } from "./runcomfy_catalog.js";
import { hookQueue, watchQueueTotal } from "./runcomfy_queue.js";

// The extension's stylesheet, once (ComfyUI imports every .js of the folder but no .css).
function addStyles() {
  const href = new URL("./runcomfy.css", import.meta.url).href;
  if (document.querySelector(`link[href="${href}"]`)) return;
  document.head.append(Object.assign(document.createElement("link"), { rel: "stylesheet", href }));
}

app.registerExtension({
  name: "RunComfy.ModelAPI",
  async setup() {
    addStyles();
    hookQueue(app);
    watchQueueTotal(app);
    setupPanel(app);
    await setupCatalog(app);
  },
  async beforeRegisterNodeDef(nodeType, nodeData) { patchNodeType(nodeType, nodeData); },
  async beforeConfigureGraph(graphData) { await resolveMissing(app, graphData); },
  nodeCreated(node) { watchPrice(node); },
  settings: [
    {
      id: "RunComfy.APIToken",
      category: ["RunComfy", "API token", "Token"],
      name: "RunComfy API token",
      tooltip: "Stored by the RunComfy pack in an owner-only file in your ComfyUI user folder, never in "
        + "workflows or ComfyUI's settings. RUNCOMFY_API_TOKEN in the environment wins over it.",
      type: renderTokenEntry,
      defaultValue: "",
    },
    settingsEntry(),
  ],
  commands: [
    { id: "RunComfy.SetApiToken", label: "RunComfy: Set API token…", icon: "pi pi-key", function: promptForToken },
  ],
  menuCommands: [{ path: ["Extensions", "RunComfy"], commands: ["RunComfy.SetApiToken"] }],
});
