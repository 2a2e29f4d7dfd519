"""What the pack registers when ComfyUI imports it (called from the top-level __init__.py).

Nothing here may stop ComfyUI from starting: the token route comes first, a failure to
build the model nodes is logged, and the price refresh runs in a background thread.
"""
from __future__ import annotations

import logging

from .. import settings
from . import host, token_route

log = logging.getLogger("runcomfy")


def load() -> tuple[dict, dict]:
    """(NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS), with the pack's routes added."""
    host.add_routes(token_route.register)   # Settings → RunComfy → API token; first, so it
                                            # never depends on the model files
    problem = settings.config_problem()
    if problem:
        log.warning("RunComfy: %s", problem)
    try:
        from ..spec.registry import build_mappings
        classes, names = build_mappings(tools=True)
    except Exception:  # noqa: BLE001 - a bug here must not stop ComfyUI from starting
        log.exception("RunComfy: could not build the model nodes")
        classes, names = {}, {}
    try:
        from ..remote.service import JobService
        from . import panel_routes
        host.add_routes(lambda routes: panel_routes.register(routes, classes))
        if host.in_comfyui():
            JobService.shared().prices().refresh_in_background(
                cls.SPEC.model_id for cls in classes.values() if hasattr(cls, "SPEC"))
    except Exception:  # noqa: BLE001
        log.exception("RunComfy: could not start the jobs panel and prices")
    return classes, names
