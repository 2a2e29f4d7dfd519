"""The catalog snapshot: every model RunComfy's catalog offered at the last refresh, kept in the
user folder so the nodes are there at start, offline too.

``<user>/runcomfy/catalog.json``::

    {"version": 1, "fetched_at": <unix time>, "source": <API base URL>,
     "models":  {model_id: {"file": <model file>, "node": <what the node library needs>}},
     "removed": {model_id: {"file": …, "node": …, "removed_at": <unix time>}},
     "previous_widgets": {model_id: [widget names before its schema last changed]}}

A model file is what ``spec/schema.py`` reads; "node" is worked out once, when the model is
fetched (its output kind, what it takes, its price unit), so building 1,500 node classes at
ComfyUI's start reads the file and parses no schema.  The file is written at once (a
refresh that fails half way leaves the last snapshot whole); one that cannot be read is set
aside (``catalog.json.damaged-<time>``), logged, and replaced by the next refresh.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from ..core.files import write_atomic

log = logging.getLogger("runcomfy")

VERSION = 1
MAX_BYTES = 256 * 1024 * 1024      # a snapshot larger than this is not read (5,000 models ≈ 40 MB)


@dataclass(frozen=True)
class Snapshot:
    models: dict = field(default_factory=dict)            # model_id → {"file", "node"}
    removed: dict = field(default_factory=dict)           # model_id → {"file", "node", "removed_at"}
    previous_widgets: dict = field(default_factory=dict)  # model_id → [widget names]
    fetched_at: float | None = None
    source: str = ""

    def as_json(self) -> dict:
        return {"version": VERSION, "fetched_at": self.fetched_at, "source": self.source,
                "models": self.models, "removed": self.removed,
                "previous_widgets": self.previous_widgets}


@dataclass(frozen=True)
class Change:
    """What a refresh changed: model ids added, removed, whose schema changed, back again."""
    added: tuple = ()
    removed: tuple = ()
    changed: tuple = ()
    returned: tuple = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.returned)


def merge(old: Snapshot, fresh: dict, *, complete: bool, now: float, source: str,
          widget_names: Callable[[dict], list]) -> tuple[Snapshot, Change]:
    """The snapshot after a refresh that fetched ``fresh`` (model_id → record).  Only a
    ``complete`` listing removes models; a model whose schema changed keeps the widget names
    it had (``widget_names(model file)``), so workflows saved before load by name."""
    models = dict(fresh) if complete else {**old.models, **fresh}
    gone = [m for m in old.models if m not in models]
    removed = {m: r for m, r in old.removed.items() if m not in models}
    removed.update({m: {**old.models[m], "removed_at": now} for m in gone})
    changed = [m for m, r in fresh.items() if m in old.models
               and r["file"].get("input_schema") != old.models[m]["file"].get("input_schema")]
    previous = {m: w for m, w in old.previous_widgets.items() if m in models or m in removed}
    for model_id in changed:
        try:
            previous[model_id] = widget_names(old.models[model_id]["file"])
        except ValueError:
            pass                           # the old schema cannot be read any more: no names
    change = Change(added=tuple(m for m in fresh if m not in old.models and m not in old.removed),
                    removed=tuple(gone), changed=tuple(changed),
                    returned=tuple(m for m in fresh if m in old.removed))
    return Snapshot(models, removed, previous, now, source), change


def added(old: Snapshot, model_id: str, record: dict) -> Snapshot:
    """The snapshot with one model fetched on its own (a shared workflow's model)."""
    removed = {m: r for m, r in old.removed.items() if m != model_id}
    return replace(old, models={**old.models, model_id: record}, removed=removed)


class SnapshotStore:
    """The snapshot file of one user folder (``path``: the path, or a callable giving it)."""

    def __init__(self, path: "Path | Callable[[], Path]"):
        self._path = path
        self._lock = threading.Lock()
        self._cache: Snapshot | None = None

    @property
    def path(self) -> Path:
        return Path(self._path() if callable(self._path) else self._path)

    def load(self) -> Snapshot:
        """The snapshot (read once); an empty one when there is none or it cannot be read."""
        with self._lock:
            if self._cache is None:
                self._cache = self._read()
            return self._cache

    def save(self, snapshot: Snapshot) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(snapshot.as_json(), ensure_ascii=False))
            self._cache = snapshot

    def _read(self) -> Snapshot:
        path = self.path
        try:
            if path.stat().st_size > MAX_BYTES:
                raise ValueError(f"it is larger than {MAX_BYTES // 2**20} MiB")
            data = json.loads(path.read_text(encoding="utf-8"))
            return snapshot_of(data)
        except FileNotFoundError:
            return Snapshot()
        except (OSError, ValueError, RecursionError, TypeError, AttributeError) as e:
            self._set_aside(e)
            return Snapshot()

    def _set_aside(self, why: Exception) -> None:
        path = self.path
        kept = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            path.replace(kept)
        except OSError as e:
            log.warning("RunComfy: the catalog snapshot %s cannot be read (%s) nor moved aside (%s); "
                        "the catalog's models are missing until the next refresh.", path, why, e)
            return
        log.warning("RunComfy: the catalog snapshot %s could not be read (%s); kept it as %s. The "
                    "catalog's models come back with the next refresh.", path, why, kept.name)


def snapshot_of(data) -> Snapshot:
    """A snapshot file's JSON as a Snapshot; ValueError when it does not have that shape."""
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ValueError("it is not a catalog snapshot of this version")
    parts = [data.get(k) for k in ("models", "removed", "previous_widgets")]
    if not all(isinstance(p, dict) for p in parts):
        raise ValueError("its models, removed or previous_widgets is not an object")
    for section in parts[:2]:
        for model_id, record in section.items():
            if not (isinstance(record, dict) and isinstance(record.get("file"), dict)
                    and isinstance(record.get("node"), dict)):
                raise ValueError(f"its entry for {str(model_id)[:80]!r} is not a model record")
    stamp = data.get("fetched_at")
    return Snapshot(parts[0], parts[1], parts[2],
                    stamp if isinstance(stamp, (int, float)) and not isinstance(stamp, bool) else None,
                    str(data.get("source") or ""))
