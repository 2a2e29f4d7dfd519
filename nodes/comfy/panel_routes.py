"""The routes behind the web extension's money features (same-origin only, see guard.py):

  GET  /runcomfy/jobs             recent journal entries and today's spend (the sidebar tab)
  POST /runcomfy/jobs/cancel      cancel a queued job ({"request_id"})
  POST /runcomfy/estimate         a node's price from its widgets ({"node_type", "widgets"})
  GET  /runcomfy/settings         the daily limit and where it is set
  POST /runcomfy/settings         set or clear the daily limit ({"daily_limit_usd": 5 | null})

No answer ever carries the token; every one is JSON with ``Cache-Control: no-store``.
"""
from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from pathlib import Path

from aiohttp import web

from .. import settings
from ..errors import ConfigError, RunComfyError, clip
from ..remote.client import usable_request_id
from ..remote.journal import PENDING, Entry
from ..spec.estimate import estimate
from ..spec.schema import NOT_SET
from . import host
from .guard import json_body, refuse, reply, same_origin

log = logging.getLogger("runcomfy")
JOBS, CANCEL, ESTIMATE, SETTINGS = ("/runcomfy/jobs", "/runcomfy/jobs/cancel", "/runcomfy/estimate",
                                    "/runcomfy/settings")
CANCELLABLE = ("submitted", "queued")


def service():
    from ..remote.service import JobService
    return JobService.shared()


# -- what the panel shows ---------------------------------------------------------------------
def job_view(e: Entry, now: float) -> dict:
    return {"request_id": e.request_id or "", "model_id": e.model_id, "status": e.status,
            "created_at": e.created_at, "age_s": max(0.0, now - e.created_at), "cost": e.cost,
            "estimate": e.estimate, "billed": billed_text(e), "error": clip(e.error, 300),
            "files": [view_of(Path(p)) for p in e.files if Path(p).is_file()],
            "can_cancel": e.status in CANCELLABLE and bool(e.request_id),
            "can_load": bool(e.request_id)}


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


def view_of(path: Path) -> dict:
    """A saved file as ComfyUI's /view serves it (only files inside the output folder)."""
    base = host.output_dir()
    try:
        sub = str(path.parent.relative_to(base))
    except ValueError:
        return {"filename": path.name, "subfolder": "", "type": "", "url": ""}
    sub = "" if sub == "." else sub
    from urllib.parse import urlencode
    return {"filename": path.name, "subfolder": sub, "type": "output",
            "url": "/view?" + urlencode({"filename": path.name, "subfolder": sub, "type": "output"})}


def spend() -> dict:
    charged, running = service().journal().spend_today()
    try:
        limit, source = settings.daily_limit()
        problem = ""
    except ConfigError as e:
        limit, source, problem = None, "", str(e)
    return {"spent": round(charged + running, 4), "charged": round(charged, 4),
            "running": round(running, 4), "limit": limit, "limit_source": source,
            "limit_problem": problem}


# -- handlers -----------------------------------------------------------------------------------
@same_origin
async def get_jobs(request: web.Request) -> web.Response:
    try:
        limit = max(1, min(200, int(request.query.get("limit", "50"))))
    except ValueError:
        limit = 50
    now = time.time()
    try:
        entries = await asyncio.to_thread(lambda: service().journal().recent(limit))
        today = await asyncio.to_thread(spend)
    except RunComfyError as e:
        return refuse(500, clip(e, 400))
    return reply({"today": today, "jobs": [job_view(e, now) for e in entries]})


@same_origin
@json_body
async def post_cancel(request: web.Request, data) -> web.Response:
    rid = data.get("request_id") if isinstance(data, dict) else None
    if not usable_request_id(rid):
        return refuse(400, 'Send JSON like {"request_id": "..."}.')
    try:
        outcome = await asyncio.to_thread(cancel, rid)
    except RunComfyError as e:
        return refuse(502, clip(e, 400))
    return reply({"request_id": rid, "outcome": outcome})


def cancel(request_id: str) -> str:
    from ..remote.client import RunComfyClient
    journal = service().journal()
    entry = journal.get(request_id)
    if entry is None or entry.status not in CANCELLABLE:
        raise RunComfyError("Only a job that is still queued can be cancelled (a running one is "
                            "billed and runs on).")
    outcome = str(RunComfyClient().cancel(request_id).get("outcome") or "").lower()
    if outcome == "cancelled":
        journal.set_status(request_id, "cancelled", "Cancelled from the RunComfy panel", 0.0)
    elif outcome == "not_cancellable":
        journal.set_status(request_id, "not_cancellable")
    return outcome or "unknown"


def make_estimate_handler(classes: dict):
    @same_origin
    @json_body
    async def post_estimate(request: web.Request, data) -> web.Response:
        if not isinstance(data, dict) or not isinstance(data.get("widgets", {}), dict):
            return refuse(400, 'Send JSON like {"node_type": "...", "widgets": {...}}.')
        spec = getattr(classes.get(str(data.get("node_type"))), "SPEC", None)
        if spec is None:
            return refuse(404, "Not a RunComfy model node.")
        est = node_estimate(spec, data.get("widgets") or {})
        return reply({"text": est.text, "usd": est.usd, "detail": est.detail,
                      "price": service().prices().get(spec).label()})
    return post_estimate


def node_estimate(spec, widgets: dict):
    """The estimate from raw widget values (by widget name), as the page has them."""
    wire = {}
    for f in spec.fields:
        if f.name in widgets:
            value = widgets[f.name]
            if value == NOT_SET:               # sends nothing: the estimate knows nothing of it
                continue
            if f.choices:                      # a combo's text → the schema's typed choice
                value = next((c for c in f.choices if str(c) == str(value)), value)
            wire[f.key] = value
    return estimate(spec, wire, service().prices().get(spec))


@same_origin
async def get_settings(request: web.Request) -> web.Response:
    return reply(limit_view())


@same_origin
@json_body
async def post_settings(request: web.Request, data) -> web.Response:
    if not isinstance(data, dict) or "daily_limit_usd" not in data:
        return refuse(400, 'Send JSON like {"daily_limit_usd": 5} (null clears it).')
    value = data["daily_limit_usd"]
    if value in (None, ""):
        value = None
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0:
        return refuse(400, "The daily limit must be an amount of US dollars >= 0, or null.")
    try:
        await asyncio.to_thread(settings.set_daily_limit, value)
    except settings.ConfigFileError as e:
        return refuse(409, str(e))               # never rewrite a file we cannot read
    except OSError as e:
        return refuse(500, f"Could not write {settings.config_path()}: {e.strerror or e}")
    return reply(limit_view())


def limit_view() -> dict:
    env = os.environ.get(settings.LIMIT_ENV, "").strip()
    problem = settings.config_problem()
    saved = None if problem else settings.read_config().get("daily_limit_usd")
    try:
        limit, source = settings.daily_limit()
    except ConfigError as e:
        limit, source, problem = None, "", str(e)
    return {"daily_limit_usd": limit, "source": source, "saved": saved, "env_var": settings.LIMIT_ENV,
            "env_set": bool(env), "problem": problem}


def register(routes, classes: dict) -> None:
    """Add the panel's routes to ComfyUI's RouteTableDef (served also under /api)."""
    if any(getattr(r, "path", None) == JOBS for r in routes):
        return
    routes.get(JOBS)(get_jobs)
    routes.post(CANCEL)(post_cancel)
    routes.post(ESTIMATE)(make_estimate_handler(classes))
    routes.get(SETTINGS)(get_settings)
    routes.post(SETTINGS)(post_settings)
