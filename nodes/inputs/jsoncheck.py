"""A JSON value against the part of JSON Schema the catalog uses, before paying.

Fields with no widget of their own (objects, arrays of objects such as
``loras: [{"path", "scale"}]``) are typed as JSON text; this checks the parsed value
against the field's own schema: types (``float`` read as number), enums, numeric bounds,
lengths, item counts, ``items``, ``properties``, ``required`` and
``additionalProperties: false``.  The first problem is returned as a sentence part.
"""
from __future__ import annotations

import math

TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
MAX_DEPTH = 20


def problem(value, schema, where: str = "the value", depth: int = 0) -> str | None:
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    typ = schema.get("type")
    types = typ if isinstance(typ, list) else [typ] if isinstance(typ, str) else []
    known = [t for t in types if t in TYPES]
    if known and not any(TYPES[t](value) for t in known):
        return f"{where} must be {' or '.join(known)}, not {type_name(value)}"
    if isinstance(schema.get("enum"), list) and value not in schema["enum"]:
        return f"{where} is {value!r}, not one of {schema['enum'][:10]}"
    return (number_problem(value, schema, where) or length_problem(value, schema, where)
            or array_problem(value, schema, where, depth) or object_problem(value, schema, where, depth))


def number_problem(value, schema, where):
    if not TYPES["number"](value):
        return None
    lo, hi = schema.get("minimum"), schema.get("maximum")
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} must be a finite number"
    if isinstance(lo, (int, float)) and value < lo:
        return f"{where} is {value}, below the minimum {lo}"
    if isinstance(hi, (int, float)) and value > hi:
        return f"{where} is {value}, above the maximum {hi}"
    return None


def length_problem(value, schema, where):
    if not isinstance(value, str):
        return None
    hi, lo = schema.get("maxLength"), schema.get("minLength")
    if isinstance(hi, int) and len(value) > hi:
        return f"{where} is {len(value)} characters long, over {hi}"
    if isinstance(lo, int) and len(value) < lo:
        return f"{where} is {len(value)} characters long, under {lo}"
    return None


def array_problem(value, schema, where, depth):
    if not isinstance(value, list):
        return None
    lo, hi = schema.get("minItems"), schema.get("maxItems")
    if isinstance(lo, int) and len(value) < lo:
        return f"{where} has {len(value)} items; at least {lo} are needed"
    if isinstance(hi, int) and len(value) > hi:
        return f"{where} has {len(value)} items; at most {hi} are allowed"
    for i, item in enumerate(value):
        found = problem(item, schema.get("items"), f"{where}[{i}]", depth + 1)
        if found:
            return found
    return None


def object_problem(value, schema, where, depth):
    if not isinstance(value, dict):
        return None
    props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    for key in schema.get("required") or []:
        if isinstance(key, str) and key not in value:
            return f"{where} needs the key '{key}'"
    if schema.get("additionalProperties") is False:
        extra = [k for k in value if k not in props]
        if extra:
            return f"{where} has the key '{extra[0]}', which the model does not take"
    for key, sub in props.items():
        if key in value:
            found = problem(value[key], sub, f"{where}.{key}", depth + 1)
            if found:
                return found
    return None


def type_name(value) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false",
            type(None): "null"}.get(type(value), "a number" if isinstance(value, (int, float)) else
                                   type(value).__name__)
