// The RunComfy sidebar tab: the catalog line, what the Queue would cost, today's spend and the
// spend per day, then the whole journal as a list to look at: each job with its model's name,
// a thumbnail of its result (click: preview it here), a status chip, a progress bar while it
// runs, its cost and age, and its actions (Cancel, Copy id, Load into workflow, Open).
//  - Data: GET /runcomfy/jobs (pages of the journal, newest first, ?before=<next>&model=&status=),
//    GET /runcomfy/thumb (a picture made once by the server), the files' ComfyUI /view URLs.
//  - Every 2 s only the first page is fetched again and merged into the list by job id: rows
//    that changed are redrawn in place, new ones are put on top, the pages loaded below stay.
//    So a filter, the scroll position and an open preview (a playing video) survive a refresh.
import { catalogSection } from "./runcomfy_catalog.js";
import { spendSection } from "./runcomfy_chart.js";
import { describeParts, onQueueTotal, shouldAsk, totalText } from "./runcomfy_queue.js";
import { el, getJSON, postJSON, routeURL, toast, usd } from "./runcomfy_common.js";

const REFRESH_MS = 2000;
const PAGE_SIZE = 50;
const KIND_ICON = { video: "pi pi-video", image: "pi pi-image", audio: "pi pi-volume-up", "3d": "pi pi-box" };
// the chip's colour: done (green), failed (red), not run (grey), on its way (blue), unsure (amber)
const TONE = { completed: "ok", failed: "bad", expired: "bad", cancelled: "off", rejected: "off",
               submitting: "run", submitted: "run", queued: "run", running: "run", not_cancellable: "run",
               uncertain: "warn", uncertain_told: "warn" };
// a status as the chip says it (the journal's own word is its tooltip)
const SAID = { not_cancellable: "running", uncertain_told: "uncertain" };
const said = (status) => SAID[status] || status;

