"""The routes behind the web extension's money features (same-origin only, see guard.py):

  POST /runcomfy/estimate         a node's price from its widgets ({"node_type", "widgets"})
  POST /runcomfy/estimate_queue   the price of a whole Queue (app/queue_price.py):
                                  {"batch": n, "nodes": [{"node", "type", "title", "widgets",
                                  "items": n | null, "linked": bool, "fixed": bool}, …]}
  GET  /runcomfy/settings         the settings the Settings page shows (core/settings.py)
  POST /runcomfy/settings         set or clear them ({"daily_limit_usd": 5 | null, …})

The jobs panel's routes are in jobs_routes.py (registered with these).  No answer ever
carries the token; every one is JSON with ``Cache-Control: no-store``.
"""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from ..app.queue_price import node_estimate, node_price, total_of
from ..core.errors import ConfigError, RunComfyError, clip
from ..core.settings import BY_ENV, BY_KEY, LIMIT_ENV, SETTINGS, ConfigFileError
from . import jobs_routes
from .guard import bounded_int, json_body, refuse, reply, same_origin

log = logging.getLogger("runcomfy")
ESTIMATE, QUEUE_ESTIMATE, SETTINGS_ROUTE = ("/runcomfy/estimate", "/runcomfy/estimate_queue",
                                            "/runcomfy/settings")
MAX_NODES, MAX_BATCH, MAX_ITEMS = 500, 10_000, 100_000


# -- handlers -----------------------------------------------------------------------------------
def handlers(rt, lookup) -> dict:
    """The routes' handlers, each bound to the runtime ``rt``: (method, path) → handler.
    ``lookup(node type)``: the pack's node class of that type, or None."""

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
    @json_body
    async def post_queue_estimate(request: web.Request, data) -> web.Response:
        nodes = data.get("nodes") if isinstance(data, dict) else None
        if not isinstance(nodes, list) or len(nodes) > MAX_NODES:
            return refuse(400, 'Send JSON like {"batch": 1, "nodes": [{"node": "3", "type": "...", '
                               '"widgets": {...}, "items": 1, "linked": false, "fixed": true}]}.')
        try:
            return reply(await asyncio.to_thread(queue_estimate, rt, lookup, nodes, data.get("batch")))
        except RunComfyError as e:
            return refuse(500, clip(e, 400))

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

    return {("POST", ESTIMATE): post_estimate, ("POST", QUEUE_ESTIMATE): post_queue_estimate,
            ("GET", SETTINGS_ROUTE): get_settings, ("POST", SETTINGS_ROUTE): post_settings}


def queue_estimate(rt, lookup, nodes: list, batch) -> dict:
    """The whole Queue's price, today's spend and the threshold to ask at."""
    batch = bounded_int(batch, 1, 1, MAX_BATCH)
    parts = []
    for n in nodes:
        if not isinstance(n, dict) or not isinstance(n.get("widgets", {}), dict):
            continue
        cls = lookup(str(n.get("type")))
        if not hasattr(cls, "MODEL_ID"):
            continue                              # not a model node: it never pays
        items = bounded_int(n.get("items"), None, 1, MAX_ITEMS)
        parts.append(node_price(rt, str(n.get("node", "")), str(n.get("title") or cls.DISPLAY_NAME),
                                cls.SPEC, n.get("widgets") or {}, items=items,
                                linked=bool(n.get("linked")), fixed=bool(n.get("fixed")), batch=batch))
    try:
        threshold, problem = rt.settings.confirm_above(), ""
    except ConfigError as e:
        threshold, problem = 0.0, str(e)         # a setting that cannot be read: always ask
    return {**total_of(parts), "batch": batch, "today": jobs_routes.spend(rt),
            "confirm_above": threshold, "confirm_problem": problem}


def settings_view(rt) -> dict:
    """Every setting the Settings page shows (settings.SETTINGS, ``shown``), and for the
    daily limit its value at the top level (the jobs tab reads it from there too)."""
    views = [rt.settings.view(s) for s in SETTINGS if s.shown]
    limit = next(v for v in views if v["key"] == BY_ENV[LIMIT_ENV].key)
    return {"settings": views, "daily_limit_usd": limit["value"], "source": limit["source"],
            "saved": limit["saved"], "env_var": LIMIT_ENV, "env_set": limit["env_set"],
            "problem": limit["problem"]}


def register(routes, lookup, rt, model_of=None) -> None:
    """Add the panel's routes, and the jobs panel's, to ComfyUI's RouteTableDef (served also
    under /api).  ``lookup(node type)`` finds the pack's node class (a dict's ``get``, or the
    library's); ``model_of(model id)`` its node's (display name, output kind), or None."""
    if any(getattr(r, "path", None) == ESTIMATE for r in routes):
        return
    for (method, path), handler in handlers(rt, lookup).items():
        routes.route(method, path)(handler)
    jobs_routes.register(routes, rt, model_of or (lambda model_id: None))
