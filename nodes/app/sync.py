"""RunComfy's whole catalog, kept current: fetched in the background, kept as a snapshot.

With a token, the catalog is fetched (``GET /v1/models?include_schema=true``, page by page)
when ComfyUI starts and then once a day, or when "Refresh models" is pressed.  Each entry is
checked as a model file is at load (its schema read, its widgets built and JSON-encoded);
one that cannot become a node is skipped with one log line naming it and why.  The fetch is
bounded (pages, bytes, time, models); one that fails half way leaves the last snapshot as it
was.  A listing cut by a bound updates the models it saw and removes none.  Listeners (the
node library) hear of every change; nothing here blocks a running job or ComfyUI's start.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field

from ..core.errors import ApiError, RunComfyError, clip
from ..inputs.widgets import input_types, widget_names
from ..remote.transport import RetryPolicy
from ..spec.kinds import MEDIA_KIND
from ..spec.model import MODEL_ID_RE, SchemaError
from ..spec.schema import parse_model
from .catalog import CatalogError, entry_key, model_file_from_entry, page_of, unwrap
from .snapshot import Change, Snapshot, SnapshotStore, added, merge

log = logging.getLogger("runcomfy")

DAY_S = 24 * 3600.0
MAX_PROPERTIES = 500            # a schema with more fields is no model's
MAX_TEXT = 64 * 1024            # characters of a description, a title or a display name
MAX_ENTRY = 1024 * 1024         # bytes of one entry as JSON


@dataclass(frozen=True)
class Bounds:
    page_size: int = 100
    pages: int = 100                        # 10,000 models: far more than the catalog holds
    models: int = 5000
    total_bytes: int = 64 * 1024 * 1024
    page_bytes: int = 32 * 1024 * 1024      # one page of 100 schemas is a few MB
    seconds: float = 300.0


class RefreshFailed(RunComfyError):
    """The catalog could not be fetched whole enough to trust; the last snapshot stays."""


@dataclass
class Status:
    refreshing: bool = False
    last_error: str = ""
    last_change: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)      # [(model id, why)] of the last refresh


def record_of(entry) -> tuple[str, dict]:
    """One catalog entry → (model id, snapshot record), or CatalogError saying why it cannot
    be a node (it is then skipped)."""
    entry = unwrap(entry)
    if not isinstance(entry, dict):
        raise CatalogError(f"the entry is a JSON {type(entry).__name__}, not an object")
    model_id = entry.get("model_id")
    if not isinstance(model_id, str) or not MODEL_ID_RE.fullmatch(model_id) or ".." in model_id:
        raise CatalogError(f"its model id {clip(repr(model_id), 80)} cannot name a node")
    for key in ("description", "display_name", "title"):
        if isinstance(entry.get(key), str) and len(entry[key]) > MAX_TEXT:
            raise CatalogError(f"its {key} is {len(entry[key]):,} characters long")
    schema = entry.get("input_schema")
    props = schema.get("properties") if isinstance(schema, dict) else None
    if isinstance(props, dict) and len(props) > MAX_PROPERTIES:
        raise CatalogError(f"its schema has {len(props):,} fields (at most {MAX_PROPERTIES})")
    if len(json.dumps(entry, default=str)) > MAX_ENTRY:
        raise CatalogError(f"the entry is larger than {MAX_ENTRY // 1024} KB")
    doc = model_file_from_entry(entry)
    try:
        spec = parse_model(doc)
        json.dumps(input_types(spec), allow_nan=False)
    except (SchemaError, ValueError, TypeError, RecursionError) as e:
        raise CatalogError(f"its schema cannot become a node: {clip(e, 160)}") from None
    takes = sorted({f.media for f in spec.media_fields}, key=list(MEDIA_KIND).index)
    return model_id, {"file": doc, "node": {"output": spec.output, "takes": takes,
                                            "price_unit": str(doc.get("price_unit") or "")}}


def old_widgets(doc: dict) -> list:
    """The widget names a model file's schema gives (those a saved workflow used)."""
    try:
        return widget_names(parse_model(doc))
    except SchemaError as e:
        raise ValueError(str(e)) from None


def fetch(client, bounds: Bounds, clock) -> tuple[dict, list, bool]:
    """(model id → record of every usable model, [(model id, why skipped)], complete):
    the listing page by page, within the bounds.  RefreshFailed when a page cannot be read
    or the bytes or time run out."""
    records, skipped, seen, offset = {}, [], set(), 0
    start, read_before = clock.monotonic(), client.transport.answer_bytes
    for _ in range(bounds.pages):
        if clock.monotonic() - start > bounds.seconds:
            raise RefreshFailed(f"the catalog was still not fetched after {bounds.seconds:.0f} s")
        try:
            data = client.models({"limit": bounds.page_size, "offset": offset, "include_schema": "true"},
                                 max_answer=bounds.page_bytes)
        except RunComfyError as e:
            raise RefreshFailed(f"page {offset // bounds.page_size + 1} could not be read ({clip(e, 200)})") from None
        if client.transport.answer_bytes - read_before > bounds.total_bytes:
            raise RefreshFailed(f"the catalog is larger than {bounds.total_bytes // 2**20} MiB")
        items, total = page_of(data)
        new = [e for e in items if entry_key(e) not in seen] if items else []
        if items and not new:
            log.warning("RunComfy: the catalog kept sending the same page; keeping the %d models read",
                        len(records))
            return records, skipped, False
        for entry in new:
            seen.add(entry_key(entry))
            if len(records) >= bounds.models:
                log.warning("RunComfy: the catalog has more than %d models; keeping the first", bounds.models)
                return records, skipped, False
            try:
                model_id, record = record_of(entry)
            except CatalogError as e:
                name = entry.get("model_id") if isinstance(entry, dict) else None
                skipped.append((clip(name if isinstance(name, str) else repr(entry), 80), str(e)))
                continue
            records[model_id] = record
        offset += len(items)
        if not items or len(items) < bounds.page_size or (isinstance(total, int) and offset >= total):
            return records, skipped, True
    log.warning("RunComfy: the catalog was still sending models after %d pages", bounds.pages)
    return records, skipped, False


