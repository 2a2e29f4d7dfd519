"""ComfyUI touchpoints: node classes, the node's run path, live status, routes.  Only
host.py touches ComfyUI internals."""
