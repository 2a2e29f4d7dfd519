"""A model's fields → ComfyUI input specs (INPUT_TYPES): the widget and socket each field gets.

Widget order is part of the public contract: saved workflows store widget values by
position.  The order is: every schema field in model-file order (media fields add optional
sockets, typed by their kind in spec/kinds.py, plus a URL widget at the field's place), then
the pack's own options (spec/options.py), in that order.  A list field's sockets past the
first SOCKETS_IN_PLACE come after every field's first ones (they were added later: optional
inputs only ever grow at the end).  New widgets are appended, never inserted.
"""
from __future__ import annotations

import json
from typing import Any

from ..spec.kinds import MEDIA_KIND
from ..spec.model import (BOOL, COMBO, FLOAT, INT, INT32_MAX, INT32_MIN, JSON, MEDIA, MEDIA_LIST,
                          SEED, Field, ModelSpec)
from ..spec.options import FRAME_OPTIONS as _FRAME, HIDDEN, options_for
from .rules import read_limits

INT_LIMIT = 0xFFFFFFFFFFFFFFFF      # ComfyUI's own widest INT (its seed widgets)
SOCKETS_IN_PLACE = 6                # a list field's sockets at its place; further ones appended
FRAME_OPTIONS = tuple((o.name, o.shape) for o in _FRAME)   # for the nodes without a schema
TIP_TEXT = 280      # characters of a field's description in its tooltip: the seeds' longest is
                    # 127; a catalog of 1,500 models with 300-character ones made /object_info
                    # (read on every page load) 16 MB, with this bound 10 MB


