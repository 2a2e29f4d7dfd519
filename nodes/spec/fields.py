"""One schema property → one Field: its kind, bounds, choices and what loading did with it.

The real catalog is messier than JSON Schema: ``"type": "float"``, ``"default": null``,
numbers given as strings, enums of numeric strings with a default outside them, media
formats on arrays without ``items``, arrays of objects.  Each is accepted and noted in
``Field.notes`` (the add report prints them); a value that cannot work is refused.
"""
from __future__ import annotations

import json
import math

from ..errors import clip
from ..inputs.media import recognise, strip_node_prefix
from .names import media_name, widget_name
from .schema import (BOOL, COMBO, FLOAT, INT, JSON, MEDIA, MEDIA_LIST, NOT_SET, SEED, STRING, Field,
                     short)

MULTILINE_HINTS = ("prompt", "text", "caption", "description")
SCALARS = (str, int, float, bool)


TYPE_ALIASES = {"int": "integer", "double": "number", "decimal": "number", "bool": "boolean",
                "str": "string", "text": "string"}
TRUTHY, FALSY = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def parse_field(key: str, prop: dict, required: bool) -> Field:
    prop = normalize(prop)
    title, description = prop.get("title", "") or "", prop.get("description", "") or ""
    if not isinstance(title, str):
        raise ValueError("'title' must be text")
    notes = []
    if not isinstance(description, str):
        description = json.dumps(description, ensure_ascii=False, default=str)
        notes.append("description is not text; shown as JSON")
    f = Field(key=key, name=widget_name(key, title), kind=STRING, title=title or key,
              description=description, required=required,
              default=prop.get("default", prop.get("const")),
              validations=read_validations(prop, notes), prop=prop, notes=notes)
    typ = prop.get("type") or infer_type(prop)
    if not isinstance(typ, str):
        raise ValueError(f"'type' must be text, not {short(typ)}")
    if typ in TYPE_ALIASES:
        f.notes.append(f"type {typ!r} read as {TYPE_ALIASES[typ]!r}")
        typ = TYPE_ALIASES[typ]
    f.wire_type = typ
    read_bounds(f, prop)
    media = recognise(key, prop, title)
    if media is not None:
        read_media(f, prop, *media)
    elif "enum" in prop:
        read_enum(f, prop)
    elif typ == "integer":
        f.kind = SEED if is_seed(key, f.title) else INT
        f.default = checked_default(f, whole=True)
    elif typ in ("float", "number"):
        f.kind = FLOAT
        f.default = checked_default(f)
        if typ == "float":
            f.notes.append("type 'float' read as a number")
    elif typ == "boolean":
        f.kind = BOOL
        f.default = boolean_default(f)
    elif typ == "string":
        f.max_length = number(prop, "maxLength", whole=True)
        f.multiline = is_multiline(key, f.title, f.max_length)
        if f.default is not None and not isinstance(f.default, str):
            f.default = str(f.default) if isinstance(f.default, SCALARS) else None
    else:
        read_json(f, prop, typ)
    if f.kind in (INT, FLOAT) and f.default is not None and not (
            (f.minimum is None or f.default >= f.minimum) and (f.maximum is None or f.default <= f.maximum)):
        f.notes.append(f"default {f.default:g} is outside {f.minimum}–{f.maximum}; the widget "
                       "starts at the nearest allowed value")
    if f.kind in (INT, FLOAT) and f.default is None:
        start = f.minimum if f.minimum is not None and f.minimum > 0 else \
            f.maximum if f.maximum is not None and f.maximum < 0 else 0
        f.notes.append(f"no default: the widget starts at {start:g}, and that value is sent "
                       "(a number widget cannot be empty)")
    elif prop.get("default", 0) is None and "default" in prop and f.kind not in (BOOL, SEED, COMBO):
        f.notes.append("default null: the widget starts empty and nothing is sent until set")
    return f


def read_validations(prop: dict, notes: list) -> list:
    """The rules as a list of objects.  One object alone, or a rule written as bare text, is
    kept as such: a rule the pack cannot read is listed as unchecked, never dropped."""
    raw = prop.get("validations") or []
    if not isinstance(raw, list):
        raw = [raw]
    if any(not isinstance(v, dict) for v in raw):
        notes.append("some validations are not objects; listed as rules not checked here")
    return [v if isinstance(v, dict) else {"validation_rule": bare_rule(v)} for v in raw]


def bare_rule(value) -> str:
    return clip(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str))


def read_bounds(f: Field, prop: dict) -> None:
    """minimum / maximum; an infinite bound is no bound, and bounds that contradict each
    other are left to the service (noted) rather than making the model unusable."""
    for key in ("minimum", "maximum"):
        raw = prop.get(key)
        if isinstance(raw, str) and raw.strip().lstrip("+-").lower() in ("inf", "infinity"):
            f.notes.append(f"'{key}' {raw!r} read as no bound")
            continue
        setattr(f, key, number(prop, key))
    if f.minimum is not None and f.maximum is not None and f.minimum > f.maximum:
        f.notes.append(f"'minimum' {f.minimum} is above 'maximum' {f.maximum}: both ignored, "
                       "RunComfy checks the value")
        f.minimum = f.maximum = None


def normalize(prop: dict) -> dict:
    """Nullable and union forms as generated schemas write them, read as their one real type:
    ``"type": ["string", "null"]`` and ``"anyOf": [{"type": "string", …}, {"type": "null"}]``
    (the outer keys, such as title and default, win over the chosen alternative's)."""
    typ = prop.get("type")
    if isinstance(typ, list):
        real = [t for t in typ if t != "null"]
        return {**prop, "type": real[0] if real else "string"}
    for union in ("anyOf", "oneOf"):
        options = prop.get(union)
        if "type" not in prop and isinstance(options, list):
            real = [o for o in options if isinstance(o, dict) and o.get("type") != "null"]
            if len(real) >= 1:
                return {**real[0], **{k: v for k, v in prop.items() if k != union}}
    return prop


