"""Widget and socket names for schema fields: short, readable, and never clashing.

Names are part of saved workflows (links to sockets are stored by name, widget values by
position), so these rules only ever grow: a name a schema produced yesterday is the
name it produces today.
"""
from __future__ import annotations

import re
from dataclasses import replace

from .kinds import strip_node_prefix

PLURALS = {"image": ("img", "images", "imgs"), "video": ("vid", "videos", "vids"),
           "audio": ("audios", "sound", "sounds")}


def widget_name(key: str, title: str) -> str:
    """A short readable widget name: from an ASCII title, else from the wire key.

    "Resolution (W:H)" → "resolution", "Number of Frames" → "number_of_frames",
    a Chinese title → the key ("negative_prompt"), "600_prompt" → "prompt".
    """
    base = re.sub(r"\([^)]*\)", "", title)
    if base.strip() and base.isascii():
        name = re.sub(r"[^a-z0-9]+", "_", base.lower()).strip("_")
        if name:
            return name
    name = re.sub(r"[^a-z0-9]+", "_", strip_node_prefix(key).lower()).strip("_")
    return name or "value"


def media_name(name: str, kind: str) -> str:
    """'image_urls' → 'image', 'img_url' → 'image', 'videos' → 'video',
    'reference_images' → 'reference_image': the plain noun, singular (sockets add _1, _2)."""
    name = re.sub(r"_?(urls?|uris?)$", "", name)
    plurals = PLURALS.get(kind, ())
    if name in ("", *plurals):
        return kind
    return re.sub(rf"_({'|'.join(plurals)})$", f"_{kind}", name) if plurals else name


def free_name(f, taken: set[str]):
    """(field ``f`` under a widget name whose every input (sockets, URL widget) is not in
    ``taken``, the names its inputs now use)."""
    base, n = f.name, 1
    while True:
        named = replace(f, name=base if n == 1 else f"{base}_{n}")
        names = {named.name, *named.socket_names(), *([named.url_name] if named.media else [])}
        if not names & taken:
            return named, names
        n += 1
