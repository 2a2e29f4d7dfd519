"""What a job costs: the catalog's rate × the quantity its unit counts in the output.

Units: ``second`` (seconds of output video or audio, each output rounded to the nearest
whole second, at least 1 — a Wan clip of 81 frames at 16 fps is billed as 5 s), ``image``
(or ``output``: outputs made), ``request`` (flat).  Unknown units are charged flat.
Extras a result carries only because of ``[sim:also=...]`` are not charged.
"""
from __future__ import annotations

import math

UNITS = ("second", "image", "output", "request")


def billed_seconds(seconds: float) -> int:
    return max(1, math.floor(seconds + 0.5))


def charge(rate: float, unit: str, plan) -> float:
    """USD for a job with this plan (``plan.Plan``)."""
    if unit == "second":
        quantity = plan.count * billed_seconds(plan.seconds)
    elif unit in ("image", "output"):
        quantity = plan.count
    else:
        quantity = 1
    return round(rate * quantity, 6)
