"""The routes behind the catalog in the RunComfy tab (same-origin only, see guard.py):

  GET  /runcomfy/catalog           how many models, when last fetched, a refresh running or failed
  POST /runcomfy/catalog/refresh   fetch the catalog now (answers at once; the tab polls GET)
  POST /runcomfy/catalog/resolve   fetch models a workflow uses that this machine's catalog does
                                   not have yet ({"model_ids": [...]}), so the workflow opens
  GET  /runcomfy/catalog/previous  node type → the widget names its model had before its schema
                                   last changed (a workflow saved then is read by those names)
"""
from __future__ import annotations

import asyncio

from aiohttp import web

from ..spec.model import MODEL_ID_RE, node_id_for
from .guard import json_body, refuse, reply, same_origin

STATE, REFRESH, RESOLVE, PREVIOUS = ("/runcomfy/catalog", "/runcomfy/catalog/refresh",
                                     "/runcomfy/catalog/resolve", "/runcomfy/catalog/previous")
MAX_RESOLVE = 50                  # model ids one workflow may ask for at once


def handlers(rt) -> dict:
    @same_origin
    async def get_state(request: web.Request) -> web.Response:
        state = await asyncio.to_thread(rt.catalog.state)
        return reply({**state, "token": rt.catalog.has_token()})

    @same_origin
    async def post_refresh(request: web.Request) -> web.Response:
        started = await asyncio.to_thread(rt.catalog.refresh_in_background)
        if started is None:
            return refuse(409, "No RunComfy API token is set, so the catalog cannot be fetched. Set "
                               "it in Settings → RunComfy.")
        return reply({**rt.catalog.state(), "refreshing": True}, 202)

    @same_origin
    @json_body
    async def post_resolve(request: web.Request, data) -> web.Response:
        ids = data.get("model_ids") if isinstance(data, dict) else None
        if not isinstance(ids, list) or len(ids) > MAX_RESOLVE or not all(
                isinstance(m, str) and len(m) <= 200 and MODEL_ID_RE.fullmatch(m) for m in ids):
            return refuse(400, f'Send JSON like {{"model_ids": ["owner/model/task"]}} (at most {MAX_RESOLVE}).')
        found = await asyncio.to_thread(lambda: {m: rt.catalog.fetch_model(m) for m in ids})
        return reply({"found": [m for m, ok in found.items() if ok],
                      "missing": [m for m, ok in found.items() if not ok]})

    @same_origin
    async def get_previous(request: web.Request) -> web.Response:
        snap = await asyncio.to_thread(rt.catalog.snapshot)
        return reply({"previous": {node_id_for(m): names for m, names in snap.previous_widgets.items()}})

    return {("GET", STATE): get_state, ("POST", REFRESH): post_refresh, ("POST", RESOLVE): post_resolve,
            ("GET", PREVIOUS): get_previous}


def register(routes, rt) -> None:
    if any(getattr(r, "path", None) == STATE for r in routes):
        return
    for (method, path), handler in handlers(rt).items():
        routes.route(method, path)(handler)
