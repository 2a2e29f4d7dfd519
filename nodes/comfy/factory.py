"""ModelSpec → ComfyUI V1 node class.  One factory for every model; no per-model code.

Widget order is part of the public contract: saved workflows store widget values by
position.  The order is: every schema field in model-file order (image fields add an
optional socket plus a URL widget at the field's place), then the pack's own options
(PACK_OPTIONS), in that order.  New options are appended, never inserted.
"""
from __future__ import annotations

from typing import Any

from ..spec.options import FRAME_OPTIONS as _FRAME, HIDDEN, options_for
from ..spec.schema import (BOOL, COMBO, FLOAT, IMAGE, IMAGE_LIST, INT, INT32_MAX, INT32_MIN, JSON,
                     SEED, Field, ModelSpec)

CATEGORY_ROOT = "RunComfy"

VIDEO_OUTPUTS = (("IMAGE", "frames"), ("FLOAT", "fps"), ("INT", "frame_count"),
                 ("VIDEO", "video"), ("STRING", "video_url"), ("STRING", "request_id"))
IMAGE_OUTPUTS = (("IMAGE", "images"), ("STRING", "image_urls"), ("STRING", "request_id"))

FRAME_OPTIONS = tuple((o.name, o.shape) for o in _FRAME)   # for the nodes without a schema


def pack_options(spec: ModelSpec) -> list[tuple[str, tuple]]:
    """The pack's own widgets, appended after the schema's (options.OPTIONS).  Append only."""
    return [(o.name, o.shape) for o in options_for(spec)]


def float_step(lo: float | None, hi: float | None) -> float:
    span = (hi - lo) if lo is not None and hi is not None else 100.0
    return 0.01 if span <= 5 else 0.05 if span <= 20 else 0.1 if span <= 100 else 1.0


def tooltip(f: Field, allowed: str = "") -> str:
    parts = [f.description.strip()] if f.description.strip() else []
    if allowed:
        parts.append(allowed)
    seen = []
    for v in f.validations:
        text = str(v.get("validation_error", "")).strip()
        if text and text not in seen:
            seen.append(text)
    parts += seen
    if f.problem:
        parts.append(f.problem)
    parts.append(f"Sent to RunComfy as '{f.key}'{' (required)' if f.required else ''}.")
    return " ".join(p if p[-1] in ".!?。" else p + "." for p in parts)


def number_widget(f: Field) -> tuple:
    lo, hi = f.minimum, f.maximum
    if f.kind == FLOAT:
        step = float_step(lo, hi)
        lo = -1e9 if lo is None else lo
        hi = 1e9 if hi is None else hi
        default = max(lo, min(hi, f.default if f.default is not None else 0.0))
        return ("FLOAT", {"default": float(default), "min": float(lo), "max": float(hi),
                          "step": step, "round": step, "tooltip": tooltip(f, f"Allowed: {lo} to {hi}.")})
    if f.kind == SEED:
        lo = 0 if lo is None else int(lo)
        hi = INT32_MAX if hi is None else int(hi)
    else:
        lo = INT32_MIN if lo is None else int(lo)
        hi = INT32_MAX if hi is None else int(hi)
    default = max(lo, min(hi, int(f.default) if f.default is not None else 0))
    opts = {"default": default, "min": lo, "max": hi, "tooltip": tooltip(f, f"Allowed: {lo} to {hi}.")}
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


def image_inputs(f: Field) -> tuple[dict, dict]:
    """(widgets, sockets) for an image field: optional IMAGE socket(s) plus a URL widget."""
    if f.kind == IMAGE:
        sockets = {f.name: ("IMAGE", {"tooltip": tooltip(
            f, "Connect an image, or give a URL below; when both are given the image wins.")})}
        url = ("STRING", {"default": "", "multiline": False, "placeholder": "https://…",
                          "tooltip": "An https:// link (or data: URI) the service can fetch. "
                                     f"Used only when the '{f.name}' input is not connected."})
        return {f.url_name: url}, sockets
    n = f.max_items or 3
    sockets = {}
    for i, name in enumerate(f.socket_names(), start=1):
        need = " Image 1 (or URL line 1) is required." if i == 1 and (f.min_items or 0) >= 1 else ""
        sockets[name] = ("IMAGE", {"tooltip": tooltip(
            f, f"Item {i} of up to {n}; a connected image wins over URL line {i}.{need}")})
    url = ("STRING", {"default": "", "multiline": True, "placeholder": "one https:// link per line",
                      "tooltip": f"Up to {n} links, one per line. Line i is used for item i when "
                                 f"input '{f.name}_i' is not connected."})
    return {f.url_name: url}, sockets


def input_types(spec: ModelSpec) -> dict[str, dict[str, Any]]:
    required: dict[str, Any] = {}
    optional: dict[str, Any] = {}
    for f in spec.fields:
        if f.kind in (IMAGE, IMAGE_LIST):
            widgets, sockets = image_inputs(f)
            optional.update(sockets)
            required.update(widgets)
        else:
            required[f.name] = widget_for(f)
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


def default_values(node_class) -> dict:
    """The widget values a freshly placed node passes (defaults; a combo's default or first choice)."""
    values = {}
    for name, (typ, opts) in node_class.INPUT_TYPES()["required"].items():
        values[name] = opts.get("default", typ[0] if isinstance(typ, list) else None)
    return values


def make_node_class(spec: ModelSpec) -> type:
    """Build the V1 node class for one model."""
    outputs = VIDEO_OUTPUTS if spec.output == "video" else IMAGE_OUTPUTS

    async def run(self, **values):   # no named parameters: no schema field can clash with one
        from .runner import run_node  # late import: the heavy parts load on first use
        return await run_node(spec, values, node_id=values.pop("unique_id", None))

    desc = spec.description or f"{spec.display_name} on RunComfy's Model API."
    return type(spec.node_id, (), {
        "INPUT_TYPES": classmethod(lambda cls: input_types(spec)),
        "RETURN_TYPES": tuple(t for t, _ in outputs),
        "RETURN_NAMES": tuple(n for _, n in outputs),
        "FUNCTION": "run",
        "CATEGORY": f"{CATEGORY_ROOT}/{spec.category}",
        "DESCRIPTION": f"{desc} Model: {spec.model_id}. Each run is a paid RunComfy job.",
        "API_NODE": True,
        "SPEC": spec,
        "run": run,
    })
