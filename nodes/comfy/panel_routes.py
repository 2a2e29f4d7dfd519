"""The routes behind the web extension's money features (same-origin only, see guard.py):

  GET  /runcomfy/jobs             recent journal entries and today's spend (the sidebar tab)
  POST /runcomfy/jobs/cancel      cancel a queued job ({"request_id"})
  POST /runcomfy/estimate         a node's price from its widgets ({"node_type", "widgets"})
  GET  /runcomfy/settings         the settings the Settings page shows (core/settings.py)
  POST /runcomfy/settings         set or clear them ({"daily_limit_usd": 5 | null, …})

No answer ever carries the token; every one is JSON with ``Cache-Control: no-store``.
"""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web

from ..core.errors import ConfigError, RunComfyError, clip
from ..core.settings import BY_ENV, BY_KEY, LIMIT_ENV, SETTINGS, ConfigFileError
from ..remote.client import usable_request_id
from ..remote.journal import PENDING, Entry
from ..spec.estimate import estimate
from ..spec.model import NOT_SET
from .guard import json_body, refuse, reply, same_origin

log = logging.getLogger("runcomfy")
JOBS, CANCEL, ESTIMATE, SETTINGS_ROUTE = ("/runcomfy/jobs", "/runcomfy/jobs/cancel",
                                          "/runcomfy/estimate", "/runcomfy/settings")
CANCELLABLE = ("submitted", "queued")


# -- what the panel shows ---------------------------------------------------------------------
def job_view(rt, e: Entry, now: float) -> dict:
    return {"request_id": e.request_id or "", "model_id": e.model_id, "status": e.status,
            "created_at": e.created_at, "age_s": max(0.0, now - e.created_at), "cost": e.cost,
            "estimate": e.estimate, "billed": billed_text(e), "error": clip(e.error, 300),
            "files": [view_of(rt.host.output_dir(), Path(p)) for p in e.files if Path(p).is_file()],
            "can_cancel": e.status in CANCELLABLE and bool(e.request_id),
            "can_load": bool(e.request_id), "member": e.member, "machine": e.machine,
            "here": not e.machine or e.machine == rt.machine}


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
        return {"filename": path.name, "subfolder": "", "type": "", "url": ""}
    sub = "" if sub == "." else sub
    return {"filename": path.name, "subfolder": sub, "type": "output",
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


# -- handlers -----------------------------------------------------------------------------------
def handlers(rt, lookup) -> dict:
    """The routes' handlers, each bound to the runtime ``rt``: (method, path) → handler.
    ``lookup(node type)``: the pack's node class of that type, or None."""

    @same_origin
    async def get_jobs(request: web.Request) -> web.Response:
        try:
            limit = max(1, min(200, int(request.query.get("limit", "50"))))
        except ValueError:
            limit = 50
        now = time.time()
        try:
            entries = await asyncio.to_thread(lambda: rt.journal.recent(limit))
            today = await asyncio.to_thread(spend, rt)
        except RunComfyError as e:
            return refuse(500, clip(e, 400))
        return reply({"today": today, "jobs": [job_view(rt, e, now) for e in entries]})

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
    @json_body
    async def post_estimate(request: web.Request, data) -> web.Response:
        if not isinstance(data, dict) or not isinstance(data.get("widgets", {}), dict):
            return refuse(400, 'Send JSON like {"node_type": "...", "widgets": {...}}.')
        cls = lookup(str(data.get("node_type")))
        spec = cls.SPEC if hasattr(cls, "MODEL_ID") else None
        if spec is None:
            return refuse(404, "Not a RunComfy model node.")
        price = rt.prices.get(spec)
        est = node_estimate(spec, data.get("widgets") or {}, price)
        return reply({"text": est.text, "usd": est.usd, "detail": est.detail, "price": price.label()})

    @same_origin
    async def get_settings(request: web.Request) -> web.Response:
        return reply(settings_view(rt))

    @same_origin
    @json_body
    async def post_settings(request: web.Request, data) -> web.Response:
        shown = {s.key for s in SETTINGS if s.shown}
        if not isinstance(data, dict) or not data or not set(data) <= shown:
            return refuse(400, f"Send JSON like {{\"{sorted(shown)[0]}\": 5}} (null clears it); "
                               f"the settings of this page: {', '.join(sorted(shown))}.")
        try:
            for key, value in data.items():
                await asyncio.to_thread(rt.settings.save_shown, key, value)
        except ValueError as e:
            given = "that value" if BY_KEY[key].redact else repr(data[key])   # a secret is never echoed
            return refuse(400, f"{BY_KEY[key].label or key}: {given}, {e}.")
        except ConfigFileError as e:
            return refuse(409, str(e))               # never rewrite a file we cannot read
        except OSError as e:
            return refuse(500, f"Could not write {rt.settings.config_path}: {e.strerror or e}")
        return reply(settings_view(rt))

    return {("GET", JOBS): get_jobs, ("POST", CANCEL): post_cancel, ("POST", ESTIMATE): post_estimate,
            ("GET", SETTINGS_ROUTE): get_settings, ("POST", SETTINGS_ROUTE): post_settings}


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


def node_estimate(spec, widgets: dict, price):
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
    return estimate(spec, wire, price)


def settings_view(rt) -> dict:
    """Every setting the Settings page shows (settings.SETTINGS, ``shown``), and for the
    daily limit its value at the top level (the jobs tab reads it from there too)."""
    views = [rt.settings.view(s) for s in SETTINGS if s.shown]
    limit = next(v for v in views if v["key"] == BY_ENV[LIMIT_ENV].key)
    return {"settings": views, "daily_limit_usd": limit["value"], "source": limit["source"],
            "saved": limit["saved"], "env_var": LIMIT_ENV, "env_set": limit["env_set"],
            "problem": limit["problem"]}


def register(routes, lookup, rt) -> None:
    """Add the panel's routes to ComfyUI's RouteTableDef (served also under /api).
    ``lookup(node type)`` finds the pack's node class (a dict's ``get``, or the library's)."""
    if any(getattr(r, "path", None) == JOBS for r in routes):
        return
    for (method, path), handler in handlers(rt, lookup).items():
        routes.route(method, path)(handler)
