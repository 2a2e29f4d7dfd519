"""The node library in step with the catalog while ComfyUI runs.

At start it is the model files' nodes (and the pack's tools) plus a node for every model of
the catalog snapshot.  After each refresh that changed the snapshot, the classes of the
models it added, changed, removed (moved to ``RunComfy/Unavailable``) or brought back are
rebuilt and handed to ComfyUI (comfy/host.py), and every open page is told to reload its
node definitions (the web extension listens for ``runcomfy.catalog``).  No restart; a running
job keeps the class it started with.  The model files' nodes are never replaced by the
catalog's: a shipped or pinned model keeps its schema.
"""
from __future__ import annotations

import logging
import threading

from .host import existing_node_ids, register_nodes, send_event
from .registry import catalog_classes

log = logging.getLogger("runcomfy")
EVENT = "runcomfy.catalog"


class NodeLibrary:
    def __init__(self, rt, fixed: dict, names: dict):
        self.rt = rt
        self.fixed, self.fixed_names = dict(fixed), dict(names)     # model files and tools
        self.taken = {c.MODEL_ID for c in fixed.values() if hasattr(c, "MODEL_ID")}
        self.catalog: dict = {}
        self._names: dict = {}                  # model id → (its node's display name, output kind)
        self._lock = threading.Lock()

    def mappings(self) -> tuple[dict, dict]:
        """(node classes, display names) ComfyUI gets at start: the fixed ones and the snapshot's."""
        with self._lock:
            self.catalog = catalog_classes(self.rt, self.rt.catalog.snapshot(), self.taken, self.ids())
            classes = {**self.fixed, **self.catalog}
            self._names = names_of(classes)
        return classes, {**self.fixed_names, **{n: c.DISPLAY_NAME for n, c in self.catalog.items()}}

    def get(self, node_id: str):
        """The pack's class of a node type, as ComfyUI has it now (None: not the pack's)."""
        with self._lock:
            return self.catalog.get(node_id) or self.fixed.get(node_id)

    def model_of(self, model_id: str) -> tuple[str, str] | None:
        """(display name, output kind) of the node of ``model_id`` (None: no node here has it)."""
        with self._lock:
            return self._names.get(model_id)

    def ids(self) -> set:
        """Node ids the catalog's nodes may not take: the fixed ones, and ComfyUI's and other
        packs' (read now: packs loaded after this one count too).  The catalog's own node ids
        are not taken: ComfyUI holds those classes since they were registered, and a model
        whose schema changed, or that was removed, must get its rebuilt class under its id."""
        return set(self.fixed) | (existing_node_ids() - set(self.catalog))

    def on_change(self, snapshot, change) -> None:
        """A refresh changed the snapshot: rebuild the catalog's classes, hand ComfyUI the ones
        that are new or different, and tell the open pages."""
        touched = {*change.added, *change.removed, *change.changed, *change.returned}
        with self._lock:
            fresh = catalog_classes(self.rt, snapshot, self.taken, self.ids())
            updates = {n: c for n, c in fresh.items() if n not in self.catalog or c.MODEL_ID in touched}
            self.catalog.update(updates)
            self._names = names_of({**self.fixed, **self.catalog})
            like = next(iter(self.fixed.values()), None)
        if updates:
            register_nodes(updates, {n: c.DISPLAY_NAME for n, c in updates.items()}, like)
        send_event(EVENT, {"models": len(snapshot.models), "new": len(change.added),
                           "removed": len(change.removed), "changed": len(change.changed)})
        log.info("RunComfy: %d node(s) added or updated from the catalog", len(updates))


def names_of(classes: dict) -> dict:
    """model id → (display name, output kind) of the model nodes among ``classes`` (a model
    file's node wins)."""
    names = {}
    for cls in classes.values():
        model_id = getattr(cls, "MODEL_ID", None)
        if model_id and model_id not in names:
            names[model_id] = (cls.DISPLAY_NAME, getattr(cls, "OUTPUT_KIND", None))
    return names
