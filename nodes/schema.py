"""Model file → ModelSpec: the input schema read into a list of typed fields.

A model file is JSON (see nodes/models/): ``model_id``, ``display_name``,
``category``, ``output`` ("video" or "image") and ``input_schema`` copied verbatim
from the model's RunComfy API page.  This module only *reads* schemas; turning
fields into widgets lives in factory.py, and values into a request in request.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

INT32_MAX = 2147483647
INT32_MIN = -2147483648

# Field kinds.  Each maps to one widget (or socket) shape in factory.py.
COMBO, INT, FLOAT, BOOL, STRING, SEED, IMAGE, IMAGE_LIST, JSON = (
    "combo", "int", "float", "bool", "string", "seed", "image", "image_list", "json")

IMAGE_KEYS = {"image_url", "img_url", "image", "input_image", "image_uri", "start_image_url"}
IMAGE_LIST_KEYS = {"image_urls", "images", "img_urls", "reference_images"}
IMAGE_FORMATS = {"image_uri", "image-uri", "image_url"}
MULTILINE_HINTS = ("prompt", "text", "caption", "description")


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
    max_items: int | None = None
    multiline: bool = False
    validations: list = field(default_factory=list)
    wire_type: str = "string"     # JSON type the service expects for this key
    problem: str = ""             # why a JSON-kind field could not be mapped

    @property
    def url_name(self) -> str:
        """Name of the URL widget that goes with an image field."""
        return f"{self.name}_url" if self.kind == IMAGE else f"{self.name}_urls"

    def socket_names(self) -> list[str]:
        if self.kind == IMAGE:
            return [self.name]
        if self.kind == IMAGE_LIST:
            return [f"{self.name}_{i}" for i in range(1, (self.max_items or 3) + 1)]
        return []


@dataclass
class ModelSpec:
    model_id: str
    node_id: str
    display_name: str
    category: str
    output: str                   # "video" or "image"
    fields: list[Field]
    description: str = ""
    source: str = ""
    path: str = ""

    @property
    def image_fields(self) -> list[Field]:
        return [f for f in self.fields if f.kind in (IMAGE, IMAGE_LIST)]


def node_id_for(model_id: str) -> str:
    return "RunComfy_" + re.sub(r"[^A-Za-z0-9]+", "_", model_id).strip("_")


def parse_model(doc: dict, path: str = "") -> ModelSpec:
    """Read a model file's JSON into a ModelSpec (raises SchemaError with the reason)."""
    where = path or doc.get("model_id") or "model file"
    for key in ("model_id", "input_schema"):
        if key not in doc:
            raise SchemaError(f"{where}: missing '{key}'")
    schema = doc["input_schema"]
    props = schema.get("properties")
    if not isinstance(props, dict) or not props:
        raise SchemaError(f"{where}: input_schema has no 'properties'")
    output = doc.get("output", "video")
    if output not in ("video", "image"):
        raise SchemaError(f"{where}: output must be 'video' or 'image', not {output!r}")
    required = set(schema.get("required", []))
    fields: list[Field] = []
    taken: set[str] = set()
    for key, prop in props.items():
        f = parse_field(key, prop if isinstance(prop, dict) else {}, key in required)
        f.name = unique_name(f.name, taken)
        taken.add(f.name)
        if f.kind in (IMAGE, IMAGE_LIST):
            taken.update(f.socket_names() + [f.url_name])
        fields.append(f)
    return ModelSpec(
        model_id=doc["model_id"],
        node_id=doc.get("node_id") or node_id_for(doc["model_id"]),
        display_name=doc.get("display_name") or doc["model_id"],
        category=doc.get("category") or "Models",
        output=output,
        fields=fields,
        description=doc.get("description", ""),
        source=doc.get("source", ""),
        path=path,
    )


