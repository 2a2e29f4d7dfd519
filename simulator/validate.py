"""The simulator's own check of a submit body against a model's input schema.

Written independently of the pack's request builder on purpose: if the pack sends a
wrong key or type, the simulator must catch it, the way the real service answers 422.
"""
from __future__ import annotations

import base64
import io

from PIL import Image

TYPES = {"string": str, "integer": int, "float": (int, float), "number": (int, float),
         "boolean": bool, "array": list, "object": dict}


def check_body(schema: dict, body) -> list[dict]:
    """A list of 422 `detail` items ({loc, msg, type}); empty when the body is valid."""
    if not isinstance(body, dict):
        return [{"loc": ["body"], "msg": "body must be a JSON object", "type": "type_error"}]
    props = schema.get("properties", {})
    errors = []
    for key in schema.get("required", []):
        if key not in body:
            errors.append(item(key, "field required", "missing"))
    for key, value in body.items():
        prop = props.get(key)
        if prop is None:
            errors.append(item(key, "extra fields not permitted", "extra_forbidden"))
            continue
        errors += check_value(key, prop, value)
    return errors


def item(key, msg, typ):
    return {"loc": ["body", key], "msg": msg, "type": typ}


def check_value(key: str, prop: dict, value) -> list[dict]:
    typ = prop.get("type") or "string"
    py = TYPES.get(typ)
    if py and (not isinstance(value, py) or (typ in ("integer", "float", "number") and isinstance(value, bool))):
        return [item(key, f"value is not a valid {typ}", "type_error")]
    if "enum" in prop and value not in prop["enum"]:
        return [item(key, f"value is not one of {prop['enum']}", "enum")]
    if "minimum" in prop and value < prop["minimum"]:
        return [item(key, f"ensure this value is greater than or equal to {prop['minimum']}", "range")]
    if "maximum" in prop and value > prop["maximum"]:
        return [item(key, f"ensure this value is less than or equal to {prop['maximum']}", "range")]
    if typ == "string" and "maxLength" in prop and len(value) > prop["maxLength"]:
        return [item(key, f"ensure this value has at most {prop['maxLength']} characters", "length")]
    if typ == "array":
        if len(value) < prop.get("minItems", 0) or len(value) > prop.get("maxItems", 10**6):
            return [item(key, f"expected {prop.get('minItems', 0)} to {prop.get('maxItems')} items", "items")]
        return [e for v in value for e in check_file(key, prop, v)]
    if is_file_field(key, prop):
        return check_file(key, prop, value)
    return []


def is_file_field(key: str, prop: dict) -> bool:
    return prop.get("format") == "image_uri" or bool(prop.get("validations")) or \
        key.endswith(("image_url", "img_url", "_image"))


def check_file(key: str, prop: dict, value) -> list[dict]:
    """An image input must be an https URL or a data URI; data URIs are checked for real."""
    if not isinstance(value, str):
        return [item(key, "value is not a valid string", "type_error")]
    if value.startswith("https://"):
        return []
    if not value.startswith("data:image/"):
        return [item(key, "must be a publicly reachable https:// URL", "url")]
    try:
        raw = base64.b64decode(value.split(",", 1)[1], validate=True)
        img = Image.open(io.BytesIO(raw))
        img.load()
    except Exception:
        return [item(key, "data URI is not a readable image", "image")]
    facts = {"width_pixels": img.width, "height_pixels": img.height,
             "file_size_mb": len(raw) / 1e6}
    errors = []
    for rule in prop.get("validations", []):
        name = str(rule.get("validation_rule", ""))
        limit = rule.get("validation_value")
        fact = facts.get(name.rstrip("<>"))
        if fact is None or limit is None:
            continue
        bad = fact > limit if name.endswith("<") else fact < limit
        if bad:
            errors.append(item(key, rule.get("validation_error") or f"{name} {limit}", "validation"))
    return errors
