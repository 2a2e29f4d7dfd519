"""Model prices: the catalog's ``base_price_usd`` and ``price_unit`` for every model node.

Where a price comes from, best first:
  1. the price cache ``<user>/runcomfy/prices.json``, refreshed from ``GET /v1/models/{id}``
     in a background thread at start (app/refresh.py: never delaying ComfyUI), kept with the time it
     was fetched: offline, the last known price is used and its age is said;
  2. the model file's own ``base_price_usd`` / ``price_unit`` (``catalog add`` stores them);
  3. unknown.
"""
from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import RunComfyError
from ..core.files import write_private_json

log = logging.getLogger("runcomfy")
STALE_S = 24 * 3600          # a cached price older than this is labelled with its age


@dataclass
class Price:
    rate: float | None = None       # USD per unit
    unit: str = ""                  # as the catalog says: second, image, output, request, ...
    note: str = ""
    source: str = ""                # "catalog", "model file", or "" (unknown)
    fetched_at: float | None = None

    @property
    def known(self) -> bool:
        return self.rate is not None

    def age_text(self, now: float | None = None) -> str:
        """'' for a fresh price, else 'price from 3 days ago'."""
        if self.fetched_at is None or self.source != "catalog":
            return ""
        age = (now or time.time()) - self.fetched_at
        if age < STALE_S:
            return ""
        days = age / 86400
        return f"price from {days:.0f} day{'s' if days >= 1.5 else ''} ago"

    def label(self) -> str:
        if not self.known:
            return "price unknown"
        unit = self.unit.replace("per_", "") or "request"
        age = self.age_text()
        return f"${self.rate:g} per {unit} ({self.source}{', ' + age if age else ''})"


def price_from(doc: dict, source: str, fetched_at: float | None = None) -> Price:
    rate = doc.get("base_price_usd")
    if isinstance(rate, str):
        try:
            rate = float(rate)
        except ValueError:
            rate = None
    ok = isinstance(rate, (int, float)) and not isinstance(rate, bool) and math.isfinite(rate) and rate >= 0
    return Price(float(rate) if ok else None, str(doc.get("price_unit") or ""),
                 str(doc.get("pricing_note") or ""), source if ok else "", fetched_at)


def cached_models(data) -> dict:
    """The cache file's ``models`` as {model id: {price keys, fetched_at}}; ValueError when the
    file does not have that shape (it is then set aside, never half read)."""
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise ValueError("it has no 'models' object")
    for model_id, entry in models.items():
        stamp = entry.get("fetched_at") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not (stamp is None or (isinstance(stamp, (int, float))
                                                                and not isinstance(stamp, bool)
                                                                and math.isfinite(stamp))):
            raise ValueError(f"its entry for {str(model_id)[:80]!r} is not a price with a time")
    return models


class PriceBook:
    """The price cache of one user folder, and the background refresh that fills it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._cache: dict | None = None

    def _load(self) -> dict:
        if self._cache is None:
            try:
                self._cache = cached_models(json.loads(self.path.read_text(encoding="utf-8")))
            except FileNotFoundError:
                self._cache = {}
            except (OSError, ValueError, RecursionError) as e:
                self._cache = {}
                self._set_aside(e)
        return self._cache

    def _set_aside(self, why: Exception) -> None:
        """Keep a damaged cache beside the next one (never delete it) and say so once."""
        kept = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            self.path.replace(kept)
        except OSError as e:
            log.warning("RunComfy: the price cache %s is damaged (%s) and could not be moved "
                        "aside (%s); prices are unknown until it is fixed or removed.",
                        self.path, why, e)
            return
        log.warning("RunComfy: the price cache %s was damaged (%s); kept it as %s. Prices are "
                    "unknown until the next refresh writes a new one.", self.path, why, kept.name)

    def get(self, spec) -> Price:
        with self._lock:
            cached = self._load().get(spec.model_id)
        if isinstance(cached, dict):
            price = price_from(cached, "catalog", cached.get("fetched_at"))
            if price.known:
                return price
        return price_from(getattr(spec, "price", {}) or {}, "model file")

    def store(self, model_id: str, entry: dict) -> None:
        record = {k: entry.get(k) for k in ("base_price_usd", "price_unit", "pricing_note")
                  if entry.get(k) is not None}
        if not price_from(record, "catalog").known:
            return
        with self._lock:
            models = self._load()
            models[model_id] = {**record, "fetched_at": time.time()}
            write_private_json(self.path, {"models": models})

    def store_many(self, entries: dict) -> None:
        """Every model's price a catalog listing gave (model id → entry), written once."""
        now = time.time()
        with self._lock:
            models = self._load()
            for model_id, entry in entries.items():
                record = {k: entry.get(k) for k in ("base_price_usd", "price_unit", "pricing_note")
                          if entry.get(k) is not None}
                if price_from(record, "catalog").known:
                    models[model_id] = {**record, "fetched_at": now}
            write_private_json(self.path, {"models": models})

    def refresh(self, model_ids, client) -> int:
        """Fetch each model's catalog entry; returns how many prices were updated."""
        done = 0
        for model_id in model_ids:
            try:
                entry = client.model(model_id)
            except RunComfyError as e:
                log.info("RunComfy: no price for %s from the catalog now (%s); using the last "
                         "known one", model_id, e)
                continue
            if isinstance(entry, dict):
                try:
                    self.store(model_id, entry.get("model") if isinstance(entry.get("model"), dict)
                               else entry)
                    done += 1
                except OSError as e:
                    log.warning("RunComfy: could not write the price cache %s (%s)", self.path, e)
                    return done
        return done
