"""Result files: where they are saved, fetching them, and turning them into node outputs."""
from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import host
from .errors import RunComfyError


def output_folder() -> Path:
    folder = host.output_dir() / "runcomfy"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def readable_name(model_id: str, request_id: str, url: str, index: int, count: int) -> str:
    """'wan-2-2-image-to-video_20261121-101500_1a2b3c4d.mp4' (plus _2, _3 … for several)."""
    slug = re.sub(r"[^a-z0-9]+", "-", model_id.split("/", 1)[-1].lower()).strip("-")
    ext = Path(url.split("?", 1)[0]).suffix.lower()
    ext = ext if re.fullmatch(r"\.[a-z0-9]{2,5}", ext) else ".bin"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    part = f"_{index + 1}" if count > 1 else ""
    return f"{slug}_{stamp}_{request_id[:8]}{part}{ext}"


def fetch_all(client, urls: list[str], model_id: str, request_id: str, progress=None) -> list[Path]:
    """Download every output URL into ComfyUI's output folder."""
    folder = output_folder()
    return [client.download(url, free_path(folder / readable_name(model_id, request_id, url, i, len(urls))),
                            progress=progress)
            for i, url in enumerate(urls)]


def free_path(path: Path) -> Path:
    """``path``, or ``name-2.ext``, ``name-3.ext`` … when a file (say, a kept damaged one) is there."""
    n = 2
    candidate = path
    while candidate.exists() or candidate.with_name(candidate.name + ".part").exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


def load_images(paths: list[Path], notes: list[str]) -> torch.Tensor:
    """PNG/JPEG/WebP files → one IMAGE batch [N, H, W, 3].

    A batch needs one size: images of another size than the first are resized to it
    (stretching), and a note says which ones and from what size.
    """
    first = None
    frames = []
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
                if first is None:
                    first = img.size
                elif img.size != first:
                    notes.append(f"image {i + 1} was {img.size[0]}x{img.size[1]}; resized to "
                                 f"{first[0]}x{first[1]} to share a batch with image 1")
                    img = img.resize(first, Image.Resampling.LANCZOS)
                frames.append(torch.from_numpy(np.asarray(img).copy()))
        except OSError as e:
            raise RunComfyError(f"The result image {path} could not be read ({e}). "
                                "The file is kept; open it to check.") from None
    batch = torch.stack(frames).to(torch.float32)
    return batch.div_(255.0)


def preview(paths: list[Path], animated: bool) -> dict:
    """The node's preview: the saved files, as ComfyUI's own savers report them."""
    base = host.output_dir()
    items = []
    for p in paths:
        try:
            sub = str(p.parent.relative_to(base))
        except ValueError:
            continue
        items.append({"filename": p.name, "subfolder": "" if sub == "." else sub, "type": "output"})
    return {"images": items, "animated": (animated,)} if items else {}
