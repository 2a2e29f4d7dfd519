"""Catalog prices fetched in the background at start: never delaying ComfyUI, never fatal."""
from __future__ import annotations

import logging
import threading

from ..core.errors import RunComfyError
from ..remote.transport import RetryPolicy

log = logging.getLogger("runcomfy")


def refresh_prices_in_background(rt, model_ids) -> threading.Thread | None:
    """Start refreshing the price book without waiting for it (no token: nothing to ask,
    no thread)."""
    try:
        client = rt.client(policy=RetryPolicy(attempts=2, rate_limit_budget_s=30), timeout=(5, 10))
    except RunComfyError:
        return None
    ids = sorted(set(model_ids))
    thread = threading.Thread(target=_refresh_quietly, args=(rt.prices, ids, client),
                              name="runcomfy-prices", daemon=True)
    thread.start()
    return thread


def _refresh_quietly(book, ids, client) -> None:
    try:
        book.refresh(ids, client)
    except Exception:  # noqa: BLE001 - a background refresh never crashes the process
        log.warning("RunComfy: price refresh failed", exc_info=True)
