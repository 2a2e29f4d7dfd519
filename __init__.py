"""ComfyUI entry point of the RunComfy Model API node pack.

ComfyUI imports this folder as a module named after the folder (whatever the user
cloned it as), so everything below is imported relatively.  Nothing here may stop
ComfyUI from starting: the token route comes first, a failure to build the model nodes
is logged, and the price refresh runs in a background thread.
"""
import logging

from .nodes.comfy import host, token_route

host.add_routes(token_route.register)   # Settings → RunComfy → API token; first, so it never
                                        # depends on the model files below
try:
    from .nodes.spec.registry import build_mappings
    NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = build_mappings(tools=True)
except Exception:  # noqa: BLE001 - a bug here must not stop ComfyUI from starting
    logging.getLogger("runcomfy").exception("RunComfy: could not build the model nodes")
    NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = {}, {}

try:
    from .nodes.comfy import panel_routes
    from .nodes.remote.service import JobService
    host.add_routes(lambda routes: panel_routes.register(routes, NODE_CLASS_MAPPINGS))
    if host.in_comfyui():
        JobService.shared().prices().refresh_in_background(
            cls.SPEC.model_id for cls in NODE_CLASS_MAPPINGS.values() if hasattr(cls, "SPEC"))
except Exception:  # noqa: BLE001
    logging.getLogger("runcomfy").exception("RunComfy: could not start the jobs panel and prices")
WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
