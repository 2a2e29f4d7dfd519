"""One schema property → one Field: its kind, bounds, choices and what loading did with it.

The real catalog is messier than JSON Schema: ``"type": "float"``, ``"default": null``,
numbers given as strings, enums of numeric strings with a default outside them, media
formats on arrays without ``items``, arrays of objects.  Each is accepted and noted in
``Field.notes`` (the add report prints them); a value that cannot work is refused.
"""
from __future__ import annotations

import json
import math
from dataclasses import replace

from ..core.errors import clip
from .kinds import recognise, strip_node_prefix
from .names import media_name, widget_name
from .model import (BOOL, COMBO, FLOAT, INT, JSON, MEDIA, MEDIA_LIST, NOT_SET, SEED, STRING, Field,
                     short)

MULTILINE_HINTS = ("prompt", "text", "caption", "description")
SCALARS = (str, int, float, bool)


TYPE_ALIASES = {"int": "integer", "double": "number", "decimal": "number", "bool": "boolean",
                "str": "string", "text": "string"}
TRUTHY, FALSY = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def parse_field(key: str, prop: dict, required: bool) -> Field:
    """One schema property → its Field, built once (frozen): every reader below returns the
    values it read and the notes it wants kept, never changes a field."""
    prop = normalize(prop)
    title, description = prop.get("title", "") or "", prop.get("description", "") or ""
    if not isinstance(title, str):
        raise ValueError("'title' must be text")
    notes = []
    if not isinstance(description, str):
        description = json.dumps(description, ensure_ascii=False, default=str)
        notes.append("description is not text; shown as JSON")
    validations, said = read_validations(prop)
    notes += said
    typ = prop.get("type") or infer_type(prop)
    if not isinstance(typ, str):
        raise ValueError(f"'type' must be text, not {short(typ)}")
    if typ in TYPE_ALIASES:
        notes.append(f"type {typ!r} read as {TYPE_ALIASES[typ]!r}")
        typ = TYPE_ALIASES[typ]
    minimum, maximum, said = read_bounds(prop)
    notes += said
    common = dict(key=key, name=widget_name(key, title), title=title or key, description=description,
                  required=required, validations=tuple(validations), wire_type=typ, prop=prop,
                  minimum=minimum, maximum=maximum)
    default = prop.get("default", prop.get("const"))
    media = recognise(key, prop, title)
    if media is not None:
        f = media_field(common, prop, *media)
    elif "enum" in prop:
        choices, default, said = read_enum(prop, default, required)
        notes += said
        f = Field(**common, kind=COMBO, choices=tuple(choices), default=default)
    elif typ == "integer":
        default, said = checked_default(default, whole=True)
        notes += said
        f = Field(**common, kind=SEED if is_seed(key, common["title"]) else INT, default=default)
    elif typ in ("float", "number"):
        default, said = checked_default(default)
        notes += said + (["type 'float' read as a number"] if typ == "float" else [])
        f = Field(**common, kind=FLOAT, default=default)
    elif typ == "boolean":
        default, said = boolean_default(default)
        notes += said
        f = Field(**common, kind=BOOL, default=default)
    elif typ == "string":
        max_length = number(prop, "maxLength", whole=True)
        if default is not None and not isinstance(default, str):
            default = str(default) if isinstance(default, SCALARS) else None
        f = Field(**common, kind=STRING, default=default, max_length=max_length,
                  multiline=is_multiline(key, common["title"], max_length))
    else:
        problem = json_problem_text(prop, typ)
        notes.append(f"{problem}; checked against its schema before paying")
        f = Field(**common, kind=JSON, default=default, problem=problem)
    return replace(f, notes=tuple(notes) + f.notes + number_notes(f, prop))


def number_notes(f: Field, prop: dict) -> tuple:
    """What a number widget starts at when the schema's default does not say it plainly."""
    if f.kind in (INT, FLOAT) and f.default is not None and not (
            (f.minimum is None or f.default >= f.minimum) and (f.maximum is None or f.default <= f.maximum)):
        return (f"default {f.default:g} is outside {f.minimum}–{f.maximum}; the widget starts at the "
                "nearest allowed value",)
    if f.kind in (INT, FLOAT) and f.default is None:
        start = f.minimum if f.minimum is not None and f.minimum > 0 else \
            f.maximum if f.maximum is not None and f.maximum < 0 else 0
        return (f"no default: the widget starts at {start:g}, and that value is sent (a number "
                "widget cannot be empty)",)
    if prop.get("default", 0) is None and "default" in prop and f.kind not in (BOOL, SEED, COMBO):
        return ("default null: the widget starts empty and nothing is sent until set",)
    return ()


def read_validations(prop: dict) -> tuple[list, list]:
    """(the rules as a list of objects, notes).  One object alone, or a rule written as bare
    text, is kept as such: a rule the pack cannot read is listed as unchecked, never dropped."""
    raw = prop.get("validations") or []
    if not isinstance(raw, list):
        raw = [raw]
    notes = (["some validations are not objects; listed as rules not checked here"]
             if any(not isinstance(v, dict) for v in raw) else [])
    return [v if isinstance(v, dict) else {"validation_rule": bare_rule(v)} for v in raw], notes


