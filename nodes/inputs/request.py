"""Widget values → the JSON body RunComfy expects, checked against the schema first.

Every rule the schema states (required, enum, range, maxLength, item counts) is
checked here, before anything is sent, and a failure names the widget, the value and
what is allowed.  Fields with no widget of their own (JSON text) are checked against
their own schema (jsoncheck.py).  Media *contents* (pixels, bytes, durations) are checked
by their kind's encoder (prepare.py); this module receives media fields as URL strings.
"""
from __future__ import annotations

import json
import math
from typing import Any

from ..core.errors import InputError
from ..spec.model import BOOL, COMBO, FLOAT, INT, JSON, MEDIA, MEDIA_LIST, NOT_SET, SEED, Field, ModelSpec
from .jsoncheck import problem as json_problem
from .prepare import check_count


MAX_REQUEST_BYTES = 64 * 1024 * 1024   # whole JSON body (RunComfy's nodes stay under 64 MiB)


def build_request(spec: ModelSpec, values: dict[str, Any],
                  images: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the request body with exact wire keys and types; raise InputError if invalid.

    ``values`` are widget values by widget name (as ComfyUI passes them);
    ``images`` maps an image field's wire key to a URL (or a list of URLs).
    """
    return assemble(spec, scalar_values(spec, values), images or {})


def scalar_values(spec: ModelSpec, values: dict[str, Any]) -> dict[str, Any]:
    """Every non-media widget checked and converted: wire key → wire value (left out: None)."""
    body: dict[str, Any] = {}
    for f in spec.fields:
        if f.kind not in (MEDIA, MEDIA_LIST):
            value = convert(spec, f, values.get(f.name, None))
            if value is not None:
                body[f.key] = value
    return body


def assemble(spec: ModelSpec, scalars: dict[str, Any], media: dict[str, Any]) -> dict[str, Any]:
    """The body in schema order: checked scalars plus each media field's URL(s)."""
    body: dict[str, Any] = {}
    for f in spec.fields:
        if f.kind in (MEDIA, MEDIA_LIST):
            value = media.get(f.key)
            check_count(spec, f, (1 if value else 0) if f.kind == MEDIA else len(value or []))
            if value:
                body[f.key] = value
        elif f.key in scalars:
            body[f.key] = scalars[f.key]
    return body


def encode_body(body: dict, who: str = "The request", limit: int = MAX_REQUEST_BYTES) -> bytes:
    """The exact bytes to send, or InputError naming the key that cannot be sent or the size."""
    try:
        data = json.dumps(body, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError):
        for key, value in body.items():
            try:
                json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
            except (ValueError, TypeError, UnicodeEncodeError) as e:
                raise InputError(f"{who}: the value for '{key}' cannot be sent: {unsendable(e)}. "
                                 "Nothing was sent.") from None
        raise
    if len(data) > limit:
        raise InputError(f"{who} would be {len(data) / 1e6:.1f} MB, over the {limit / 1e6:.1f} MB "
                         f"a request may carry. Use fewer or smaller inputs, or give https:// "
                         f"links instead of connected media.")
    return data


def unsendable(e: Exception) -> str:
    if isinstance(e, UnicodeEncodeError):
        return "it contains characters that cannot be encoded as UTF-8 (an unpaired surrogate)"
    if "Out of range float" in str(e):
        return "it contains NaN or an infinite number, which JSON cannot carry"
    return str(e)


def fail(spec: ModelSpec, f: Field, problem: str) -> InputError:
    return InputError(f"{spec.display_name}: widget '{f.name}' {problem}")


def convert(spec: ModelSpec, f: Field, value: Any) -> Any:
    """One widget value → its wire value, or None to leave the key out."""
    if f.kind == COMBO:
        if value == NOT_SET and NOT_SET in f.choices:
            return None                                   # left to RunComfy's own default
        for choice in f.choices:
            if value == choice or str(value) == str(choice):
                return choice
        allowed = ", ".join(repr(str(c)) for c in f.choices)
        raise fail(spec, f, f"is {value!r}, which is not one of the allowed choices: {allowed}.")
    if f.kind in (INT, SEED):
        if value is None:
            return None if not f.required else _missing(spec, f)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not finite(value) \
                or int(value) != value:
            raise fail(spec, f, f"must be a whole number, not {value!r}.")
        return check_range(spec, f, int(value))
    if f.kind == FLOAT:
        if value is None:
            return None if not f.required else _missing(spec, f)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail(spec, f, f"must be a number, not {value!r}.")
        if not finite(value):
            raise fail(spec, f, f"is {value!r}; only a finite number can be sent. Type a number.")
        return check_range(spec, f, float(value))
    if f.kind == BOOL:
        if value is None:
            return None if not f.required else _missing(spec, f)
        return bool(value)
    if f.kind == JSON:
        return parse_json(spec, f, value)
    return check_text(spec, f, value)


def check_range(spec: ModelSpec, f: Field, value):
    lo, hi = f.minimum, f.maximum
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise fail(spec, f, f"is {value}, outside the allowed range {lo} to {hi}.")
    return value


def finite(value) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


def check_text(spec: ModelSpec, f: Field, value: Any) -> str | None:
    text = "" if value is None else str(value)
    if not text.strip():
        if f.required:
            _missing(spec, f)
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise fail(spec, f, f"contains a character that cannot be sent (position {e.start}, an "
                            "unpaired surrogate, usually from a broken copy and paste). Retype "
                            "that part.") from None
    if f.max_length is not None and len(text) > f.max_length:
        raise fail(spec, f, f"is {len(text)} characters long; the model allows at most "
                            f"{f.max_length}. Shorten it by {len(text) - f.max_length}.")
    return text


def parse_json(spec: ModelSpec, f: Field, value: Any):
    text = "" if value is None else str(value).strip()
    if not text:
        return _missing(spec, f) if f.required else None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise fail(spec, f, f"must be JSON text ({f.problem}); it does not parse: {e.msg} "
                            f"at line {e.lineno} column {e.colno}.") from None
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError) as e:
        raise fail(spec, f, f"cannot be sent: {unsendable(e)}.") from None
    found = json_problem(value, f.prop, f.key)
    if found:
        raise fail(spec, f, f"does not fit the model's schema: {found}. See the tooltip for "
                            "the shape it takes.")
    return value


def _missing(spec: ModelSpec, f: Field):
    raise fail(spec, f, "is required by the model and is empty. Give it a value.")
