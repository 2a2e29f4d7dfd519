"""The pack's own widgets: one table, appended after every node's schema widgets.

Each option says which nodes get it, its ComfyUI input spec, and whether it changes what
is sent (then it is part of the job's fingerprint: a different value is a different job).
Saved workflows store widget values by position, so rows are only ever appended.

Schema fields never take these names (nor the hidden inputs' or Python's ``self``): a
field called ``start_frame`` gets another widget name and is still sent as ``start_frame``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Option:
    name: str
    shape: tuple                      # (type, {default, min, max, tooltip, ...})
    applies: Callable[[object], bool]  # spec → does this node get the option
    affects_request: bool = False

    @property
    def default(self):
        return self.shape[1]["default"]


def _has_media(spec) -> bool:
    return bool(spec.media_fields)


def _makes_video(spec) -> bool:
    return "video" in spec.output_kinds


def _takes_video(spec) -> bool:
    return any(f.media == "video" for f in spec.media_fields)


OPTIONS: tuple[Option, ...] = (
    Option("fit_image_to_limits", ("BOOLEAN", {
        "default": True,
        "tooltip": "When an input image is outside the model's pixel limits, resize it (keeping its "
                   "aspect ratio) just enough to fit, and say so on the node. Off: stop with an "
                   "error before anything is paid for."}), _has_media, affects_request=True),
    Option("start_frame", ("INT", {"default": 0, "min": 0, "max": 100000,
                                   "tooltip": "Skip this many frames of the result video."}), _makes_video),
    Option("every_nth_frame", ("INT", {"default": 1, "min": 1, "max": 1000,
                                       "tooltip": "Keep every n-th frame (1 keeps all)."}), _makes_video),
    Option("frame_cap", ("INT", {"default": 0, "min": 0, "max": 100000,
                                 "tooltip": "Keep at most this many frames (0 keeps all)."}), _makes_video),
    Option("video_fps", ("FLOAT", {
        "default": 0.0, "min": 0.0, "max": 240.0, "step": 0.5, "round": 0.01,
        "tooltip": "Frames per second for an IMAGE batch connected to a video input (it is sent "
                   "as an H.264 MP4). 0: the model's own fps widget, else 16. A connected VIDEO "
                   "keeps its own rate."}), _takes_video, affects_request=True),
)
FRAME_OPTIONS = tuple(o for o in OPTIONS if o.name in ("start_frame", "every_nth_frame", "frame_cap"))
HIDDEN = {"unique_id": "UNIQUE_ID"}
RESERVED_NAMES = frozenset({o.name for o in OPTIONS} | set(HIDDEN) | {"self"})


def options_for(spec) -> list[Option]:
    return [o for o in OPTIONS if o.applies(spec)]


def defaults() -> dict:
    return {o.name: o.default for o in OPTIONS}


def split(values: dict) -> tuple[dict, dict]:
    """(schema widget values, every option's value or its default)."""
    rest = dict(values)
    chosen = {o.name: rest.pop(o.name, o.default) for o in OPTIONS}
    for name in HIDDEN:
        rest.pop(name, None)
    return rest, chosen


def identity(spec, chosen: dict) -> dict:
    """The option values that change what is sent (part of the fingerprint)."""
    return {o.name: chosen[o.name] for o in options_for(spec) if o.affects_request}