def bare_rule(value) -> str:
    return clip(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str))


def read_bounds(prop: dict) -> tuple:
    """(minimum, maximum, notes); an infinite bound is no bound, and bounds that contradict
    each other are left to the service (noted) rather than making the model unusable."""
    bounds, notes = {}, []
    for key in ("minimum", "maximum"):
        raw = prop.get(key)
        if isinstance(raw, str) and raw.strip().lstrip("+-").lower() in ("inf", "infinity"):
            notes.append(f"'{key}' {raw!r} read as no bound")
            bounds[key] = None
            continue
        bounds[key] = number(prop, key)
    lo, hi = bounds["minimum"], bounds["maximum"]
    if lo is not None and hi is not None and lo > hi:
        notes.append(f"'minimum' {lo} is above 'maximum' {hi}: both ignored, RunComfy checks the value")
        lo = hi = None
    return lo, hi, notes


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


def media_field(common: dict, prop: dict, kind, many: bool) -> Field:
    """A media field: its sockets' kind, item counts, and a note saying what it became.
    The schema's default (an example URL) is no default."""
    min_items = max_items = None
    if many:
        min_items = number(prop, "minItems", whole=True) or 0
        max_items = number(prop, "maxItems", whole=True)
        if max_items is not None and min_items > max_items:
            raise ValueError(f"'minItems' {min_items} is above 'maxItems' {max_items}")
        if common["required"] and min_items == 0:
            min_items = 1
    f = Field(**{**common, "name": media_name(common["name"], kind.name)}, kind=MEDIA_LIST if many else MEDIA,
              media=kind.name, min_items=min_items, max_items=max_items)
    how = prop.get("format") or (prop.get("items") or {}).get("format") or f"the key '{f.key}'"
    what = f"list of {kind.name}s" if many else kind.name
    counts = f", {min_items}–{max_items if max_items is not None else 'any'} items" if many else ""
    return replace(f, notes=(f"{what} (from {how}): {f.sockets} {kind.socket_type} socket(s) + URL "
                             f"widget '{f.url_name}'{counts}",))


def read_enum(prop: dict, given, required: bool) -> tuple[list, object, list]:
    """(choices, default, notes) of a combo.  The default is matched to a choice as text too
    (a default 5 for the choice "5").  An optional field with no usable default gets a last
    choice NOT_SET, where it starts, which sends nothing: RunComfy's own default applies, not
    our first choice (an aspect ratio left unset often means "as the input image")."""
    raw = prop["enum"]
    choices = [c for c in raw if c is not None] if isinstance(raw, list) else []
    if not choices or not all(isinstance(c, SCALARS) and not (isinstance(c, float) and not math.isfinite(c))
                              for c in choices):
        raise ValueError("'enum' must be a non-empty list of texts or numbers")
    notes = []
    if all(isinstance(c, str) for c in choices) and any(_numeric(c) for c in choices):
        notes.append("choices are numbers written as text; they are sent as text, exactly")
    exact = [c for c in choices if c == given and type(c) is type(given)]
    as_text = [c for c in choices if str(c) == str(given)]
    if given is not None and (exact or as_text):
        return choices, (exact or as_text)[0], notes
    if not required and NOT_SET not in choices:
        why = "no default" if given is None else f"default {given!r} is not a choice"
        return choices + [NOT_SET], NOT_SET, [f"{why}: the widget starts at '{NOT_SET}', which sends "
                                              "nothing (RunComfy's default applies)", *notes]
    if given is not None:
        notes.insert(0, f"default {given!r} is not one of the choices; the widget starts at {choices[0]!r}")
    return choices, choices[0], notes


def json_problem_text(prop: dict, typ: str) -> str:
    """Why a field gets no widget of its own but JSON text (and how to write it)."""
    items = prop.get("items") if isinstance(prop.get("items"), dict) else None
    if typ == "array" and items is not None and items.get("type") == "object":
        return "a list of objects: give it as JSON text, e.g. " + example(items)
    return f"type {typ!r} has no widget; give the value as JSON text"


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


def checked_default(value, whole: bool = False) -> tuple[object, list]:
    """(a number default (numeric strings accepted) or None, notes).  One that cannot be read
    as a number is dropped (noted: the widget starts at its minimum, or 0); a fraction on an
    integer field is rounded (noted)."""
    given = value
    if value is None:
        return None, []
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None, [f"default {short(given)} is not a number; the widget starts at its minimum or 0"]
    if whole and value != int(value):
        return int(round(value)), [f"default {value} of an integer field rounded to {round(value)}"]
    return (int(value) if whole else value), []


def boolean_default(value) -> tuple[object, list]:
    """(true / false, notes); "true", "0" and the like are read (noted), anything else is dropped."""
    if value is None or isinstance(value, bool):
        return value, []
    text = str(value).strip().lower()
    read = True if text in TRUTHY else False if text in FALSY else None
    return read, [f"default {short(value)} of a switch read as {read}" if read is not None
                  else f"default {short(value)} of a switch is not true or false; it starts off"]


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
