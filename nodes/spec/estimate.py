"""A job's price before it runs, from the node's current widget values and the model's price.

One function, ``estimate``, reads the unit the catalog gives and the widgets that measure
it (by wire key, so ``600_duration`` counts as ``duration``):
  * per second (or minute): rate × the output's duration, from a duration widget, else
    frames ÷ fps (an fps widget, else 16);
  * per image / output: rate × the number of outputs (a count widget, else 1);
  * per megapixel: rate × width × height (a size or resolution widget) × outputs;
  * per request / run / generation: the rate.
Anything else is "price unknown": never a guess dressed as an estimate.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .prices import Price

DURATION_KEYS = ("duration", "duration_seconds", "seconds", "video_length", "length_seconds",
                 "audio_length", "duration_s")
FRAME_KEYS = ("num_frames", "frames", "frame_count", "number_of_frames", "length", "video_frames")
FPS_KEYS = ("fps", "frames_per_second", "frame_rate", "framerate")
COUNT_KEYS = ("num_images", "num_outputs", "number_of_images", "n", "batch_size", "num_videos",
              "image_count", "count")
SIZE_KEYS = ("image_size", "size", "resolution", "aspect_ratio_and_size", "dimensions")
DEFAULT_FPS = 16.0
RESOLUTIONS = {"480p": (854, 480), "540p": (960, 540), "720p": (1280, 720), "1080p": (1920, 1080),
               "2k": (2560, 1440), "4k": (3840, 2160)}
UNITS = {
    "second": "second", "seconds": "second", "per_second": "second", "sec": "second", "s": "second",
    "minute": "minute", "per_minute": "minute", "min": "minute",
    "image": "output", "images": "output", "per_image": "output", "output": "output",
    "outputs": "output", "per_output": "output", "video": "output", "per_video": "output",
    "megapixel": "megapixel", "mp": "megapixel", "per_megapixel": "megapixel",
    "request": "request", "per_request": "request", "run": "request", "generation": "request",
    "per_generation": "request", "call": "request",
}


@dataclass
class Estimate:
    usd: float | None          # None: unknown
    text: str                  # "≈ $0.40", or "price unknown"
    detail: str                # how it was computed, or why it is unknown

    @property
    def known(self) -> bool:
        return self.usd is not None


def unknown(why: str) -> Estimate:
    return Estimate(None, "price unknown", why)


def estimate(spec, values: dict, price: Price) -> Estimate:
    """``values``: wire key → value (checked or raw widget values; numbers may be text)."""
    if not price.known:
        return unknown(f"RunComfy's catalog price of {spec.model_id} is not known here yet "
                       "(it is fetched at start when a token is set)")
    unit = UNITS.get(price.unit.strip().lower().replace(" ", "_").replace("/", "_") or "request")
    bare = named(spec, values)
    if unit == "request":
        usd, how = price.rate, "per request"
    elif unit in ("second", "minute"):
        seconds, how = duration(bare)
        if seconds is None:
            return unknown(f"priced per {unit}, but no duration or frame count widget says how long")
        usd = price.rate * (seconds / 60 if unit == "minute" else seconds)
        how = f"${price.rate:g}/{unit} × {seconds:g} s ({how})"
    elif unit == "output":
        n = count(bare)
        usd, how = price.rate * n, f"${price.rate:g}/output × {n}"
    elif unit == "megapixel":
        size = pixels(bare)
        if size is None:
            return unknown("priced per megapixel, but no size widget says how large")
        mp = size[0] * size[1] / 1e6
        usd, how = price.rate * mp * count(bare), f"${price.rate:g}/MP × {mp:.2f} MP × {count(bare)}"
    else:
        return unknown(f"the unit '{price.unit}' cannot be estimated from the widgets")
    if not math.isfinite(usd):
        return unknown("the widgets give no finite price")
    age = price.age_text()
    return Estimate(round(usd, 4), f"≈ ${usd:.2f}" + (f" ({age})" if age else ""), how)


def named(spec, values: dict) -> dict:
    """Each value under its bare wire key ('600_duration' → 'duration') and its widget name
    ('25_value' titled "Number of Frames" → 'number_of_frames'), so workflow-style keys count."""
    bare = {re.sub(r"^\d+_", "", k).lower(): v for k, v in values.items()}
    for f in getattr(spec, "fields", []):
        if f.key in values:
            bare.setdefault(f.name, values[f.key])
    return bare


def number(value) -> float | None:
    """A widget's value as a finite number, else None (NaN, infinite or huge values say nothing)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            value = float(value)
        except OverflowError:
            return None
        return value if math.isfinite(value) else None
    m = re.match(r"\s*(\d{1,30}(?:\.\d{1,30})?)", str(value or "")[:80])
    return float(m.group(1)) if m else None


def first(bare: dict, keys) -> float | None:
    for key in keys:
        if key in bare:
            value = number(bare[key])
            if value is not None:
                return value
    return None


def duration(bare: dict) -> tuple[float | None, str]:
    seconds = first(bare, DURATION_KEYS)
    if seconds is not None:
        return seconds, "duration widget"
    frames = first(bare, FRAME_KEYS)
    if frames is None:
        return None, ""
    fps = first(bare, FPS_KEYS) or DEFAULT_FPS
    return frames / fps, f"{frames:g} frames ÷ {fps:g} fps"


def count(bare: dict) -> int:
    n = first(bare, COUNT_KEYS)
    return max(1, int(n)) if n is not None else 1


def pixels(bare: dict) -> tuple[int, int] | None:
    w, h = first(bare, ("width",)), first(bare, ("height",))
    if w and h:
        return int(w), int(h)
    for key in SIZE_KEYS:
        text = str(bare.get(key, "")).lower()
        m = re.search(r"(\d{2,5})\s*[x*×]\s*(\d{2,5})", text)
        if m:
            return int(m.group(1)), int(m.group(2))
        for name, size in RESOLUTIONS.items():
            if name in text:
                return size
    return None
