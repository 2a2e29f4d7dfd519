"""The simulator's own check of a submit body against a model's input schema.

Written independently of the pack's request builder on purpose: if the pack sends a
wrong key or type, the simulator must catch it, the way the real service answers 422.
Media fields (images, videos, audio clips) sent inline are decoded for real and held to
the schema's ``validations`` rules (see ``media_rules``).
"""
from __future__ import annotations

from .probe import parse_data_uri, probe

TYPES = {"string": str, "integer": int, "float": (int, float), "number": (int, float),
         "boolean": bool, "array": list, "object": dict}
NUMBERS = ("integer", "float", "number")
KINDS = ("image", "video", "audio", "mask")
FILE_KIND = {"mask": "image"}      # a mask is sent as an image file
# Seed schemas name no format; their image fields are known by key (as before formats).
IMAGE_KEYS = ("image_url", "img_url", "_image")
IMAGE_LIST_KEYS = ("image_urls", "_images")


def check_body(schema: dict, body) -> list[dict]:
    """A list of 422 `detail` items ({loc, msg, type}); empty when the body is valid."""
    if not isinstance(body, dict):
        return [{"loc": ["body"], "msg": "body must be a JSON object", "type": "type_error"}]
    props = schema.get("properties", {})
    errors = missing(["body"], schema, body)
    for key, value in body.items():
        prop = props.get(key)
        if prop is None:
            errors.append(item(["body", key], "extra fields not permitted", "extra_forbidden"))
            continue
        errors += check_value(["body", key], prop, value)
    return errors


def missing(loc: list, schema: dict, value: dict) -> list[dict]:
    """Required keys absent from ``value``.

    A ``required`` key that ``properties`` does not define is NOT enforced: real catalog
    entries list such keys (leftovers of the workflow behind the model), a client cannot
    know what to send for them, and the real service evidently accepts bodies without.
    """
    props = schema.get("properties", {})
    return [item(loc + [key], "field required", "missing")
            for key in schema.get("required", []) if key in props and key not in value]


def item(loc: list, msg: str, typ: str) -> dict:
    return {"loc": list(loc), "msg": msg, "type": typ}


def media_kind(key: str, prop: dict) -> str | None:
    """"image", "video" or "audio" when the field takes media (one item or a list), else None.

    ``format`` decides (``image_uri(s)``, ``video_uri(s)``, ``audio_uri(s)``, on the property
    or on its ``items``); without one, the seeds' image fields are known by key, and any
    field with ``validations`` is an image field (the only kind the seeds have).
    """
    for fmt in (prop.get("format"), (prop.get("items") or {}).get("format")):
        if isinstance(fmt, str) and fmt.endswith(("_uri", "_uris")) and fmt.split("_")[0] in KINDS:
            return fmt.split("_")[0]
    many = prop.get("type") == "array"
    if key.endswith(IMAGE_LIST_KEYS if many else IMAGE_KEYS) or prop.get("validations"):
        return "image"
    return None


def check_value(loc: list, prop: dict, value) -> list[dict]:
    typ = prop.get("type") or ("array" if str(prop.get("format", "")).endswith("_uris") else "string")
    if value is None and "default" in prop and prop["default"] is None:
        return []      # "default": null — sending null means "use the default"
    py = TYPES.get(typ)
    if py and (not isinstance(value, py) or (typ in NUMBERS and isinstance(value, bool))):
        return [item(loc, f"value is not a valid {typ}", "type_error")]
    if "enum" in prop and not in_enum(value, prop["enum"]):
        return [item(loc, f"value is not one of {prop['enum']}", "enum")]
    if typ in NUMBERS:
        return check_range(loc, prop, value)
    if typ == "string" and "maxLength" in prop and len(value) > prop["maxLength"]:
        return [item(loc, f"ensure this value has at most {prop['maxLength']} characters", "length")]
    if typ == "array":
        return check_array(loc, prop, value)
    if typ == "object":
        return check_object(loc, prop, value)
    kind = media_kind(str(loc[-1]), prop)
    return check_media(loc, kind, prop, value) if kind else []


