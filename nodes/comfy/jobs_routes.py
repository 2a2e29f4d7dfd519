"""The routes behind the jobs panel (same-origin only, see guard.py; none carries the token):

  GET  /runcomfy/jobs          a page of the journal, newest first (?limit=&before=&model=&status=),
                               with today's spend, and on the first page what it can be filtered by
  POST /runcomfy/jobs/cancel   cancel a queued job ({"request_id"})
  GET  /runcomfy/thumb         a job's thumbnail (?request_id=): made from its files on this
                               machine, once (results/thumbs.py); 404 when it has none
  GET  /runcomfy/spend         the spend per day (?days=30, at most 90), as the daily limit counts it

A page of 50 jobs of a 10,000-job journal is answered in a few milliseconds (the journal is
paged by id; bench/bench_panel.py measures it).
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web

from ..core.errors import ConfigError, RunComfyError, clip
from ..remote.client import usable_request_id
from ..remote.journal import PENDING, Entry, daily_spend, day_starts
from ..spec.kinds import output_kind_of_link
from .guard import bounded_int, json_body, refuse, reply, same_origin

JOBS, CANCEL, THUMB, SPEND = "/runcomfy/jobs", "/runcomfy/jobs/cancel", "/runcomfy/thumb", "/runcomfy/spend"
CANCELLABLE = ("submitted", "queued")
PICTURED = ("video", "image", "audio")        # output kinds a thumbnail can show
MAX_PAGE, MAX_DAYS = 200, 90


# -- what the panel shows ---------------------------------------------------------------------
def job_view(rt, e: Entry, now: float, model_of) -> dict:
    files = [Path(p) for p in e.files if Path(p).is_file()]
    name, output = model_of(e.model_id) or (None, None)
    kind = next((k for k in (output_kind_of_link("", u) for u in e.urls) if k), None) or \
        next(iter(e.outputs), None) or output            # a job still running: its model's kind
    base = rt.host.output_dir()
    shown = [view_of(base, p) for p in files]
    return {"id": e.id, "request_id": e.request_id or "", "model_id": e.model_id,
            "display_name": name or e.model_id, "kind": kind, "status": e.status,
            "created_at": e.created_at, "age_s": max(0.0, now - e.created_at), "cost": e.cost,
            "estimate": e.estimate, "billed": billed_text(e), "error": clip(e.error, 300),
            "files": shown, "thumb": thumb_url(rt, e, kind, files), "progress": progress_of(rt, e),
            "can_cancel": e.status in CANCELLABLE and bool(e.request_id),
            "can_load": bool(e.request_id), "member": e.member, "machine": e.machine,
            "here": not e.machine or e.machine == rt.machine}


def thumb_url(rt, e: Entry, kind: str | None, files: list) -> str:
    if kind not in PICTURED or not e.request_id:
        return ""
    if not files and not rt.thumbs.path(e.request_id).is_file():
        return ""
    return f"{THUMB}?" + urlencode({"request_id": e.request_id})


def progress_of(rt, e: Entry) -> dict | None:
    """A running job's stage, queue position and running time (this process's jobs: from
    their polls; a job another process waits for: its stage from the journal)."""
    if e.status not in (*PENDING, "submitting") or e.status == "not_cancellable":
        return None
    live = rt.progress.of(e.request_id) if e.request_id else None
    return live or {"stage": e.status, "position": None, "running_s": None, "elapsed_s": None}


def billed_text(e: Entry) -> str:
    if e.cost is not None:
        return "not billed" if e.cost == 0 else f"${e.cost:.2f}"
    if e.status in ("rejected", "cancelled"):
        return "not billed"
    if e.status in ("uncertain", "uncertain_told"):
        return "unknown: may be billed"
    if e.status in (*PENDING, "submitting"):
        return f"≈ ${e.estimate:.2f} (running)" if e.estimate is not None else "running"
    return "billed, cost not reported" if e.status == "completed" else "unknown"


def view_of(base: Path, path: Path) -> dict:
    """A saved file as ComfyUI's /view serves it (only files inside the output folder ``base``)."""
    try:
        sub = str(path.parent.relative_to(base))
    except ValueError:
        return {"filename": path.name, "subfolder": "", "type": "", "url": "", "kind": None}
    sub = "" if sub == "." else sub
    return {"filename": path.name, "subfolder": sub, "type": "output",
            "kind": output_kind_of_link("", path.name),
            "url": "/view?" + urlencode({"filename": path.name, "subfolder": sub, "type": "output"})}


