"""The settings' parsers: text as typed → the value, or ValueError saying what is allowed
(``"which must be more than 0"``), which core/settings.py turns into a sentence naming the
setting and where it is set."""
from __future__ import annotations

import math

DEFAULT_BASE_URL = "https://model-api.runcomfy.net"


def positive(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise ValueError("which must be more than 0")
    return value


def dollars(text: str) -> float:
    try:
        value = _number(text)
    except ValueError:
        raise ValueError("not an amount of US dollars (e.g. 5 or 12.50)") from None
    if value < 0:
        raise ValueError("which must be 0 (no paid jobs) or more")
    return value


def threshold(text: str) -> float | str:
    """An amount in USD, or "never"."""
    if text.strip().lower() in ("never", "off", "none", "no"):
        return "never"
    try:
        return dollars(text)
    except ValueError:
        raise ValueError("not an amount of US dollars (e.g. 5), or never") from None


def job_count(text: str) -> int:
    value = _number(text)
    if value != int(value) or not 1 <= value <= 256:
        raise ValueError("which must be a whole number from 1 to 256")
    return int(value)


def api_url(text: str) -> str:
    if not text.lower().startswith(("https://", "http://")) or len(text) > 2000:
        raise ValueError("which must be an http(s):// address such as " + DEFAULT_BASE_URL)
    return text.rstrip("/")


def name(text: str) -> str:
    """A member's or a machine's name: what the team's jobs list shows."""
    text = text.strip()
    if not 1 <= len(text) <= 64 or not text.isprintable():
        raise ValueError("which must be 1 to 64 printable characters")
    return text


def _number(text: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError("not a number") from None
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value
