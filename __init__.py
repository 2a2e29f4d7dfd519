"""ComfyUI entry point of the RunComfy Model API node pack.

ComfyUI imports this folder as a module named after the folder (whatever the user
cloned it as), so everything below is imported relatively.
"""
from .nodes import host, token_route
from .nodes.registry import build_mappings

NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = build_mappings(tools=True)
host.add_routes(token_route.register)   # Settings → RunComfy → API token
WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
