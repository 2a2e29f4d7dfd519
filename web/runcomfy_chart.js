// The spend per day over the last 30 days, as a small bar chart (inline SVG, no library): one
// bar per day (its still-running part lighter), the daily limit as a dashed line when one is
// set, today's spend and the limit above it. Data: GET /runcomfy/spend?days=30, oldest day
// first, the last one today, counted the way the daily limit counts.
// Stable hooks (the web check reads them): the <svg class="runcomfy-spend-chart">, each bar a
// <rect class="runcomfy-spend-bar" data-day="<unix s of local midnight>" data-spent="<usd>">.
import { el, getJSON, usd } from "./runcomfy_common.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 300, H = 72;                       // the viewBox; the chart is stretched to the tab's width
const REFETCH_MS = 30000;                    // besides whenever today's spend changes

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

// The limit the chart draws: this machine's, or with a team journal the team's.
export function limitOf(today) {
  return (today?.shared ? today.team_limit : today?.limit) ?? null;
}

function dayLabel(day) {
  return new Date(day * 1000).toLocaleDateString(undefined, { weekday: "short", month: "short", day: "numeric" });
}

function chart(days, limit) {
  const top = Math.max(0.01, limit ?? 0, ...days.map((d) => d.spent)) * 1.1;
  const y = (v) => H - (v / top) * H;
  const step = W / Math.max(1, days.length);
  const root = svg("svg", { class: "runcomfy-spend-chart", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none",
                            role: "img", "aria-label": "RunComfy spend per day, last 30 days" });
  days.forEach((d, i) => {
    const group = svg("g");
    const over = limit != null && d.spent > limit;
    const height = d.spent > 0 ? Math.max(1, H - y(d.spent)) : 0;       // a cent still shows
    const bar = svg("rect", { class: `runcomfy-spend-bar${over ? " over" : ""}${i === days.length - 1 ? " today" : ""}`,
                              x: i * step + step * 0.15, width: step * 0.7, y: H - height, height,
                              "data-day": d.day, "data-spent": d.spent, "data-running": d.running || 0 });
    const running = d.running > 0 ? Math.min(height, (d.running / top) * H) : 0;
    const title = svg("title");
    title.textContent = `${dayLabel(d.day)}: ${usd(d.spent)}${d.running > 0 ? ` (${usd(d.running)} still running)` : ""}`;
    // the whole column answers the hover, not only a bar that may be 1 px high
    const hit = svg("rect", { x: i * step, width: step, y: 0, height: H, fill: "transparent" });
    group.append(title, hit, bar);
    if (running) {
      group.append(svg("rect", { class: "runcomfy-spend-running", x: i * step + step * 0.15, width: step * 0.7,
                                 y: H - height, height: running }));
    }
    root.append(group);
  });
  if (limit != null) {
    root.append(svg("line", { class: "runcomfy-spend-limit", x1: 0, x2: W, y1: y(limit), y2: y(limit),
                              "data-limit": limit, "vector-effect": "non-scaling-stroke" }));
  }
  return root;
}

// The chart's section of the tab: `update(today)` on every refresh of the jobs (cheap: it
// fetches the days only when today's spend changed or every 30 s, for midnight).
export function spendSection() {
  const box = el("div", { className: "runcomfy-spend" });
  const head = el("div", { className: "runcomfy-spend-head" });
  const body = el("div", { className: "runcomfy-spend-body" });
  const foot = el("div", { className: "runcomfy-spend-foot" });
  box.append(head, body, foot);
  let shownSpent = null, fetchedAt = 0, busy = false;

  const draw = (data) => {
    const days = data.days || [];
    const t = data.today || {};
    const limit = limitOf(t);
    const today = days.length ? days[days.length - 1].spent : t.spent;
    const peak = Math.max(0, ...days.map((d) => d.spent));
    head.replaceChildren(el("span", { textContent: "Spend per day" }),
                         el("span", { textContent: limit == null ? `peak ${usd(peak)}` : `limit ${usd(limit)} ┄` }));
    const total = days.reduce((s, d) => s + d.spent, 0);
    foot.replaceChildren(el("span", { textContent: days.length ? dayLabel(days[0].day) : "" }),
                         el("span", { textContent: `${days.length} days: ${usd(total)}` }),
                         el("span", { textContent: `today ${usd(today)}` }));
    body.replaceChildren(chart(days, limit));
    shownSpent = today;
  };

  const update = async (today) => {
    const stale = Date.now() - fetchedAt > REFETCH_MS;
    if (busy || (!stale && today && shownSpent !== null && Math.abs(today.spent - shownSpent) < 0.00005)) return;
    busy = true;
    try {
      draw(await getJSON("/runcomfy/spend?days=30"));
      fetchedAt = Date.now();
    } catch (e) {
      head.textContent = `Spend per day: ${e.message}`;
    } finally {
      busy = false;
    }
  };
  return { element: box, update };
}