class CatalogSync:
    """The catalog as this process knows it: its snapshot and the refreshes that keep it."""

    def __init__(self, rt, bounds: Bounds | None = None):
        self.rt, self.bounds = rt, bounds or Bounds()
        self.store = SnapshotStore(lambda: rt.host.user_dir() / "catalog.json")
        self.status = Status()
        self._listeners: list = []
        self._lock = threading.Lock()          # one refresh at a time
        self._guard = threading.Lock()
        self._wake = threading.Event()

    def snapshot(self) -> Snapshot:
        return self.store.load()

    def subscribe(self, listener) -> None:
        """``listener(snapshot, change)`` after every refresh that changed the snapshot."""
        with self._guard:
            self._listeners.append(listener)

    def client(self):
        return self.rt.client(policy=RetryPolicy(attempts=3, rate_limit_budget_s=60), timeout=(10, 60))

    # -- refreshing ----------------------------------------------------------------------------
    def refresh(self) -> Change:
        """Fetch the catalog now (waiting for a refresh already running); the change it made.
        RunComfyError when it could not be fetched: the snapshot is left as it was."""
        with self._lock:
            self.status.refreshing = True
            try:
                change = self._refresh(self.client())
            except RunComfyError as e:
                self.status.last_error = str(e)
                raise
            finally:
                self.status.refreshing = False
        return change

    def _refresh(self, client) -> Change:
        records, skipped, complete = fetch(client, self.bounds, self.rt.clock)
        for model_id, why in skipped:
            log.warning("RunComfy: skipping catalog model %s: %s", model_id, why)
        if complete and not records and self.snapshot().models:
            raise RefreshFailed("the catalog answered with no usable model; keeping the last snapshot")
        snapshot, change = merge(self.snapshot(), records, complete=complete, now=time.time(),
                                 source=client.base_url, widget_names=old_widgets)
        self.store.save(snapshot)
        self.rt.prices.store_many({m: r["file"] for m, r in records.items()})
        self.status.last_error, self.status.skipped = "", skipped
        self.status.last_change = {k: len(v) for k, v in vars(change).items()}
        log.info("RunComfy: the catalog has %d models (%d new, %d removed, %d changed)",
                 len(snapshot.models), len(change.added), len(change.removed), len(change.changed))
        self._tell(snapshot, change)
        return change

    def _tell(self, snapshot: Snapshot, change: Change) -> None:
        with self._guard:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(snapshot, change)
            except Exception:  # noqa: BLE001 - one listener's fault never stops a refresh
                log.warning("RunComfy: a catalog listener failed", exc_info=True)

    def has_token(self) -> bool:
        try:
            self.rt.settings.api_token()
            return True
        except RunComfyError:
            return False

    def refresh_in_background(self) -> threading.Thread | None:
        """Start a refresh and return at once (no token: nothing to ask, no thread)."""
        if not self.has_token():
            return None
        thread = threading.Thread(target=self._refresh_quietly, name="runcomfy-catalog", daemon=True)
        thread.start()
        return thread

    def _refresh_quietly(self) -> None:
        try:
            self.refresh()
        except RunComfyError as e:
            log.warning("RunComfy: the catalog could not be refreshed (%s); its last snapshot is used", e)
        except Exception:  # noqa: BLE001 - a background refresh never crashes the process
            log.warning("RunComfy: the catalog refresh failed", exc_info=True)

    def keep_fresh(self, every_s: float = DAY_S) -> threading.Thread:
        """Refresh now (in the background) and then every ``every_s`` (a day)."""
        def loop():
            while True:
                if self.has_token():
                    self._refresh_quietly()
                self.rt.clock.sleep(every_s)
        thread = threading.Thread(target=loop, name="runcomfy-catalog-daily", daemon=True)
        thread.start()
        return thread

    # -- one model a shared workflow needs ---------------------------------------------------------
    def fetch_model(self, model_id: str) -> bool:
        """Fetch one model this snapshot does not have (a colleague's newer catalog) and add it;
        True when it is now in the snapshot.  Offline or unknown: False, logged."""
        if model_id in self.snapshot().models:
            return True
        try:
            model_id, record = record_of(self.client().model(model_id))
        except ApiError as e:
            log.warning("RunComfy: model %s of a workflow is not in RunComfy's catalog (%s)", model_id, e)
            return False
        except (CatalogError, RunComfyError) as e:
            log.warning("RunComfy: model %s of a workflow could not be fetched (%s)", model_id, e)
            return False
        with self._lock:
            snapshot = added(self.snapshot(), model_id, record)
            self.store.save(snapshot)
        self.rt.prices.store_many({model_id: record["file"]})
        self._tell(snapshot, Change(added=(model_id,)))
        return True

    def state(self) -> dict:
        """What the RunComfy tab shows about the catalog."""
        snap = self.snapshot()
        return {"models": len(snap.models), "removed": len(snap.removed), "fetched_at": snap.fetched_at,
                "refreshing": self.status.refreshing, "error": self.status.last_error,
                "last_change": self.status.last_change, "skipped": len(self.status.skipped)}
