"""What an encoder returns: the data URI it made and the notes it wants shown on the node."""
from __future__ import annotations

import base64
from dataclasses import dataclass


@dataclass(frozen=True)
class Encoded:
    uri: str                  # data:<mime>;base64,…
    notes: tuple = ()         # sentences for the node ("image: downscaled 4000x3000 → …")


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
