"""Model file → ModelSpec: the input schema read into a list of typed fields.

A model file is JSON (see nodes/models/): ``model_id``, ``display_name``,
``category``, ``output`` ("video" or "image") and ``input_schema`` copied verbatim
from the model's RunComfy API page.  This module only *reads* schemas; turning
fields into widgets lives in factory.py, and values into a request in request.py.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from .options import RESERVED_NAMES

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

    @property
    def media_fields(self) -> list[Field]:
        return self.image_fields

    @property
    def output_kinds(self) -> tuple[str, ...]:
        return (self.output,)


NODE_ID_RE = re.compile(r"RunComfy_[A-Za-z0-9_]{1,120}")
MODEL_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)*")
OUTPUTS = ("video", "image")
SCALARS = (str, int, float, bool)


def node_id_for(model_id: str) -> str:
    return "RunComfy_" + re.sub(r"[^A-Za-z0-9]+", "_", model_id).strip("_")


def parse_model(doc, path: str = "") -> ModelSpec:
    """Read a model file's JSON into a ModelSpec, or raise SchemaError with the reason.

    Everything a node needs is checked here, at load time: a value that would only fail
    later (in INPUT_TYPES, or when a widget is drawn) is refused now, naming the field.
    """
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
    props = schema.get("properties")
    if not isinstance(props, dict) or not props:
        raise SchemaError(f"{where}: input_schema has no 'properties'")
    texts = {k: text_of(doc, k, where) for k in ("display_name", "category", "description", "source")}
    node_id = doc.get("node_id", None)
    if node_id is not None and (not isinstance(node_id, str) or not NODE_ID_RE.fullmatch(node_id)):
        raise SchemaError(f"{where}: 'node_id' must look like 'RunComfy_Name' (letters, digits, "
                          f"'_'), not {short(node_id)}")
    output = doc.get("output", "video")
    if output not in OUTPUTS:
        raise SchemaError(f"{where}: output must be one of {', '.join(OUTPUTS)}, not {short(output)}")
    required = schema.get("required", [])
    if not isinstance(required, list):
        raise SchemaError(f"{where}: input_schema 'required' must be a list of keys")
    fields: list[Field] = []
    taken: set[str] = set(RESERVED_NAMES)
    for key, prop in props.items():
        if not isinstance(prop, dict):
            raise SchemaError(f"{where}: field '{key}' must be a JSON object, not {short(prop)}")
        try:
            f = parse_field(key, prop, key in required)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as e:
            raise SchemaError(f"{where}: field '{key}': {e}") from None
        assign_names(f, taken)
        fields.append(f)
    return ModelSpec(
        model_id=model_id,
        node_id=node_id or node_id_for(model_id),
        display_name=texts["display_name"] or model_id,
        category=texts["category"] or "Models",
        output=output,
        fields=fields,
        description=texts["description"],
        source=texts["source"],
        path=path,
    )


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


def assign_names(f: Field, taken: set[str]) -> None:
    """Give ``f`` a widget name whose every input (sockets, URL widget) is still free."""
    base, n = f.name, 1
    while True:
        f.name = base if n == 1 else f"{base}_{n}"
        names = {f.name, *f.socket_names(), *([f.url_name] if f.kind in (IMAGE, IMAGE_LIST) else [])}
        if not names & taken:
            taken.update(names)
            return
        n += 1


def number(prop: dict, key: str, *, whole: bool = False):
    """A numeric schema value (numeric strings accepted, as the catalog has them), or None."""
    value = prop.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = float(value.strip())
        except ValueError:
            raise ValueError(f"'{key}' must be a number, not {short(value)}") from None
        value = int(parsed) if math.isfinite(parsed) and parsed == int(parsed) else parsed
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"'{key}' must be a number, not {short(prop.get(key))}")
    if whole:
        if value != int(value) or value < 0:
            raise ValueError(f"'{key}' must be a whole number >= 0, not {short(prop.get(key))}")
        return int(value)
    return value


def parse_field(key: str, prop: dict, required: bool) -> Field:
    title, description = prop.get("title", "") or "", prop.get("description", "") or ""
    if not isinstance(title, str) or not isinstance(description, str):
        raise ValueError("'title' and 'description' must be text")
    validations = prop.get("validations") or []
    if not isinstance(validations, list) or not all(isinstance(v, dict) for v in validations):
        raise ValueError("'validations' must be a list of objects")
    f = Field(key=key, name=widget_name(key, title), kind=STRING, title=title or key,
              description=description, required=required, default=prop.get("default"),
              validations=list(validations))
    typ = prop.get("type") or infer_type(prop)
    if not isinstance(typ, str):
        raise ValueError(f"'type' must be text, not {short(typ)}")
    f.wire_type = typ
    f.minimum, f.maximum = number(prop, "minimum"), number(prop, "maximum")
    if f.minimum is not None and f.maximum is not None and f.minimum > f.maximum:
        raise ValueError(f"'minimum' {f.minimum} is above 'maximum' {f.maximum}")
    if typ == "array" and is_image_items(key, prop):
        f.kind, f.min_items, f.max_items = IMAGE_LIST, number(prop, "minItems", whole=True), \
            number(prop, "maxItems", whole=True)
        f.min_items = 1 if f.min_items is None else f.min_items
        f.max_items = 3 if f.max_items is None else f.max_items
        f.name, f.default = image_name(f.name), None  # the docs' example URLs are no default
    elif typ == "string" and is_image_key(key, prop):
        f.kind, f.name, f.default = IMAGE, image_name(f.name), None
    elif "enum" in prop:
        choices = prop["enum"]
        if not isinstance(choices, list) or not choices or not all(
                isinstance(c, SCALARS) and not (isinstance(c, float) and not math.isfinite(c))
                for c in choices):
            raise ValueError("'enum' must be a non-empty list of texts or numbers")
        f.kind, f.choices = COMBO, list(choices)
        if f.default not in f.choices:
            f.default = f.choices[0]
    elif typ == "integer":
        f.kind = SEED if is_seed(key, f.title) else INT
        f.default = checked_default(f.default, whole=True)
    elif typ in ("float", "number"):
        f.kind = FLOAT
        f.default = checked_default(f.default)
    elif typ == "boolean":
        f.kind = BOOL
        if f.default is not None and not isinstance(f.default, bool):
            raise ValueError(f"'default' of a boolean must be true or false, not {short(f.default)}")
    elif typ == "string":
        f.max_length = number(prop, "maxLength", whole=True)
        f.multiline = is_multiline(key, f.title, f.max_length)
        if f.default is not None and not isinstance(f.default, str):
            f.default = str(f.default) if isinstance(f.default, SCALARS) else None
    else:
        f.kind, f.problem = JSON, f"type {typ!r} has no widget; give the value as JSON text"
    return f


def checked_default(value, whole: bool = False):
    """A number default (numeric strings accepted), or None; anything else is refused."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"'default' must be a number, not {short(value)}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"'default' must be a number, not {short(value)}")
    if whole and value != int(value):
        raise ValueError(f"'default' of an integer must be whole, not {value}")
    return int(value) if whole else value


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
