"""The simulator's model catalog: the pack's model files plus made-up extra models.

Answers ``GET /v1/models/{model_id}`` in the shape RunComfy's clients read
(model_id, display_name, description, categories, kind, base_price_usd, price_unit,
input_schema) and lists models for ``GET /v1/models``.
"""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent
FOLDERS = (ROOT.parent / "nodes" / "models", ROOT / "catalog")


class Catalog:
    def __init__(self, folders=FOLDERS):
        self.models: dict[str, dict] = {}
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

    def price(self, model_id: str) -> float:
        return float(self.models.get(model_id, {}).get("base_price_usd", 0.25))

    def entry(self, model_id: str, include_schema: bool = True) -> dict | None:
        doc = self.models.get(model_id)
        if doc is None:
            return None
        kind = doc.get("output", "video")
        entry = {"model_id": model_id, "display_name": doc.get("display_name", model_id),
                 "description": doc.get("description", ""),
                 "categories": [doc.get("category", "Models")],
                 "kind": doc.get("kind", f"image-to-{kind}"),
                 "base_price_usd": self.price(model_id),
                 "price_unit": "per_request"}
        if include_schema:
            entry["input_schema"] = doc["input_schema"]
        return entry

    def listing(self, search: str, limit: int, offset: int, include_schema: bool) -> dict:
        ids = [m for m in sorted(self.models) if search.lower() in m.lower()]
        page = ids[offset: offset + limit]
        return {"models": [self.entry(m, include_schema) for m in page], "total": len(ids),
                "limit": limit, "offset": offset}