def read_media(f: Field, prop: dict, kind, many: bool) -> None:
    f.media, f.kind, f.default = kind.name, MEDIA_LIST if many else MEDIA, None  # example URLs are no default
    f.name = media_name(f.name, kind.name)
    if many:
        f.min_items = number(prop, "minItems", whole=True) or 0
        f.max_items = number(prop, "maxItems", whole=True)
        if f.max_items is not None and f.min_items > f.max_items:
            raise ValueError(f"'minItems' {f.min_items} is above 'maxItems' {f.max_items}")
        if f.required and f.min_items == 0:
            f.min_items = 1
    how = prop.get("format") or (prop.get("items") or {}).get("format") or f"the key '{f.key}'"
    what = f"list of {kind.name}s" if many else kind.name
    f.notes.append(f"{what} (from {how}): {f.sockets} {kind.socket_type} socket(s) + URL widget "
                   f"'{f.url_name}'" + (f", {f.min_items}–{f.max_items if f.max_items is not None else 'any'} "
                                        "items" if many else ""))


def read_enum(f: Field, prop: dict) -> None:
    """A combo.  The default is matched to a choice as text too (a default 5 for the choice
    "5").  An optional field with no usable default gets a last choice NOT_SET, where it
    starts, which sends nothing: RunComfy's own default applies, not our first choice (an
    aspect ratio left unset often means "as the input image")."""
    raw = prop["enum"]
    choices = [c for c in raw if c is not None] if isinstance(raw, list) else []
    if not choices or not all(isinstance(c, SCALARS) and not (isinstance(c, float) and not math.isfinite(c))
                              for c in choices):
        raise ValueError("'enum' must be a non-empty list of texts or numbers")
    f.kind, f.choices = COMBO, choices
    given = f.default
    exact = [c for c in choices if c == given and type(c) is type(given)]
    as_text = [c for c in choices if str(c) == str(given)]
    if given is not None and (exact or as_text):
        f.default = (exact or as_text)[0]
    elif not f.required and NOT_SET not in choices:
        f.choices, f.default = choices + [NOT_SET], NOT_SET
        f.notes.append(f"{'no default' if given is None else f'default {given!r} is not a choice'}: the "
                       f"widget starts at '{NOT_SET}', which sends nothing (RunComfy's default applies)")
    else:
        if given is not None:
            f.notes.append(f"default {given!r} is not one of the choices; the widget starts at {choices[0]!r}")
        f.default = choices[0]
    if all(isinstance(c, str) for c in choices) and any(_numeric(c) for c in choices):
        f.notes.append("choices are numbers written as text; they are sent as text, exactly")


def read_json(f: Field, prop: dict, typ: str) -> None:
    f.kind = JSON
    items = prop.get("items") if isinstance(prop.get("items"), dict) else None
    if typ == "array" and items is not None and items.get("type") == "object":
        f.problem = "a list of objects: give it as JSON text, e.g. " + example(items)
    else:
        f.problem = f"type {typ!r} has no widget; give the value as JSON text"
    f.notes.append(f"{f.problem}; checked against its schema before paying")


def example(items: dict) -> str:
    props = items.get("properties") if isinstance(items.get("properties"), dict) else {}
    sample = {k: {"string": "…", "number": 1.0, "integer": 1, "boolean": True}.get(
        (v or {}).get("type") if isinstance(v, dict) else None, "…") for k, v in list(props.items())[:4]}
    return json.dumps([sample], ensure_ascii=False)


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


def checked_default(f: Field, whole: bool = False):
    """A number default (numeric strings accepted), or None.  One that cannot be read as a
    number is dropped (noted: the widget starts at its minimum, or 0); a fraction on an
    integer field is rounded (noted)."""
    value = f.default
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        f.notes.append(f"default {short(f.default)} is not a number; the widget starts at its minimum or 0")
        return None
    if whole and value != int(value):
        f.notes.append(f"default {value} of an integer field rounded to {round(value)}")
        return int(round(value))
    return int(value) if whole else value


def boolean_default(f: Field):
    """true / false; "true", "0" and the like are read (noted), anything else is dropped."""
    value = f.default
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    read = True if text in TRUTHY else False if text in FALSY else None
    f.notes.append(f"default {short(value)} of a switch read as {read}" if read is not None
                   else f"default {short(value)} of a switch is not true or false; it starts off")
    return read


def infer_type(prop: dict) -> str:
    """Some schemas omit "type" (VACE Fun's prompt); infer it from the default or enum."""
    enum = prop.get("enum")
    sample = prop.get("default", enum[0] if isinstance(enum, list) and enum else "")
    if isinstance(sample, bool):
        return "boolean"
    if isinstance(sample, int):
        return "integer"
    if isinstance(sample, float):
        return "float"
    if isinstance(sample, (list, dict)):
        return "array" if isinstance(sample, list) else "object"
    return "string"


def is_seed(key: str, title: str) -> bool:
    bare = strip_node_prefix(key).lower()
    return bare == "seed" or bare.endswith("_seed") or title.strip().lower() in ("seed", "种子", "種子")


def is_multiline(key: str, title: str, max_length: int | None) -> bool:
    text = f"{key} {title}".lower()
    return any(h in text for h in MULTILINE_HINTS) or (max_length or 0) > 200


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
