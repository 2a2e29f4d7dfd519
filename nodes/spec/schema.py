"""Model file → ModelSpec: the input schema read into a list of typed fields.

A model file is JSON (see nodes/models/): ``model_id``, ``display_name``, ``category``,
``output`` (a kind from results/outputs.py: "video", "image", "audio") and
``input_schema`` copied verbatim from the model's RunComfy API page, optionally with the
catalog's price.  This module only *reads* schemas; fields.py reads one property,
factory.py turns fields into widgets, request.py values into a request.

Everything a node needs is checked here, at load time: a value that would only fail
later (in INPUT_TYPES, or when a widget is drawn) is refused now, naming the field.
Catalog quirks that are harmless are accepted and described in ``notes``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .options import RESERVED_NAMES

NOT_SET = "(not set)"   # the choice an optional combo without a usable default starts at: sends nothing
INT32_MAX = 2147483647
INT32_MIN = -2147483648

# Field kinds.  Each maps to one widget (or socket) shape in factory.py.
COMBO, INT, FLOAT, BOOL, STRING, SEED, MEDIA, MEDIA_LIST, JSON = (
    "combo", "int", "float", "bool", "string", "seed", "media", "media_list", "json")
SOCKET_CAP = 6           # sockets a media list gets at most; further items are URL lines
DEFAULT_SOCKETS = 4      # sockets of a list whose schema gives no maxItems
OUTPUT_KINDS = ("video", "image", "audio")
NODE_ID_RE = re.compile(r"RunComfy_[A-Za-z0-9_]{1,120}")
MODEL_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)*")


class SchemaError(ValueError):
    """A model file that cannot be turned into a node."""


@dataclass
class Field:
    key: str                      # wire name, sent exactly (e.g. "602_widthx602_height")
    name: str                     # widget / socket name shown in ComfyUI (e.g. "resolution")
    kind: str
    title: str = ""
    description: str = ""
    required: bool = False        # required by the schema
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: list | None = None   # enum values as the schema gives them (typed)
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None  # None: no limit the schema states
    multiline: bool = False
    validations: list = field(default_factory=list)
    wire_type: str = "string"     # JSON type the service expects for this key
    problem: str = ""             # why a JSON-kind field could not be mapped
    media: str = ""               # media kind name (inputs/media.py) of a MEDIA / MEDIA_LIST field
    prop: dict = field(default_factory=dict)    # the property as the schema gives it
    notes: list = field(default_factory=list)   # what loading did with the catalog's quirks

    @property
    def url_name(self) -> str:
        """Name of the URL widget that goes with a media field."""
        return f"{self.name}_url" if self.kind == MEDIA else f"{self.name}_urls"

    @property
    def sockets(self) -> int:
        if self.kind == MEDIA:
            return 1
        if self.kind == MEDIA_LIST:
            return min(SOCKET_CAP, self.max_items if self.max_items is not None else DEFAULT_SOCKETS)
        return 0

    def socket_names(self) -> list[str]:
        if self.kind == MEDIA:
            return [self.name]
        return [f"{self.name}_{i}" for i in range(1, self.sockets + 1)]


@dataclass
class ModelSpec:
    model_id: str
    node_id: str
    display_name: str
    category: str
    output: str                   # the main output kind: "video", "image" or "audio"
    fields: list[Field]
    description: str = ""
    source: str = ""
    path: str = ""
    notes: list = field(default_factory=list)   # model-level quirks (for the add report)
    price: dict = field(default_factory=dict)   # base_price_usd, price_unit, pricing_note

    @property
    def media_fields(self) -> list[Field]:
        return [f for f in self.fields if f.kind in (MEDIA, MEDIA_LIST)]

    def media_fields_of(self, kind: str) -> list[Field]:
        return [f for f in self.media_fields if f.media == kind]

    @property
    def image_fields(self) -> list[Field]:
        return self.media_fields_of("image")

    @property
    def output_kinds(self) -> tuple[str, ...]:
        return (self.output,)


def node_id_for(model_id: str) -> str:
    return "RunComfy_" + re.sub(r"[^A-Za-z0-9]+", "_", model_id).strip("_")


def parse_model(doc, path: str = "") -> ModelSpec:
    """Read a model file's JSON into a ModelSpec, or raise SchemaError with the reason."""
    from .fields import parse_field
    from .names import assign_names
    from .refs import inline_refs
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
    if output not in OUTPUT_KINDS:
        raise SchemaError(f"{where}: output must be one of {', '.join(OUTPUT_KINDS)}, not {short(output)}")
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
        assign_names(f, taken)
        fields.append(f)
    return ModelSpec(
        model_id=model_id, node_id=node_id or node_id_for(model_id),
        display_name=texts["display_name"] or model_id, category=texts["category"] or "Models",
        output=output, fields=fields, description=texts["description"], source=texts["source"],
        path=path, notes=notes, price=price_of(doc, where))


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


def short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def text_of(doc: dict, key: str, where: str) -> str:
    value = doc.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SchemaError(f"{where}: '{key}' must be text, not {short(value)}")
    return value
