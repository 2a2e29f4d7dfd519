"""Model file → ModelSpec: the input schema read into a list of typed fields.

A model file is JSON (see nodes/models/): ``model_id``, ``display_name``, ``category``,
``output`` (an output kind of kinds.py: "video", "image", "audio", "3d") and
``input_schema`` copied verbatim from the model's RunComfy API page, optionally with the
catalog's price.  This module only *reads* schemas; fields.py reads one property,
comfy/factory.py turns fields into widgets, inputs/request.py values into a request.

Everything a node needs is checked here, at load time: a value that would only fail
later (in INPUT_TYPES, or when a widget is drawn) is refused now, naming the field.
Catalog quirks that are harmless are accepted and described in ``notes``.
"""
from __future__ import annotations

from .fields import parse_field
from .kinds import MAIN_OUTPUTS
from .model import MODEL_ID_RE, NODE_ID_RE, Field, ModelSpec, SchemaError, node_id_for, short
from .names import free_name
from .options import RESERVED_NAMES
from .refs import inline_refs


def parse_model(doc, path: str = "") -> ModelSpec:
    """Read a model file's JSON into a ModelSpec, or raise SchemaError with the reason."""
    where = path or "model file"
    if not isinstance(doc, dict):
        raise SchemaError(f"{where}: a model file must be a JSON object, not {type(doc).__name__}")
    model_id = doc.get("model_id")
    if not isinstance(model_id, str) or not MODEL_ID_RE.fullmatch(model_id) or ".." in model_id:
        raise SchemaError(f"{where}: 'model_id' must be a model id like 'owner/model/task', "
                          f"not {short(model_id)}")
    schema = doc.get("input_schema")
    if not isinstance(schema, dict):
        raise SchemaError(f"{where}: 'input_schema' must be a JSON object, not {short(schema)}")
    schema = inline_refs(schema)
    props = schema.get("properties")
    if not isinstance(props, dict) or not props:
        raise SchemaError(f"{where}: input_schema has no 'properties'")
    texts = {k: text_of(doc, k, where) for k in ("display_name", "category", "description", "source")}
    node_id = doc.get("node_id", None)
    if node_id is not None and (not isinstance(node_id, str) or not NODE_ID_RE.fullmatch(node_id)):
        raise SchemaError(f"{where}: 'node_id' must look like 'RunComfy_Name' (letters, digits, "
                          f"'_'), not {short(node_id)}")
    output = doc.get("output", "video")
    if output not in MAIN_OUTPUTS:
        raise SchemaError(f"{where}: output must be one of {', '.join(MAIN_OUTPUTS)}, not {short(output)}")
    required = schema.get("required", [])
    required = [required] if isinstance(required, str) else required
    if not isinstance(required, list):
        raise SchemaError(f"{where}: input_schema 'required' must be a list of keys")
    notes = [f"'required' names '{k}', which 'properties' does not describe: nothing is sent "
             "for it (the service accepts the request without it)"
             for k in required if isinstance(k, str) and k not in props]
    notes += [f"field '{k}' is described only as {short(p)}: it gets no widget and is not sent"
              for k, p in props.items() if isinstance(p, bool)]   # JSON Schema's true / false
    fields: list[Field] = []
    taken: set[str] = set(RESERVED_NAMES)
    for key, prop in props.items():
        if isinstance(prop, bool):
            continue
        if not isinstance(prop, dict):
            raise SchemaError(f"{where}: field '{key}' must be a JSON object, not {short(prop)}")
        try:
            f = parse_field(key, prop, key in required)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as e:
            raise SchemaError(f"{where}: field '{key}': {e}") from None
        f, used = free_name(f, taken)
        taken |= used
        fields.append(f)
    return ModelSpec(
        model_id=model_id, node_id=node_id or node_id_for(model_id),
        display_name=texts["display_name"] or model_id, category=texts["category"] or "Models",
        output=output, fields=tuple(fields), description=texts["description"], source=texts["source"],
        path=path, notes=tuple(notes), price=price_of(doc, where))


def price_of(doc: dict, where: str) -> dict:
    """The catalog's price as the model file keeps it (empty when it has none)."""
    price = {}
    rate = doc.get("base_price_usd")
    if rate is not None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1e6:
            raise SchemaError(f"{where}: 'base_price_usd' must be a number >= 0, not {short(rate)}")
        price["base_price_usd"] = float(rate)
    for key in ("price_unit", "pricing_note"):
        value = text_of(doc, key, where)
        if value:
            price[key] = value
    return price


def text_of(doc: dict, key: str, where: str) -> str:
    value = doc.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SchemaError(f"{where}: '{key}' must be text, not {short(value)}")
    return value
