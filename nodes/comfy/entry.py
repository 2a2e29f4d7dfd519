"""What the pack registers when ComfyUI imports it (called from the top-level __init__.py).

It builds the one runtime (app/runtime.py) on ComfyUI's host and hands it to every node
class and route.  Nothing here may stop ComfyUI from starting: the token route comes first,
a failure to build the model nodes is logged, and the price refresh runs in a background
thread.
"""
from __future__ import annotations

import logging

from ..app.refresh import refresh_prices_in_background
from ..app.plain_host import PlainHost
from ..app.runtime import Runtime
from ..core.errors import ConfigError
from . import panel_routes, token_route
from .host import ComfyHost, add_routes, in_comfyui
from .registry import build_mappings

log = logging.getLogger("runcomfy")


def load() -> tuple[dict, dict]:
    """(NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS), with the pack's routes added."""
    rt = Runtime(ComfyHost() if in_comfyui() else PlainHost())   # imported outside ComfyUI: plain
    add_routes(lambda routes: token_route.register(routes, rt.settings))   # first: never depends
                                                                           # on the model files
    try:
        problem = rt.settings.problem()
    except ConfigError as e:                 # the host cannot name the user folder
        problem = str(e)
    if problem:
        log.warning("RunComfy: %s", problem)
    try:
        classes, names = build_mappings(rt, tools=True)
    except Exception:  # noqa: BLE001 - a bug here must not stop ComfyUI from starting
        log.exception("RunComfy: could not build the model nodes")
        classes, names = {}, {}
    try:
        add_routes(lambda routes: panel_routes.register(routes, classes, rt))
        if in_comfyui():
            refresh_prices_in_background(
                rt, [cls.SPEC.model_id for cls in classes.values() if hasattr(cls, "SPEC")])
    except Exception:  # noqa: BLE001
        log.exception("RunComfy: could not start the jobs panel and prices")
    return classes, names