def lead(text: str, limit: int = TIP_TEXT) -> str:
    """A description cut to ``limit`` characters at a word, marked with "…" when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def pack_options(spec: ModelSpec) -> list[tuple[str, tuple]]:
    """The pack's own widgets, appended after the schema's (options.OPTIONS).  Append only."""
    return [(o.name, o.shape) for o in options_for(spec)]


def float_step(lo: float | None, hi: float | None) -> float:
    """A step that suits the range and still takes fractions, however wide (0..600 s: 0.1)."""
    span = (hi - lo) if lo is not None and hi is not None else 100.0
    return 0.01 if span <= 5 else 0.05 if span <= 20 else 0.1


def tooltip(f: Field, allowed: str = "") -> str:
    parts = [lead(f.description)] if f.description.strip() else []
    if allowed:
        parts.append(allowed)
    seen = []
    for v in f.validations:
        text = str(v.get("validation_error", "")).strip()
        if text and text not in seen:
            seen.append(text)
    parts += seen
    if f.media:
        unchecked = read_limits(f.validations, MEDIA_KIND[f.media].rules).unchecked
        parts += [f"Rule '{rule}' is checked by RunComfy only, not before the submit"
                  f"{f' ({text})' if text else ''}" for rule, text in unchecked]
    if f.problem:
        parts.append(f.problem)
    if f.kind == JSON and f.prop:
        shape = {k: f.prop[k] for k in ("type", "items", "properties", "required") if k in f.prop}
        text = json.dumps(shape, ensure_ascii=False)
        parts.append("Schema: " + (text if len(text) <= 400 else text[:399] + "…"))
    parts.append(f"Sent to RunComfy as '{f.key}'{' (required)' if f.required else ''}.")
    return " ".join(p if p[-1] in ".!?。…" else p + "." for p in parts)


def multiple_of(f: Field) -> float | None:
    """The schema's ``multipleOf``, used as the widget's step when it is a usable number."""
    raw = f.prop.get("multipleOf") if f.prop else None
    return float(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) \
        and 0 < raw < 1e9 else None


def number_widget(f: Field) -> tuple:
    lo, hi = f.minimum, f.maximum
    if f.kind == FLOAT:
        step = multiple_of(f) or float_step(lo, hi)
        lo = -1e9 if lo is None else lo
        hi = 1e9 if hi is None else hi
        default = max(lo, min(hi, f.default if f.default is not None else 0.0))
        return ("FLOAT", {"default": float(default), "min": float(lo), "max": float(hi),
                          "step": step, "round": step, "tooltip": tooltip(f, f"Allowed: {lo} to {hi}.")})
    if f.kind == SEED:                      # -1 ("random") when the schema allows it
        lo = int(lo) if lo is not None else -1 if f.default == -1 else 0
        hi = INT32_MAX if hi is None else int(hi)
    else:
        lo = INT32_MIN if lo is None else int(lo)
        hi = INT32_MAX if hi is None else int(hi)
    lo, hi = max(lo, -INT_LIMIT), min(hi, INT_LIMIT)
    default = max(lo, min(hi, int(f.default) if f.default is not None else 0))
    opts = {"default": default, "min": lo, "max": hi, "tooltip": tooltip(f, f"Allowed: {lo} to {hi}.")}
    step = multiple_of(f)
    if step is not None and step == int(step):
        opts["step"] = int(step)
    if f.kind == SEED:
        opts["control_after_generate"] = "fixed"  # re-queueing must not silently re-bill
        opts["tooltip"] += " Change the seed to get (and pay for) a new variation."
    return ("INT", opts)


def widget_for(f: Field) -> tuple:
    """The ComfyUI input spec for one non-image field."""
    if f.kind == COMBO:
        choices = [str(c) for c in f.choices]
        return (choices, {"default": str(f.default), "tooltip": tooltip(f)})
    if f.kind in (INT, FLOAT, SEED):
        return number_widget(f)
    if f.kind == BOOL:
        return ("BOOLEAN", {"default": bool(f.default) if f.default is not None else False,
                            "tooltip": tooltip(f)})
    if f.kind == JSON:
        return ("STRING", {"default": "", "multiline": True, "tooltip": tooltip(f)})
    allowed = f"At most {f.max_length} characters." if f.max_length else ""
    if not f.required:
        allowed += " Leave empty to leave it out."
    return ("STRING", {"default": f.default or "", "multiline": f.multiline,
                       "tooltip": tooltip(f, allowed.strip())})


def media_inputs(f: Field) -> tuple[dict, dict]:
    """(widgets, sockets) for a media field: optional socket(s) of its kind plus a URL widget."""
    kind = MEDIA_KIND[f.media]
    if f.kind == MEDIA:
        sockets = {f.name: (kind.socket_type, {"tooltip": tooltip(
            f, f"{kind.connect_hint.capitalize()}, or give a URL below; when both are given the "
               f"connected {kind.name} wins.")})}
        url = ("STRING", {"default": "", "multiline": False, "placeholder": "https://…",
                          "tooltip": "An https:// link (or data: URI) the service can fetch. "
                                     f"Used only when the '{f.name}' input is not connected."})
        return {f.url_name: url}, sockets
    most = f"up to {f.max_items}" if f.max_items is not None else "any number of"
    sockets, names = {}, f.socket_names()
    batch = f" {kind.batch_hint}" if kind.batch_hint else ""
    for i, name in enumerate(names, start=1):
        item = f"Item {i} of {most}; a connected {kind.name} wins over URL line {i}.{batch}"
        if i == 1:      # the field's description and rules once, not on each of up to 16 sockets
            need = " Item 1 (or URL line 1) is required." if (f.min_items or 0) >= 1 else ""
            text = tooltip(f, item + need)
        else:
            text = f"{item} What it takes: see '{names[0]}'."
        sockets[name] = (kind.socket_type, {"tooltip": text})
    extra = (f" Lines after {f.sockets} are further items." if f.max_items is None or f.max_items > f.sockets
             else "")
    url = ("STRING", {"default": "", "multiline": True, "placeholder": "one https:// link per line",
                      "tooltip": f"{most.capitalize()} links, one per line. Line i is used for item i when "
                                 f"input '{f.name}_i' is not connected.{extra}"})
    return {f.url_name: url}, sockets


def input_types(spec: ModelSpec) -> dict[str, dict[str, Any]]:
    required: dict[str, Any] = {}
    optional: dict[str, Any] = {}
    later: dict[str, Any] = {}           # list sockets past SOCKETS_IN_PLACE: after all others
    for f in spec.fields:
        if f.kind in (MEDIA, MEDIA_LIST):
            widgets, sockets = media_inputs(f)
            for i, (name, shape) in enumerate(sockets.items()):
                (optional if i < SOCKETS_IN_PLACE else later)[name] = shape
            required.update(widgets)
        else:
            required[f.name] = widget_for(f)
    optional.update(later)
    for name, shape in pack_options(spec):
        required[name] = shape
    return {"required": required, "optional": optional, "hidden": dict(HIDDEN)}


def widget_names(spec: ModelSpec) -> list[str]:
    """Widget names in saved-workflow order (a seed adds its control value right after it)."""
    names = []
    for name, (typ, opts) in input_types(spec)["required"].items():
        names.append(name)
        if isinstance(opts, dict) and opts.get("control_after_generate"):
            names.append(f"{name}:control_after_generate")
    return names