def spend(rt) -> dict:
    """Today's spend and the limits that apply: this machine's, or with a team journal the
    team's (and the budget the team journal holds) and this member's."""
    journal = rt.journal
    today = journal.spend_today()
    view = {"spent": round(today.total, 4), "charged": round(today.spent, 4),
            "running": round(today.running, 4), "shared": journal.shared}
    try:
        limit, source = rt.settings.daily_limit()
        member_limit, _ = rt.settings.member_limit()
        problem = ""
    except ConfigError as e:
        limit, source, member_limit, problem = None, "", None, str(e)
    view.update(limit=limit, limit_source=source, limit_problem=problem)
    if journal.shared:
        limits = [v for v in (limit, today.team_limit) if v is not None]
        view.update(team_limit=min(limits) if limits else None, team_budget=today.team_limit,
                    member=rt.settings.member(), member_spent=round(today.member_total, 4),
                    member_limit=member_limit, journal=journal.where)
    return view


def jobs_page(rt, query, model_of) -> dict:
    limit = bounded_int(query.get("limit"), 50, 1, MAX_PAGE)
    before = bounded_int(query.get("before"), None, 1, 2**62)
    model, status = query.get("model") or None, query.get("status") or None
    journal = rt.journal
    entries = journal.page(limit + 1, before, model, status)
    now = time.time()
    page = {"jobs": [job_view(rt, e, now, model_of) for e in entries[:limit]],
            "next": entries[limit - 1].id if len(entries) > limit else None, "today": spend(rt)}
    if before is None:
        facets = journal.facets()
        page["models"] = sorted(({"model_id": m, "display_name": (model_of(m) or (m,))[0], "jobs": n}
                                 for m, n in facets["models"].items()), key=lambda v: v["display_name"])
        page["statuses"] = facets["statuses"]
    return page


def spend_days(rt, query) -> dict:
    days = bounded_int(query.get("days"), 30, 1, MAX_DAYS)
    now = time.time()
    first = day_starts(days, now)[0]
    return {"days": daily_spend(rt.journal.spend_rows(first), days, now), "today": spend(rt)}


def cancel(rt, request_id: str) -> str:
    journal = rt.journal
    entry = journal.get(request_id)
    if entry is None or entry.status not in CANCELLABLE:
        raise RunComfyError("Only a job that is still queued can be cancelled (a running one is "
                            "billed and runs on).")
    outcome = str(rt.client().cancel(request_id).get("outcome") or "").lower()
    if outcome == "cancelled":
        journal.set_status(request_id, "cancelled", "Cancelled from the RunComfy panel", 0.0)
    elif outcome == "not_cancellable":
        journal.set_status(request_id, "not_cancellable")
    return outcome or "unknown"


def thumbnail(rt, request_id: str) -> Path | None:
    entry = rt.journal.get(request_id)
    if entry is None:
        return None
    files = [Path(p) for p in entry.files if Path(p).is_file()]
    return rt.thumbs.get(request_id, files)          # a kept thumbnail outlives its files


# -- handlers -----------------------------------------------------------------------------------
def handlers(rt, model_of) -> dict:
    """(method, path) → handler, each bound to the runtime ``rt``; ``model_of(model id)``: its
    node's (display name, output kind) (None: not a node here)."""

    @same_origin
    async def get_jobs(request: web.Request) -> web.Response:
        try:
            return reply(await asyncio.to_thread(jobs_page, rt, request.query, model_of))
        except RunComfyError as e:
            return refuse(500, clip(e, 400))

    @same_origin
    @json_body
    async def post_cancel(request: web.Request, data) -> web.Response:
        rid = data.get("request_id") if isinstance(data, dict) else None
        if not usable_request_id(rid):
            return refuse(400, 'Send JSON like {"request_id": "..."}.')
        try:
            outcome = await asyncio.to_thread(cancel, rt, rid)
        except RunComfyError as e:
            return refuse(502, clip(e, 400))
        return reply({"request_id": rid, "outcome": outcome})

    @same_origin
    async def get_thumb(request: web.Request) -> web.Response:
        rid = request.query.get("request_id")
        if not usable_request_id(rid):
            return refuse(400, "Give ?request_id=…")
        try:
            path = await asyncio.to_thread(thumbnail, rt, rid)
        except RunComfyError as e:
            return refuse(500, clip(e, 400))
        if path is None:
            return refuse(404, "No thumbnail: the job has no result file with a picture on this machine.")
        return web.Response(body=path.read_bytes(), content_type="image/jpeg",
                            headers={"Cache-Control": "private, max-age=86400"})

    @same_origin
    async def get_spend(request: web.Request) -> web.Response:
        try:
            return reply(await asyncio.to_thread(spend_days, rt, request.query))
        except RunComfyError as e:
            return refuse(500, clip(e, 400))

    return {("GET", JOBS): get_jobs, ("POST", CANCEL): post_cancel, ("GET", THUMB): get_thumb,
            ("GET", SPEND): get_spend}


def register(routes, rt, model_of) -> None:
    """Add the jobs panel's routes to ComfyUI's RouteTableDef (served also under /api)."""
    if any(getattr(r, "path", None) == JOBS for r in routes):
        return
    for (method, path), handler in handlers(rt, model_of).items():
        routes.route(method, path)(handler)