def parse_field(key: str, prop: dict, required: bool) -> Field:
    f = Field(key=key, name=widget_name(key, prop.get("title", "")), kind=STRING,
              title=prop.get("title", "") or key, description=prop.get("description", "") or "",
              required=required, default=prop.get("default"),
              validations=list(prop.get("validations") or []))
    typ = prop.get("type") or infer_type(prop)
    f.wire_type = typ
    f.minimum, f.maximum = prop.get("minimum"), prop.get("maximum")
    if typ == "array" and is_image_items(key, prop):
        f.kind, f.min_items, f.max_items = IMAGE_LIST, prop.get("minItems", 1), prop.get("maxItems", 3)
        f.name, f.default = image_name(f.name), None  # the docs' example URLs are no default
    elif typ == "string" and is_image_key(key, prop):
        f.kind, f.name, f.default = IMAGE, image_name(f.name), None
    elif "enum" in prop:
        f.kind, f.choices = COMBO, list(prop["enum"])
        if f.default not in f.choices:
            f.default = f.choices[0]
    elif typ == "integer":
        f.kind = SEED if is_seed(key, f.title) else INT
    elif typ in ("float", "number"):
        f.kind = FLOAT
    elif typ == "boolean":
        f.kind = BOOL
    elif typ == "string":
        f.max_length = prop.get("maxLength")
        f.multiline = is_multiline(key, f.title, f.max_length)
    else:
        f.kind, f.problem = JSON, f"type {typ!r} has no widget; give the value as JSON text"
    return f


def infer_type(prop: dict) -> str:
    """Some schemas omit "type" (VACE Fun's prompt); infer it from the default or enum."""
    sample = prop.get("default", (prop.get("enum") or [""])[0])
    if isinstance(sample, bool):
        return "boolean"
    if isinstance(sample, int):
        return "integer"
    if isinstance(sample, float):
        return "float"
    if isinstance(sample, (list, dict)):
        return "array" if isinstance(sample, list) else "object"
    return "string"


def is_image_key(key: str, prop: dict) -> bool:
    bare = strip_node_prefix(key).lower()
    return (prop.get("format") in IMAGE_FORMATS or bare in IMAGE_KEYS
            or bare.endswith("_image_url") or bare.endswith("_img_url"))


def is_image_items(key: str, prop: dict) -> bool:
    items = prop.get("items") or {}
    return items.get("format") in IMAGE_FORMATS or strip_node_prefix(key).lower() in IMAGE_LIST_KEYS


def is_seed(key: str, title: str) -> bool:
    bare = strip_node_prefix(key).lower()
    return bare == "seed" or bare.endswith("_seed") or title.strip().lower() in ("seed", "种子", "種子")


def is_multiline(key: str, title: str, max_length: int | None) -> bool:
    text = f"{key} {title}".lower()
    return any(h in text for h in MULTILINE_HINTS) or (max_length or 0) > 200


def strip_node_prefix(key: str) -> str:
    """'600_prompt' → 'prompt': ComfyUI-workflow style keys carry a node number."""
    return re.sub(r"^\d+_", "", key)


def widget_name(key: str, title: str) -> str:
    """A short readable widget name: from an ASCII title, else from the wire key.

    "Resolution (W:H)" → "resolution", "Number of Frames" → "number_of_frames",
    a Chinese title → the key ("negative_prompt"), "600_prompt" → "prompt".
    """
    base = re.sub(r"\([^)]*\)", "", title)
    if base.strip() and base.isascii():
        name = re.sub(r"[^a-z0-9]+", "_", base.lower()).strip("_")
        if name:
            return name
    name = re.sub(r"[^a-z0-9]+", "_", strip_node_prefix(key).lower()).strip("_")
    return name or "value"


def image_name(name: str) -> str:
    """'image_urls' → 'image', 'img_url' → 'image': the socket gets the plain noun."""
    name = re.sub(r"_?urls?$", "", name)
    return "image" if name in ("", "img", "images", "imgs") else name


def unique_name(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name}_{n}" in taken:
        n += 1
    return f"{name}_{n}"
