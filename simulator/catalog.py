"""The simulator's model catalog: the pack's model files plus made-up extra models.

Answers ``GET /v1/models/{model_id}`` in the shape RunComfy's clients read
(model_id, display_name, description, categories, kind, base_price_usd, price_unit,
input_schema, and pricing_note when known) and lists models for ``GET /v1/models``
(``{"models": [...], "total", "limit", "offset"}``; no ``output``: the real catalog does
not say it, clients infer it).

Prices: a model file's own ``base_price_usd`` / ``price_unit`` (the acme files), else
``prices.json`` (the seeds, whose files live in nodes/models and carry none), else
$0.25 per request.  See ``pricing.py`` for the units.

On request it grows (``size``: generated models up to that many, see ``generated.py``)
and carries unusable entries (``broken``: see ``broken.py``), listed after all the
others.  It can change while the simulator runs (``add_model``, ``remove_model``,
``change_schema``, ``insert_property``), under a lock: a listing or an answer sees a
model before or after a change, never half of one.  Docs are never changed in place;
a change puts a new doc in ``models``.
"""
from __future__ import annotations

import json
import re
import threading
from pathlib import Path

from .broken import broken_items
from .generated import generated_models

ROOT = Path(__file__).resolve().parent
FOLDERS = (ROOT.parent / "nodes" / "models", ROOT / "catalog")
PRICES = ROOT / "prices.json"
DEFAULT_PRICE = {"base_price_usd": 0.25, "price_unit": "request"}
OUTPUT_WORDS = (("video", "video"), ("image", "image"), ("audio", "audio"), ("speech", "audio"),
                ("music", "audio"), ("3d", "3d"), ("mesh", "3d"))


