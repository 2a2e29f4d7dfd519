"""Generated schemas point to shared parts: a property reads as one plain schema here.

Pydantic and OpenAPI generators write ``{"$ref": "#/$defs/ImageSize"}`` (or
``#/definitions/…``, ``#/components/schemas/…``), often wrapped as ``{"allOf": [{"$ref": …}],
"default": …}``.  ``inline_refs`` replaces each local reference by what it points to (the
property's own keys, such as its default and title, win) and merges an ``allOf``, so an
enum behind a reference still becomes a combo and a list of LoRA objects is still checked
against its item schema.  The model file keeps the schema verbatim; only reading uses this.

Bounded: references nest at most MAX_DEPTH deep, a cycle is left as it is, and expansion
stops after MAX_NODES values (a schema cannot multiply itself through references).
"""
from __future__ import annotations

MAX_DEPTH = 24
MAX_NODES = 20_000


def inline_refs(schema: dict) -> dict:
    budget = [MAX_NODES]

    def resolve(ref: str):
        node = schema
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node if isinstance(node, dict) else None

    def walk(node, depth: int, seen: frozenset):
        budget[0] -= 1
        if depth > MAX_DEPTH or budget[0] < 0:
            return node
        if isinstance(node, list):
            return [walk(v, depth + 1, seen) for v in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/") and ref not in seen:
            target = resolve(ref)
            if target is not None:
                own = {k: v for k, v in node.items() if k != "$ref"}
                return walk({**target, **own}, depth + 1, seen | {ref})
        parts = node.get("allOf")
        if isinstance(parts, list) and parts and all(isinstance(p, dict) for p in parts):
            merged: dict = {}
            for p in parts:
                merged.update(walk(p, depth + 1, seen))
            merged.update({k: walk(v, depth + 1, seen) for k, v in node.items() if k != "allOf"})
            return merged
        return {k: walk(v, depth + 1, seen) for k, v in node.items()}

    return walk(schema, 0, frozenset())
