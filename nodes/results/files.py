"""Result files: where they are saved (names that never collide), fetching them, previews."""
from __future__ import annotations

import glob
import hashlib
import os
import re
import socket
import time
from pathlib import Path

from ..core.process import pid_alive
from ..remote.client import safe_id


def output_folder(base: Path) -> Path:
    """Where results are saved: the runcomfy subfolder of ComfyUI's output folder ``base``."""
    folder = Path(base) / "runcomfy"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


PART_MAX_AGE_S = 15 * 60   # a .part untouched this long belongs to a download that died


def readable_name(model_id: str, request_id: str, url: str, index: int, count: int) -> str:
    """'wan-2-2-image-to-video_20261121-101500_1a2b3c4d.mp4' (plus _2, _3 … for several)."""
    slug = re.sub(r"[^a-z0-9]+", "-", model_id.split("/", 1)[-1].lower()).strip("-")[:60] or "result"
    ext = Path(url.split("?", 1)[0][-64:]).suffix.lower()
    ext = ext if re.fullmatch(r"\.[a-z0-9]{2,5}", ext) else ".bin"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    part = f"_{index + 1}" if count > 1 else ""
    return f"{slug}_{stamp}_{safe_id(request_id)}{part}{ext}"


def host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


def part_path(dest: Path) -> Path:
    """Where ``dest`` is written while it downloads: named after this process, so a leftover
    of a killed download can be told from one that another process is still writing."""
    return dest.with_name(f"{dest.name}.{host_tag()}-{os.getpid()}.part")


def sweep_parts(folder: Path, max_age_s: float = PART_MAX_AGE_S) -> list[Path]:
    """Remove ``*.part`` files of downloads that died: their process (on this machine) is
    gone, or, for any other, the file has not been written for ``max_age_s``."""
    removed = []
    now, mine = time.time(), host_tag()
    for part in Path(folder).glob("*.part"):
        m = re.search(r"\.([0-9a-f]{6})-(\d+)\.part$", part.name)
        try:
            dead = m is not None and m.group(1) == mine and not pid_alive(int(m.group(2)))
            if dead or now - part.stat().st_mtime > max_age_s:
                part.unlink()
                removed.append(part)
        except OSError:
            continue
    return removed


def fetch_all(client, urls: list[str], model_id: str, request_id: str, folder: Path,
              progress=None) -> list[Path]:
    """Download every output URL into ``folder``."""
    saved = []
    for i, url in enumerate(urls):
        dest = free_path(folder / readable_name(model_id, request_id, url, i, len(urls)))
        saved.append(client.download(url, dest, progress=progress, part=part_path(dest)))
    return saved


def free_path(path: Path) -> Path:
    """``path``, or ``name-2.ext``, ``name-3.ext`` … when a file (say, a kept damaged one),
    or another download's ``.part`` of it, is there."""
    n = 2
    candidate = path
    while candidate.exists() or any(candidate.parent.glob(glob.escape(candidate.name) + ".*part")):
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


def preview(base: Path, paths: list[Path], animated: bool, audio: list[Path] = ()) -> dict:
    """The node's preview: the saved files (inside the output folder ``base``), as ComfyUI's
    own savers report them."""
    ui: dict = {}
    items = _ui_items(base, paths)
    if items:
        ui["images"], ui["animated"] = items, (animated,)
    sounds = _ui_items(base, audio)
    if sounds:
        ui["audio"] = sounds
    return ui


def _ui_items(base: Path, paths) -> list[dict]:
    items = []
    for p in paths:
        try:
            sub = str(Path(p).parent.relative_to(base))
        except ValueError:
            continue
        items.append({"filename": Path(p).name, "subfolder": "" if sub == "." else sub, "type": "output"})
    return items
