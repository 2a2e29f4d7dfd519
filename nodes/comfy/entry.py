"""What the pack registers when ComfyUI imports it (called from the top-level __init__.py).

It builds the one runtime (app/runtime.py) on ComfyUI's host and hands it to every node
class and route; the node library (comfy/library.py) is every model file's node plus a node
per model of the catalog snapshot, kept in step with the catalog's background refresh.
Nothing here may stop ComfyUI from starting or delay it: the token route comes first, a
failure to build the nodes is logged, and the refreshes (catalog, prices) run in background
threads.
"""
from __future__ import annotations

import logging
import time

from ..app.plain_host import PlainHost
from ..app.refresh import refresh_prices_in_background
from ..app.runtime import Runtime
from ..core.errors import ConfigError
from ..core.process import collector_paused
from . import catalog_routes, panel_routes, token_route
from .host import ComfyHost, add_routes, in_comfyui
from .library import NodeLibrary
from .registry import build_mappings

log = logging.getLogger("runcomfy")


def load() -> tuple[dict, dict]:
    """(NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS), with the pack's routes added."""
    inside = in_comfyui()
    rt = Runtime(ComfyHost() if inside else PlainHost())   # imported outside ComfyUI: plain
    add_routes(lambda routes: token_route.register(routes, rt.settings))   # first: never depends
                                                                           # on the model files
    try:
        problem = rt.settings.problem()
    except ConfigError as e:                 # the host cannot name the user folder
        problem = str(e)
    if problem:
        log.warning("RunComfy: %s", problem)
    try:
        started = time.perf_counter()
        with collector_paused():
            library = NodeLibrary(rt, *build_mappings(rt, tools=True))
            classes, names = library.mappings()
        log.info("RunComfy: %d nodes (%d from the catalog snapshot) in %.3f s", len(classes),
                 len(library.catalog), time.perf_counter() - started)
    except Exception:  # noqa: BLE001 - a bug here must not stop ComfyUI from starting
        log.exception("RunComfy: could not build the model nodes")
        return {}, {}
    try:
        add_routes(lambda routes: panel_routes.register(routes, library.get, rt, library.model_of))
        add_routes(lambda routes: catalog_routes.register(routes, rt))
        if inside:
            rt.catalog.subscribe(library.on_change)
            rt.catalog.keep_fresh()
            refresh_prices_in_background(rt, [c.MODEL_ID for c in library.fixed.values()
                                              if hasattr(c, "MODEL_ID")])
    except Exception:  # noqa: BLE001
        log.exception("RunComfy: could not start the catalog refresh, the jobs panel and prices")
    return classes, names
