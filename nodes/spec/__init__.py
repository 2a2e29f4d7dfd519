"""Model data: model files → ModelSpec (schema.py), the node registry, the pack's own
options, and adding models from RunComfy's catalog."""
