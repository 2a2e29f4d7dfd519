"""Result files: where they are saved, fetching them, and turning them into node outputs."""
from __future__ import annotations

import glob
import hashlib
import os
import re
import socket
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..comfy import host
from ..errors import ResultTooLarge, RunComfyError, clip
from ..remote.client import safe_id
from ..remote.process import pid_alive
from ..settings import max_image_pixels, result_memory_budget


def output_folder() -> Path:
    folder = host.output_dir() / "runcomfy"
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


def fetch_all(client, urls: list[str], model_id: str, request_id: str, progress=None) -> list[Path]:
    """Download every output URL into ComfyUI's output folder."""
    folder = output_folder()
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


def load_images(paths: list[Path], notes: list[str]) -> torch.Tensor:
    """PNG/JPEG/WebP files → one IMAGE batch [N, H, W, 3].

    A batch needs one size: images of another size than the first are resized to it
    (stretching), and a note says which ones and from what size.  Each image's pixel count
    and the batch's memory are checked against their caps before any pixel is decoded.
    """
    first = None
    frames = []
    cap, budget = max_image_pixels(), result_memory_budget()
    for i, path in enumerate(paths):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                img_file = Image.open(path)
        except Image.DecompressionBombError:
            raise too_many_pixels(path, None, cap) from None
        except OSError as e:
            raise RunComfyError(f"The result image {path} could not be read ({clip(e)}). "
                                "The file is kept; open it to check.") from None
        with img_file:
            w, h = img_file.size
            if w * h > cap:
                raise too_many_pixels(path, (w, h), cap)
            size = first or (w, h)
            if len(paths) * size[0] * size[1] * 12 > budget:
                raise ResultTooLarge(f"The {len(paths)} result images of {size[0]}x{size[1]} would "
                                     f"take {len(paths) * size[0] * size[1] * 12 / 2**30:.1f} GiB as "
                                     f"an IMAGE batch, over the {budget / 2**30:.1f} GiB budget "
                                     "(RUNCOMFY_MAX_RESULT_GB). The files are saved in the output "
                                     "folder.")
            try:
                img = img_file.convert("RGB")
            except OSError as e:
                raise RunComfyError(f"The result image {path} could not be read ({clip(e)}). "
                                    "The file is kept; open it to check.") from None
            if first is None:
                first = img.size
            elif img.size != first:
                notes.append(f"image {i + 1} was {img.size[0]}x{img.size[1]}; resized to "
                             f"{first[0]}x{first[1]} to share a batch with image 1")
                img = img.resize(first, Image.Resampling.LANCZOS)
            frames.append(torch.from_numpy(np.asarray(img).copy()))
    batch = torch.stack(frames).to(torch.float32)
    return batch.div_(255.0)


def too_many_pixels(path, size, cap: int) -> ResultTooLarge:
    what = f"{size[0]}x{size[1]} ({size[0] * size[1] / 1e6:.0f} MP)" if size else "far too many pixels"
    return ResultTooLarge(f"The result image {path} has {what}, over the {cap / 1e6:.0f} MP "
                          "allowed for one image (RUNCOMFY_MAX_IMAGE_MP). The file is kept; "
                          "open it with another program.")


def preview(paths: list[Path], animated: bool, audio: list[Path] = ()) -> dict:
    """The node's preview: the saved files, as ComfyUI's own savers report them."""
    ui: dict = {}
    items = _ui_items(paths)
    if items:
        ui["images"], ui["animated"] = items, (animated,)
    sounds = _ui_items(audio)
    if sounds:
        ui["audio"] = sounds
    return ui


def _ui_items(paths) -> list[dict]:
    base = host.output_dir()
    items = []
    for p in paths:
        try:
            sub = str(Path(p).parent.relative_to(base))
        except ValueError:
            continue
        items.append({"filename": Path(p).name, "subfolder": "" if sub == "." else sub, "type": "output"})
    return items
