"""Catalog entries a client cannot use, as the real world might send them
(``Catalog(broken=True)``, ``--broken-entries``).  They are listed after every other model,
in this order, so they never push a good model to another page; the huge one is last.

  not_object         a bare string where an entry object should be
  schema_not_object  an entry whose ``input_schema`` is a list
  dotdot_id          ``model_id`` with ".." segments (a path escape if used as a file name)
  bad_chars_id       ``model_id`` with a space and "#" (no node id can hold them)
  many_properties    an input schema of 5,000 properties (~0.4 MB)
  ref_cycle          properties whose ``$ref`` chain loops (A → B → A, and "#" itself)
  huge_description   a description of HUGE_BYTES (10 MiB) of text

Page sizes: every page is small except the one holding ``huge_description``: 10 MiB plus
the rest of its page (≤ 100 entries × 8 KB ≈ 0.8 MB with schemas; ~0.5 MB more when
``many_properties`` shares it), so under 12 MiB.  A client reading pages of up to 8 MiB
fails on that page only; one allowing 32 MiB per catalog page reads it whole.  Choose a
subset (``broken={"ref_cycle", ...}``) to leave it out.
"""
from __future__ import annotations

NAMES = ("not_object", "schema_not_object", "dotdot_id", "bad_chars_id", "many_properties",
         "ref_cycle", "huge_description")
HUGE_BYTES = 10 * 1024 * 1024
MANY = 5000
IDS = {"schema_not_object": "broken/schema-not-object", "dotdot_id": "broken/../../escape/model",
       "bad_chars_id": "broken/my model #2", "many_properties": "broken/many-properties",
       "ref_cycle": "broken/ref-cycle", "huge_description": "broken/huge-description"}
SENTENCE = "This model description goes on and on, as a broken catalog entry might. "


def chosen(which) -> tuple[str, ...]:
    if which is True or which == "all":
        return NAMES
    names = [which] if isinstance(which, str) else list(which)
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise ValueError(f"unknown broken entries {unknown}; known: {', '.join(NAMES)}")
    return tuple(n for n in NAMES if n in names)


def broken_items(which=True) -> list[tuple[str, object]]:
    """(name, item) for each chosen entry, in NAMES order.  A dict item with an
    ``input_schema`` object is a model doc (submittable); anything else is listed as is."""
    return [(name, make(name)) for name in chosen(which)]


def base(name: str, schema) -> dict:
    return {"model_id": IDS[name], "display_name": f"Broken: {name.replace('_', ' ')}",
            "description": f"A simulator catalog entry that is unusable on purpose ({name}).",
            "categories": ["Broken"], "kind": "text-to-video", "output": "video",
            "base_price_usd": 0.1, "price_unit": "request", "input_schema": schema}


def prompt_schema() -> dict:
    return {"type": "object", "required": ["prompt"],
            "properties": {"prompt": {"title": "Prompt", "type": "string"}}}


def make(name: str):
    if name == "not_object":
        return "broken/not-an-object"
    if name == "schema_not_object":
        doc = base(name, [{"name": "prompt", "type": "string"}])
        return {k: v for k, v in doc.items() if k != "output"}
    if name == "many_properties":
        props = {f"p{i:04d}": {"title": f"P{i}", "type": "integer", "default": 0} for i in range(MANY)}
        return base(name, {"type": "object", "properties": props})
    if name == "ref_cycle":
        return base(name, {
            "type": "object", "required": ["prompt"],
            "properties": {"prompt": {"title": "Prompt", "type": "string"},
                           "graph": {"$ref": "#/definitions/A"}, "self": {"$ref": "#"}},
            "definitions": {"A": {"type": "object", "properties": {"b": {"$ref": "#/definitions/B"}}},
                            "B": {"type": "object", "properties": {"a": {"$ref": "#/definitions/A"}}}}})
    doc = base(name, prompt_schema())
    if name == "huge_description":
        doc["description"] = (SENTENCE * (HUGE_BYTES // len(SENTENCE) + 1))[:HUGE_BYTES]
    return doc
