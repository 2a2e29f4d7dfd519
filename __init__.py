"""ComfyUI entry point of the RunComfy Model API node pack.

ComfyUI imports this folder as a module named after the folder (whatever the user cloned
it as), so everything is imported relatively (nodes/comfy/entry.py does the work).  When
this file is imported on its own, not as a package (pytest does that to a folder whose name
is no Python identifier, such as "comfyui-runcomfy"), it registers nothing.
"""
NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
WEB_DIRECTORY = "./web"

if __package__:
    from .nodes.comfy.entry import load

    NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = load()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