// -- small words ---------------------------------------------------------------------------------
function age(seconds) {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 129600) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} d`;
}

// Today's spend: this machine's, or with a team journal the team's and this member's, each
// beside the limit that applies to it.
export function todayLine(t) {
  const running = t.running ? ` · ${usd(t.running)} still running` : "";
  if (!t.shared) {
    return `Today: ${usd(t.spent)} (${t.limit == null ? "no limit" : "limit " + usd(t.limit)})${running}`;
  }
  const team = t.team_limit == null ? "no team limit" : `team limit ${usd(t.team_limit)}`;
  const mine = t.member_limit == null ? "" : ` of ${usd(t.member_limit)}`;
  return `Team today: ${usd(t.spent)} (${team}) · ${t.member}: ${usd(t.member_spent)}${mine}${running}`;
}

// The model's name as the tab shows it: the node's display name without the pack's prefix
// (every job here is RunComfy's).
function modelName(job) {
  return (job.display_name || job.model_id).replace(/^RunComfy /, "");
}

// A job's kind before it has a result (its thumbnail's icon): its model node's category says it
// ("RunComfy/Video/Acme"). Read from the registered node types, again when the catalog changed.
let kinds = null, kindsFrom = null;
function kindOf(job) {
  if (job.kind) return job.kind;
  const types = window.LiteGraph?.registered_node_types || {};
  if (kinds === null || kindsFrom !== Object.keys(types).length) {
    kinds = new Map();
    kindsFrom = Object.keys(types).length;
    for (const type of Object.values(types)) {
      const data = type.nodeData;
      const kind = String(data?.category || "").split("/")[1]?.toLowerCase();
      if (data?.search_aliases?.[0] && KIND_ICON[kind]) kinds.set(data.search_aliases[0], kind);
    }
  }
  return kinds.get(job.model_id) || null;
}

function progressText(p) {
  if (p.stage === "queued" && p.position != null) return `queued · position ${p.position}`;
  if (p.running_s != null) return `${p.stage} · ${Math.round(p.running_s)} s`;
  if (p.elapsed_s != null) return `${p.stage} · ${Math.round(p.elapsed_s)} s since submitted`;
  return p.stage;
}

// -- one job -------------------------------------------------------------------------------------
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

function thumbnail(job, onClick) {
  const files = (job.files || []).filter((f) => f.url);
  const button = el("button", { type: "button", className: "runcomfy-thumb",
                                title: files.length ? "Preview the result" : "No result file on this machine" });
  button.disabled = !files.length;
  const icon = () => el("i", { className: `runcomfy-thumb-icon ${KIND_ICON[kindOf(job)] || "pi pi-file"}` });
  if (job.thumb) {
    const img = el("img", { src: routeURL(job.thumb), alt: `${modelName(job)} result`, loading: "lazy",
                            decoding: "async", className: "runcomfy-thumb-img" });
    img.addEventListener("error", () => img.replaceWith(icon()));   // gone since: the kind's icon
    button.append(img);
  } else {
    button.append(icon());
  }
  if (job.kind === "video" && files.length) button.append(el("i", { className: "runcomfy-thumb-play pi pi-play" }));
  button.addEventListener("click", onClick);
  return button;
}

function details(job) {
  const rows = [["Model", job.model_id], ["Request id", job.request_id || "—"],
                ["Created", new Date(job.created_at * 1000).toLocaleString()],
                ["Estimate", job.estimate == null ? "—" : usd(job.estimate)], ["Billed", job.billed]];
  if (job.member) rows.push(["Run by", job.here ? job.member : `${job.member} on ${job.machine}`]);
  for (const f of job.files || []) rows.push(["File", [f.subfolder, f.filename].filter(Boolean).join("/")]);
  const box = el("dl", { className: "runcomfy-job-details" });
  for (const [k, v] of rows) box.append(el("dt", { textContent: k }), el("dd", { textContent: v }));
  return box;
}

function jobRow(app, job, item, ctx) {
  const row = el("div", { className: "runcomfy-job" });
  Object.assign(row.dataset, { id: job.id, status: job.status, kind: job.kind || "", modelId: job.model_id,
                               requestId: job.request_id });
  const body = el("div", { className: "runcomfy-job-body" });
  const head = el("div", { className: "runcomfy-job-head" });
  head.append(el("span", { className: "runcomfy-job-name", textContent: modelName(job), title: job.model_id }),
              el("span", { className: `runcomfy-chip runcomfy-status tone-${TONE[job.status] || "off"}`,
                           textContent: said(job.status), title: job.status }));
  body.append(head);
  if (job.progress) {
    const bar = el("div", { className: "runcomfy-progress", title: progressText(job.progress) });
    bar.append(el("div", { className: `runcomfy-progress-fill stage-${job.progress.stage}` }));
    body.append(bar, el("div", { className: "runcomfy-progress-text", textContent: progressText(job.progress) }));
  }
  const who = ctx.shared && job.member ? ` · ${job.member}${job.here ? "" : " on " + job.machine}` : "";
  item.age = el("span", { textContent: `${age(job.age_s)} ago` });
  const info = el("div", { className: "runcomfy-job-info" });
  info.append(item.age, `${" · " + job.billed}${job.request_id ? " · " + job.request_id.slice(0, 8) : ""}${who}`);
  body.append(info);
  if (job.error) body.append(el("div", { className: "runcomfy-job-error", textContent: job.error, title: job.error }));
  const actions = el("div", { className: "runcomfy-job-actions" });
  const button = (label, fn) => {
    const b = el("button", { type: "button", textContent: label, className: "runcomfy-link-button" });
    b.addEventListener("click", async () => {
      try { await fn(); } catch (e) { toast("error", e.message); }
      ctx.refresh();
    });
    actions.append(b);
  };
  if (job.can_cancel) button("Cancel", () => postJSON("/runcomfy/jobs/cancel", { request_id: job.request_id }));
  if (job.request_id) button("Copy id", () => navigator.clipboard.writeText(job.request_id));
  if (job.can_load) button("Load into workflow", () => loadIntoWorkflow(app, job.request_id));
  for (const f of job.files || []) {
    if (!f.url) continue;
    actions.append(el("a", { href: routeURL(f.url), target: "_blank", className: "runcomfy-link-button",
                             textContent: "Open " + f.filename.split(".").pop() }));
  }
  const more = el("button", { type: "button", className: "runcomfy-link-button",
                              textContent: item.detailsOpen ? "Less" : "Details" });
  more.addEventListener("click", () => { item.detailsOpen = !item.detailsOpen; item.draw(); });
  actions.append(more);
  body.append(actions);
  if (item.detailsOpen) body.append(details(job));
  row.append(thumbnail(job, () => item.togglePreview()), body);
  return row;
}

// The result, in the tab: each of the job's files on this machine (an image, a video with its
// sound, a sound; a 3D model or other file as a link).
function preview(job, close) {
  const box = el("div", { className: "runcomfy-preview" });
  const bar = el("div", { className: "runcomfy-preview-bar" });
  const x = el("button", { type: "button", className: "runcomfy-link-button", title: "Close the preview", textContent: "✕" });
  x.addEventListener("click", close);
  bar.append(el("span", { textContent: modelName(job) }), x);
  box.append(bar);
  for (const f of (job.files || []).filter((file) => file.url).slice(0, 8)) {
    const src = routeURL(f.url);
    const media = f.kind === "image" ? el("img", { src, alt: f.filename })
      : f.kind === "video" ? el("video", { src, controls: true, preload: "metadata", playsInline: true })
        : f.kind === "audio" ? el("audio", { src, controls: true, preload: "metadata" })
          : el("a", { href: src, target: "_blank", textContent: `Open ${f.filename}` });
    media.classList.add("runcomfy-preview-media");
    media.dataset.filename = f.filename;
    box.append(media);
  }
  return box;
}

// A list entry: the row (redrawn when its job changes) and its preview (kept across redraws).
function listItem(app, ctx) {
  const item = { element: el("div", { className: "runcomfy-job-item" }), job: null, key: "", row: null,
                 previewBox: null, detailsOpen: false, age: null };
  item.draw = () => {
    const row = jobRow(app, item.job, item, ctx);
    if (item.row) item.row.replaceWith(row); else item.element.prepend(row);
    item.row = row;
  };
  item.set = (job) => {
    const key = JSON.stringify({ ...job, age_s: 0 });
    item.job = job;
    item.element.dataset.id = job.id;
    if (key !== item.key) { item.key = key; item.draw(); }
    else if (item.age) item.age.textContent = `${age(job.age_s)} ago`;
  };
  item.togglePreview = () => {
    if (item.previewBox) { item.previewBox.remove(); item.previewBox = null; return; }
    item.previewBox = preview(item.job, () => item.togglePreview());
    item.element.append(item.previewBox);
  };
  return item;
}

// -- the filters ----------------------------------------------------------------------------------
function filterSelect(className, label) {
  const select = el("select", { className: `runcomfy-select ${className}`, title: label });
  select.setAttribute("aria-label", label);
  let key = "";
  // options: [[value, text]]; rebuilt only when they changed (an open <select> would close)
  select.setOptions = (options) => {
    const current = select.value;
    if (current && !options.some(([v]) => v === current)) options.push([current, current]);
    const next = JSON.stringify(options);
    if (next === key) return;
    key = next;
    select.replaceChildren(...options.map(([value, text]) => el("option", { value, textContent: text })));
    select.value = current;
  };
  return select;
}

// -- the tab ----------------------------------------------------------------------------------------
export function renderJobs(app, root) {
  root.replaceChildren();
  root.classList.add("runcomfy-tab");
  const queueLine = el("div", { className: "runcomfy-queue-total" });
  const top = el("div", { className: "runcomfy-today" });
  const spend = spendSection();
  const model = filterSelect("runcomfy-filter-model", "Show the jobs of one model");
  const status = filterSelect("runcomfy-filter-status", "Show the jobs of one status");
  const filters = el("div", { className: "runcomfy-filters" });
  filters.append(model, status);
  // data-page-size: the page length (the web check shrinks it to see the paging)
  const list = el("div", { className: "runcomfy-jobs" });
  list.dataset.pageSize = String(PAGE_SIZE);
  const empty = el("div", { className: "runcomfy-empty", textContent: "No jobs yet." });
  const more = el("button", { type: "button", className: "runcomfy-more runcomfy-button",
                              textContent: "Load more" });
  root.append(el("h3", { className: "runcomfy-title", textContent: "RunComfy jobs" }), catalogSection(),
              queueLine, top, spend.element, filters, list, empty, more);

  const items = new Map();                  // job id → list item
  // next: the id to ask the next page before (null: no more); below: a page below the first was loaded
  // filterKey: the filter the list shows ([model, status] as JSON)
  let next = null, below = false, filterKey = JSON.stringify(["", ""]), shared = false, loadingMore = false;
  const ctx = { refresh: () => refresh(), get shared() { return shared; } };
  const query = (before) => {
    const q = new URLSearchParams({ limit: list.dataset.pageSize || PAGE_SIZE });
    if (before != null) q.set("before", before);
    if (model.value) q.set("model", model.value);
    if (status.value) q.set("status", status.value);
    return `/runcomfy/jobs?${q}`;
  };
  const showMore = () => { more.hidden = next == null; more.dataset.next = String(next); empty.hidden = items.size > 0; };

  const itemFor = (job) => {
    let item = items.get(job.id);
    if (!item) { item = listItem(app, ctx); items.set(job.id, item); }
    item.set(job);
    return item;
  };

  // The first page, merged: what it covers (ids down to its last one) is replaced by it; the
  // rows of pages loaded below it stay. New rows on top keep what was in view where it was.
  const merge = (jobs, pageNext) => {
    const floor = pageNext == null ? -Infinity : jobs[jobs.length - 1].id;
    const fresh = new Set(jobs.map((j) => j.id));
    for (const [id, item] of items) {
      if (id >= floor && !fresh.has(id)) { item.element.remove(); items.delete(id); }
    }
    const scroller = scrollParent(root);
    const anchor = [...list.children].find((c) => c.offsetTop + c.offsetHeight > (scroller?.scrollTop || 0));
    const anchorTop = anchor?.offsetTop;
    jobs.forEach((job, i) => {
      const item = itemFor(job);
      if (list.children[i] !== item.element) list.insertBefore(item.element, list.children[i] || null);
    });
    if (scroller && anchor && scroller.scrollTop > 0) scroller.scrollTop += anchor.offsetTop - anchorTop;
    if (!below) next = pageNext;             // else the last page loaded says what comes next
  };

  const currentFilter = () => JSON.stringify([model.value, status.value]);
  const refresh = async () => {
    const asked = filterKey;
    try {
      const data = await getJSON(query());
      if (asked !== filterKey) return;       // the filter changed meanwhile: its own refresh follows
      shared = !!data.today.shared;
      top.textContent = todayLine(data.today);
      model.setOptions([["", "All models"], ...(data.models || []).map((m) => [m.model_id, `${modelName(m)} (${m.jobs})`])]);
      status.setOptions([["", "All statuses"], ...Object.entries(data.statuses || {}).map(([s, n]) => [s, `${s.replace("_", " ")} (${n})`])]);
      merge(data.jobs, data.next);
      showMore();
      spend.update(data.today);
    } catch (e) {
      top.textContent = `Could not load the jobs: ${e.message}`;
    }
  };

  const loadMore = async () => {
    if (loadingMore || next == null) return;
    loadingMore = true;
    const asked = filterKey;
    try {
      const data = await getJSON(query(next));
      if (asked !== filterKey) return;
      for (const job of data.jobs) {
        if (!items.has(job.id)) list.append(itemFor(job).element);
      }
      next = data.next;
      below = true;
      showMore();
    } catch (e) {
      toast("error", `Could not load more jobs: ${e.message}`);
    } finally {
      loadingMore = false;
      // still in view (a short page): observing anew reports it again, and the next page comes
      if (next != null && seen) { seen.unobserve(more); seen.observe(more); }
    }
  };
  more.addEventListener("click", loadMore);
  // scrolled to the end: the next page comes by itself
  const seen = typeof IntersectionObserver === "function"
    ? new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) loadMore(); }) : null;
  seen?.observe(more);
  // a new filter: a new list, from its first page
  const refilter = () => {
    if (currentFilter() === filterKey) return;
    for (const item of items.values()) item.element.remove();
    items.clear();
    next = null;
    below = false;
    filterKey = currentFilter();
    showMore();
    refresh();
  };
  for (const select of [model, status]) select.addEventListener("change", refilter);

  const unsubscribe = onQueueTotal((est) => {
    queueLine.hidden = !est;
    if (!est) return;
    queueLine.textContent = `This Queue: ${totalText(est)}${est.batch > 1 ? ` (batch of ${est.batch})` : ""}`;
    queueLine.title = describeParts(est);
    queueLine.classList.toggle("ask", shouldAsk(est));
  });

  let stopped = false, started = false;
  const loop = async () => {                 // render() may run before the tab is attached:
    if (stopped) return;                     // refresh whenever it is on the page
    if (root.isConnected || !started) await refresh();
    started = true;
    setTimeout(loop, REFRESH_MS);
  };
  loop();
  return () => { stopped = true; seen?.disconnect(); unsubscribe(); };
}

function scrollParent(node) {
  for (let n = node; n; n = n.parentElement) {
    if (n.scrollHeight > n.clientHeight && /(auto|scroll)/.test(getComputedStyle(n).overflowY)) return n;
  }
  return null;
}
