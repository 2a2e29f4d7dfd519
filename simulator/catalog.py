"""The simulator's model catalog: the pack's model files plus made-up extra models.

Answers ``GET /v1/models/{model_id}`` in the shape RunComfy's clients read
(model_id, display_name, description, categories, kind, base_price_usd, price_unit,
input_schema, and pricing_note when known) and lists models for ``GET /v1/models``.

Prices: a model file's own ``base_price_usd`` / ``price_unit`` (the acme files), else
``prices.json`` (the seeds, whose files live in nodes/models and carry none), else
$0.25 per request.  See ``pricing.py`` for the units.
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent
FOLDERS = (ROOT.parent / "nodes" / "models", ROOT / "catalog")
PRICES = ROOT / "prices.json"
DEFAULT_PRICE = {"base_price_usd": 0.25, "price_unit": "request"}


class Catalog:
    def __init__(self, folders=FOLDERS, prices=PRICES):
        self.models: dict[str, dict] = {}
        self.prices = {k: v for k, v in json.loads(Path(prices).read_text(encoding="utf-8")).items()
                       if not k.startswith("_")}
        for folder in folders:
            for path in sorted(Path(folder).glob("*.json")):
                doc = json.loads(path.read_text(encoding="utf-8"))
                self.models[doc["model_id"]] = doc

    def has(self, model_id: str) -> bool:
        return model_id in self.models

    def schema(self, model_id: str) -> dict:
        return self.models[model_id]["input_schema"]

    def output_kind(self, model_id: str) -> str:
        return self.models.get(model_id, {}).get("output", "video")

    def pricing(self, model_id: str) -> dict:
        """base_price_usd, price_unit and (when known) pricing_note for the model."""
        doc = self.models.get(model_id, {})
        source = doc if "base_price_usd" in doc else self.prices.get(model_id, DEFAULT_PRICE)
        out = {"base_price_usd": float(source["base_price_usd"]),
               "price_unit": source.get("price_unit", "request")}
        if source.get("pricing_note"):
            out["pricing_note"] = source["pricing_note"]
        return out

    def price(self, model_id: str) -> float:
        return self.pricing(model_id)["base_price_usd"]

    def entry(self, model_id: str, include_schema: bool = True) -> dict | None:
        doc = self.models.get(model_id)
        if doc is None:
            return None
        kind = doc.get("output", "video")
        entry = {"model_id": model_id, "display_name": doc.get("display_name", model_id),
                 "description": doc.get("description", ""),
                 "categories": [doc.get("category", "Models")],
                 "kind": doc.get("kind", f"image-to-{kind}"),
                 **self.pricing(model_id)}
        if include_schema:
            entry["input_schema"] = doc["input_schema"]
        return entry

    def listing(self, search: str, limit: int, offset: int, include_schema: bool) -> dict:
        ids = [m for m in sorted(self.models) if search.lower() in m.lower()]
        page = ids[offset: offset + limit]
        return {"models": [self.entry(m, include_schema) for m in page], "total": len(ids),
                "limit": limit, "offset": offset}
