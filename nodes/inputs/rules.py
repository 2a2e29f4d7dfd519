"""A media field's ``validations``: the rules the pack knows, read once into Limits.

Rules look like ``{"validation_rule": "width_pixels<", "validation_value": 2000,
"validation_error": "…"}``.  Reading of the directions (the service's own texts decide):
``<`` N is an upper bound, ``>`` N a lower bound, both inclusive ("must not exceed 2000
pixels", "at least 360 pixels"); ``file_size_mb<`` N is strict and decimal (bytes <
N × 1 000 000, the stricter of the two readings).

A rule the pack does not know (a new name, or one that does not apply to the field's
kind) is kept in ``Limits.unchecked`` with the service's text: the tooltip and the add
report show it, the node says it was not checked here, and it is never counted as checked.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

# rule name (without its < or >) → the fact it bounds
FACTS = {
    "width_pixels": "width", "height_pixels": "height",
    "file_size_mb": "size",
    "width/height": "aspect", "aspect_ratio": "aspect",
    "duration_seconds": "duration", "duration_s": "duration", "duration": "duration",
    "duration_sec": "duration", "video_duration": "duration", "audio_duration": "duration",
}
INVERTED = {"height/width": "aspect"}   # height/width < N is width/height > 1/N
UNITS = {"width": "px", "height": "px", "size": "MB", "aspect": "", "duration": "s"}
NAMES = {"width": "width", "height": "height", "size": "file size", "aspect": "aspect ratio (width/height)",
         "duration": "duration"}


@dataclass
class Limits:
    lo: dict = field(default_factory=dict)        # fact → lower bound (inclusive)
    hi: dict = field(default_factory=dict)        # fact → upper bound (inclusive; size: exclusive)
    texts: dict = field(default_factory=dict)     # (fact, "<" or ">") → the service's sentence
    unchecked: list = field(default_factory=list)  # (rule, text) the pack does not check

    # pixel bounds in the shape the image fitter uses
    @property
    def min_w(self) -> int:
        return int(math.ceil(self.lo.get("width", 0)))

    @property
    def min_h(self) -> int:
        return int(math.ceil(self.lo.get("height", 0)))

    @property
    def max_w(self) -> int | None:
        v = self.hi.get("width")
        return None if v is None else int(v)

    @property
    def max_h(self) -> int | None:
        v = self.hi.get("height")
        return None if v is None else int(v)

    @property
    def max_bytes(self) -> int | None:
        """The model's file size rule in bytes (a file must be smaller than this)."""
        v = self.hi.get("size")
        return None if v is None else int(v * 1_000_000)

    def text(self, fact: str, op: str) -> str:
        return self.texts.get((fact, op), "")

    def check(self, fact: str, value: float) -> str | None:
        """The service's sentence (or ours) when ``value`` breaks a bound of ``fact``."""
        lo, hi = self.lo.get(fact), self.hi.get(fact)
        if hi is not None and (value >= hi if fact == "size" else value > hi + 1e-9):
            return self.text(fact, "<") or f"The {NAMES[fact]} must be at most {hi:g}{UNITS[fact]}."
        if lo is not None and value < lo - 1e-9:
            return self.text(fact, ">") or f"The {NAMES[fact]} must be at least {lo:g}{UNITS[fact]}."
        return None

    def bounds(self, fact: str) -> str:
        lo, hi = self.lo.get(fact), self.hi.get(fact)
        unit = UNITS[fact]
        if lo is not None and hi is not None:
            return f"{lo:g}–{hi:g}{unit}"
        return f"at least {lo:g}{unit}" if lo is not None else f"at most {hi:g}{unit}" if hi is not None else "any"


def read_limits(validations: list, applies: frozenset) -> Limits:
    """The rules of one field whose kind can check the facts in ``applies``."""
    lim = Limits()
    for v in validations or []:
        if not isinstance(v, dict):
            continue
        rule = str(v.get("validation_rule", "")).strip()
        text = str(v.get("validation_error", "") or "").strip()
        name, op = split_rule(rule)
        fact = FACTS.get(name) or INVERTED.get(name)
        value = number(v.get("validation_value"))
        if name in INVERTED and value:
            op, value = {"<": ">", ">": "<"}.get(op, op), 1 / value
        if fact is None or fact not in applies or op not in ("<", ">") or value is None:
            lim.unchecked.append((rule or "(unnamed rule)", text))
            continue
        bounds = lim.hi if op == "<" else lim.lo
        tighter = min if op == "<" else max
        bounds[fact] = tighter(bounds[fact], value) if fact in bounds else value
        lim.texts[(fact, op)] = text
    return lim


def split_rule(rule: str) -> tuple[str, str]:
    """``"width_pixels<"`` → ("width_pixels", "<"); ``<=`` / ``>=`` read as ``<`` / ``>``
    (the bounds are read inclusive already); anything else has no direction ("")."""
    body = rule.rstrip("=").rstrip() if rule.endswith(("<=", ">=")) else rule
    op = body[-1:] if body[-1:] in ("<", ">") else ""
    return (body[:-1] if op else body).strip().lower(), op


def number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None
