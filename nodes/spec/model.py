"""What a model is, once read: a ModelSpec (its id, names, output kind and price) holding one
typed Field per schema property.  schema.py reads model files into these; fields.py reads
one property."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


NOT_SET = "(not set)"   # the choice an optional combo without a usable default starts at: sends nothing
INT32_MAX = 2147483647
INT32_MIN = -2147483648

# Field kinds.  Each maps to one widget (or socket) shape in factory.py.
COMBO, INT, FLOAT, BOOL, STRING, SEED, MEDIA, MEDIA_LIST, JSON = (
    "combo", "int", "float", "bool", "string", "seed", "media", "media_list", "json")
SOCKET_CAP = 16          # sockets a media list gets at most (the catalog's lists go up to 16);
                         # further items are URL lines
DEFAULT_SOCKETS = 4      # sockets of a list whose schema gives no maxItems
NODE_ID_RE = re.compile(r"RunComfy_[A-Za-z0-9_]{1,120}")
MODEL_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*(/[A-Za-z0-9][A-Za-z0-9._\-]*)*")


class SchemaError(ValueError):
    """A model file that cannot be turned into a node."""


@dataclass(frozen=True)
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
    choices: tuple | None = None  # enum values as the schema gives them (typed)
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None  # None: no limit the schema states
    multiline: bool = False
    validations: tuple = ()
    wire_type: str = "string"     # JSON type the service expects for this key
    problem: str = ""             # why a JSON-kind field could not be mapped
    media: str = ""               # media kind name (inputs/media.py) of a MEDIA / MEDIA_LIST field
    prop: dict = field(default_factory=dict, compare=False)   # the property as the schema gives it
    notes: tuple = ()             # what loading did with the catalog's quirks

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


@dataclass(frozen=True)
class ModelSpec:
    model_id: str
    node_id: str
    display_name: str
    category: str
    output: str                   # the main output kind (spec/kinds.py): "video", "image", "audio", "3d"
    fields: tuple                 # Field, in schema order
    description: str = ""
    source: str = ""
    path: str = ""
    notes: tuple = ()             # model-level quirks (for the add report)
    price: dict = field(default_factory=dict, compare=False)   # base_price_usd, price_unit, pricing_note

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


def short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