def in_enum(value, choices: list) -> bool:
    """Exact membership: "5" is not 5, True is not 1 (Python's ``in`` says both are)."""
    return any(value == c and type(value) is type(c) for c in choices) or \
        (isinstance(value, (int, float)) and not isinstance(value, bool) and
         any(value == c and isinstance(c, (int, float)) and not isinstance(c, bool) for c in choices))


def check_range(loc: list, prop: dict, value) -> list[dict]:
    if "minimum" in prop and value < prop["minimum"]:
        return [item(loc, f"ensure this value is greater than or equal to {prop['minimum']}", "range")]
    if "maximum" in prop and value > prop["maximum"]:
        return [item(loc, f"ensure this value is less than or equal to {prop['maximum']}", "range")]
    return []


def check_array(loc: list, prop: dict, value: list) -> list[dict]:
    lo, hi = prop.get("minItems", 0), prop.get("maxItems")
    if len(value) < lo or (hi is not None and len(value) > hi):
        return [item(loc, f"expected {lo} to {hi} items, got {len(value)}", "items")]
    kind = media_kind(str(loc[-1]), prop)
    if kind:
        return [e for i, v in enumerate(value) for e in check_media(loc + [i], kind, prop, v)]
    items = prop.get("items")
    if isinstance(items, dict):
        return [e for i, v in enumerate(value) for e in check_value(loc + [i], items, v)]
    return []


def check_object(loc: list, prop: dict, value: dict) -> list[dict]:
    """Nested objects: required keys and the types of known keys (unknown keys pass)."""
    errors = missing(loc, prop, value)
    for key, sub in prop.get("properties", {}).items():
        if key in value:
            errors += check_value(loc + [key], sub, value[key])
    return errors


def check_media(loc: list, kind: str, prop: dict, value) -> list[dict]:
    """A media input must be an https URL (not fetched) or a data URI of the right kind,
    which is decoded and held to the field's ``validations``."""
    if not isinstance(value, str):
        return [item(loc, "value is not a valid string", "type_error")]
    if value.startswith("https://"):
        return []
    if not value.startswith("data:"):
        return [item(loc, "must be a publicly reachable https:// URL", "url")]
    try:
        mime, raw = parse_data_uri(value)
    except ValueError:
        return [item(loc, f"data URI is not a readable {kind}", kind)]
    if mime.split("/")[0] != FILE_KIND.get(kind, kind):
        return [item(loc, f"expected {article(kind)} {kind} data URI, got {mime}", "media_kind")]
    try:
        facts = probe(raw)
    except ValueError:
        return [item(loc, f"data URI is not a readable {kind}", kind)]
    if not fits_kind(kind, facts):
        return [item(loc, f"data URI is not a readable {kind} (found {describe(facts)})", kind)]
    return media_rules(loc, prop, facts)


def article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"


def fits_kind(kind: str, facts: dict) -> bool:
    """An image field takes an image, a video field needs a video stream, audio an audio one."""
    if kind == "audio":
        return bool(facts.get("audio"))
    return facts["kind"] == FILE_KIND.get(kind, kind)


def describe(facts: dict) -> str:
    if facts["kind"] == "video" and not facts.get("audio"):
        return "a video without sound"
    return "an image" if facts["kind"] == "image" else f"{facts['kind']} only"


def media_rules(loc: list, prop: dict, facts: dict) -> list[dict]:
    """Apply ``validations``: "X<" v means X must not exceed v, "X>" v that X is at least v.

    X is width_pixels, height_pixels, width/height (aspect ratio), file_size_mb or
    duration_seconds; rules this simulator does not know are ignored.
    """
    w, h = facts.get("width"), facts.get("height")
    values = {"width_pixels": w, "height_pixels": h, "file_size_mb": facts["size"] / 1e6,
              "width/height": w / h if w and h else None, "duration_seconds": facts.get("duration")}
    errors = []
    for rule in prop.get("validations", []):
        name = str(rule.get("validation_rule", ""))
        limit = rule.get("validation_value")
        fact = values.get(name.rstrip("<>"))
        if fact is None or not isinstance(limit, (int, float)) or not name.endswith(("<", ">")):
            continue
        if (fact > limit) if name.endswith("<") else (fact < limit):
            errors.append(item(loc, rule.get("validation_error") or f"{name} {limit}", "validation"))
    return errors