class Catalog:
    def __init__(self, folders=FOLDERS, prices=PRICES, size: int | None = None, broken=False):
        self.lock = threading.RLock()
        self.models: dict[str, dict] = {}
        self.raw: list[tuple[int, object]] = []   # (order, item): listed as is, not submittable
        self._tail = 0                              # order of the next entry listed at the end
        self.prices = {k: v for k, v in json.loads(Path(prices).read_text(encoding="utf-8")).items()
                       if not k.startswith("_")}
        for folder in folders:
            for path in sorted(Path(folder).glob("*.json")):
                doc = json.loads(path.read_text(encoding="utf-8"))
                self.models[doc["model_id"]] = doc
        if size:
            self.fill_to(size)
        if broken:
            self.add_broken(broken)

    # -- reading ------------------------------------------------------------------------
    def get(self, model_id: str) -> dict | None:
        """The model's doc (a submittable model), or None."""
        with self.lock:
            return self.models.get(model_id)

    def has(self, model_id: str) -> bool:
        return self.get(model_id) is not None

    def schema(self, model_id: str) -> dict:
        return self.models[model_id]["input_schema"]

    def output_kind(self, model_id: str) -> str:
        return (self.get(model_id) or {}).get("output", "video")

    def pricing(self, model_id: str, doc: dict | None = None) -> dict:
        """base_price_usd, price_unit and (when known) pricing_note for the model."""
        doc = doc if doc is not None else (self.get(model_id) or {})
        source = doc if "base_price_usd" in doc else self.prices.get(model_id, DEFAULT_PRICE)
        out = {"base_price_usd": float(source["base_price_usd"]),
               "price_unit": source.get("price_unit", "request")}
        if source.get("pricing_note"):
            out["pricing_note"] = source["pricing_note"]
        return out

    def price(self, model_id: str) -> float:
        return self.pricing(model_id)["base_price_usd"]

    def entry(self, model_id: str, include_schema: bool = True):
        """The ``GET /v1/models/{id}`` answer, or None for a model it does not have."""
        with self.lock:
            doc = self.models.get(model_id)
            raw = None if doc is not None else next(
                (item for _, item in self.raw if isinstance(item, dict) and item.get("model_id") == model_id), None)
        if doc is None:
            return None if raw is None else render_raw(raw, include_schema)
        return self.render(model_id, doc, include_schema)

    def render(self, model_id: str, doc: dict, include_schema: bool) -> dict:
        kind = doc.get("output", "video")
        cats = doc.get("categories")
        entry = {"model_id": model_id, "display_name": doc.get("display_name", model_id),
                 "description": doc.get("description", ""),
                 "categories": list(cats) if isinstance(cats, list) else [doc.get("category", "Models")],
                 "kind": doc.get("kind", f"image-to-{kind}"),
                 **self.pricing(model_id, doc)}
        if include_schema:
            entry["input_schema"] = doc["input_schema"]
        return entry

    def listing(self, search: str = "", limit: int = 50, offset: int = 0,
                include_schema: bool = False, category: str = "") -> dict:
        """One page: the models sorted by id, then the entries listed at the end (in the
        order they were added), filtered by ``search`` (model id or display name) and
        ``category``; ``total`` counts every match."""
        with self.lock:
            docs, raw = dict(self.models), list(self.raw)
        items = [(m, docs[m]) for m in sorted(docs) if docs[m].get("tail") is None]
        tail = [(d["tail"], (m, d)) for m, d in docs.items() if d.get("tail") is not None]
        tail += [(order, (None, item)) for order, item in raw]
        items += [pair for _, pair in sorted(tail, key=lambda t: t[0])]
        found = [pair for pair in items if matches(pair, search, category)]
        page = [self.render(m, d, include_schema) if m is not None else render_raw(d, include_schema)
                for m, d in found[offset: offset + limit]]
        return {"models": page, "total": len(found), "limit": limit, "offset": offset}

    # -- changing (thread-safe) ---------------------------------------------------------------
    def add_model(self, doc: dict) -> None:
        """Add (or replace) a model.  ``doc`` is a model file or a catalog entry: it needs a
        ``model_id`` and an ``input_schema`` object; ``output`` (what the simulator makes),
        when absent, is read from its ``kind`` ("…-to-video"), else video."""
        if not isinstance(doc, dict) or not isinstance(doc.get("model_id"), str) \
                or not isinstance(doc.get("input_schema"), dict):
            raise ValueError("a model needs a 'model_id' string and an 'input_schema' object")
        doc = {**doc, "output": doc.get("output") or output_of(doc)}
        with self.lock:
            self.models[doc["model_id"]] = doc

    def remove_model(self, model_id: str) -> bool:
        """Take a model out: no longer listed; GET and submit answer 404 (error 400001).
        Jobs already submitted keep running.  False when it had no such model."""
        with self.lock:
            gone = self.models.pop(model_id, None) is not None
            before = len(self.raw)
            self.raw = [(o, item) for o, item in self.raw
                        if not (isinstance(item, dict) and item.get("model_id") == model_id)]
            return gone or len(self.raw) != before

    def change_schema(self, model_id: str, input_schema: dict) -> dict:
        """Give the model a new input schema (KeyError when it has no such model)."""
        with self.lock:
            doc = self.models[model_id]
            self.models[model_id] = {**doc, "input_schema": input_schema}
            return input_schema

    def insert_property(self, model_id: str, key: str, prop: dict, index: int | None = None,
                        required: bool = False) -> dict:
        """A new schema with ``key`` inserted among the properties at ``index`` (default: the
        middle), optionally required; returns it."""
        with self.lock:
            schema = self.models[model_id]["input_schema"]
            props = list((schema.get("properties") or {}).items())
            at = len(props) // 2 if index is None else index
            props.insert(at, (key, prop))
            new = {**schema, "properties": dict(props)}
            if required:
                new["required"] = [*schema.get("required", []), key]
            return self.change_schema(model_id, new)

    def fill_to(self, size: int) -> int:
        """Add generated models until the catalog holds ``size`` (none when it already does);
        returns how many were added.  Deterministic: model k is the same whatever ``size``."""
        with self.lock:
            docs = generated_models(max(0, size - len(self.models)), taken=set(self.models))
            for doc in docs:
                self.models[doc["model_id"]] = doc
            return len(docs)

    def add_broken(self, which=True) -> list[str]:
        """Add unusable entries (``broken.py``), listed after every other model; returns
        their names.  Those with an ``input_schema`` object can also be read and submitted."""
        names = []
        with self.lock:
            for name, item in broken_items(which):
                names.append(name)
                if isinstance(item, dict) and isinstance(item.get("input_schema"), dict):
                    self.models[item["model_id"]] = {**item, "tail": self._tail}
                else:
                    self.raw.append((self._tail, item))
                self._tail += 1
        return names


def render_raw(item, include_schema: bool):
    """An entry kept as the service would send it (not an object, or no usable schema)."""
    if isinstance(item, dict) and not include_schema:
        return {k: v for k, v in item.items() if k != "input_schema"}
    return item


def matches(pair, search: str, category: str) -> bool:
    model_id, doc = pair
    if not isinstance(doc, dict):
        return not category and search.lower() in str(doc).lower()
    names = f"{model_id or doc.get('model_id', '')}\n{doc.get('display_name', '')}".lower()
    if search and search.lower() not in names:
        return False
    if category:
        cats = doc.get("categories")
        cats = cats if isinstance(cats, list) else [doc.get("category", "Models")]
        return category.lower() in (str(c).lower() for c in cats)
    return True


def output_of(doc: dict) -> str:
    """What a model added at run time outputs: "…-to-video" etc. in its kind, else video."""
    m = re.search(r"to[-_ ]?([a-z0-9]+)", str(doc.get("kind", "")).lower())
    return next((out for word, out in OUTPUT_WORDS if m and m.group(1).startswith(word)), "video")
