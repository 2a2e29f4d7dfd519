"""A small picture of a job's result, for the jobs panel: made from the files already on
disk (never downloaded for it), once, and kept in a bounded folder beside the journal.

  * a video: its first frame;
  * an image: the image;
  * a sound: its waveform (a speaker icon is the panel's when the sound cannot be read);
  * anything else (a 3D model): none.

``ThumbFolder`` keeps them as ``<user>/runcomfy/thumbs/<hash of the request id>.jpg`` (at most
THUMB_SIDE px a side, JPEG), at most MAX_BYTES in all: the oldest used go first.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from io import BytesIO
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from ..codec.sound import decode_sound
from ..core.errors import RunComfyError
from ..core.files import write_atomic
from ..spec.kinds import OUTPUT_KINDS

log = logging.getLogger("runcomfy")

THUMB_SIDE = 256                 # px, the longer side: the panel shows them at about 96 px
MAX_BYTES = 64 * 1024 * 1024     # the folder's size: ~6,000 thumbnails of ~10 KB
SOUND_BUDGET = 64 * 1024 * 1024  # bytes of decoded samples a waveform may read (~3 min stereo)
WAVE_SIZE = (THUMB_SIDE, 96)


def thumb_name(request_id: str) -> str:
    """A job's thumbnail file name: from its whole request id (ids may share any prefix)."""
    return hashlib.sha256(str(request_id).encode("utf-8", "replace")).hexdigest()[:32]


def kind_of(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return next((k.name for k in OUTPUT_KINDS if suffix in k.extensions), None)


def picture_of(path: Path) -> Image.Image | None:
    """The result file's picture at thumbnail size (None: its kind has none)."""
    kind = kind_of(path)
    if kind == "video":
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            frame = next(container.decode(video=0), None)
            image = frame.to_image() if frame is not None else None
    elif kind == "image":
        with Image.open(path) as opened:
            opened.draft("RGB", (THUMB_SIDE, THUMB_SIDE))      # JPEG: decode at a fraction
            image = opened.convert("RGB")
    elif kind == "audio":
        return waveform(path)
    else:
        return None
    if image is None:
        return None
    image.thumbnail((THUMB_SIDE, THUMB_SIDE))
    return image


def waveform(path: Path) -> Image.Image | None:
    audio = decode_sound(path, SOUND_BUDGET)
    if audio is None:
        return None
    samples = audio["waveform"][0].float().mean(0).numpy()          # mono
    width, height = WAVE_SIZE
    image = Image.new("RGB", WAVE_SIZE, (24, 28, 36))
    if samples.size == 0:
        return image
    columns = np.array_split(samples, width)
    peak = max(float(np.abs(samples).max()), 1e-6)
    draw = ImageDraw.Draw(image)
    for x, column in enumerate(columns):
        if column.size:
            top, bottom = float(column.max()) / peak, float(column.min()) / peak
            draw.line([(x, height / 2 - top * (height / 2 - 2)), (x, height / 2 - bottom * (height / 2 - 2))],
                      fill=(96, 180, 255))
    return image


class ThumbFolder:
    """Thumbnails kept in ``folder``: made once, bounded in size, the oldest used dropped."""

    def __init__(self, folder: Path, max_bytes: int = MAX_BYTES):
        self.folder, self.max_bytes = Path(folder), max_bytes
        self._lock = threading.Lock()

    def path(self, request_id: str) -> Path:
        return self.folder / f"{thumb_name(request_id)}.jpg"

    def get(self, request_id: str, files: list[Path]) -> Path | None:
        """The thumbnail of the job ``request_id``, made from the first of its ``files`` that
        has a picture when there is none yet; None when none can be made."""
        target = self.path(request_id)
        with self._lock:
            if target.is_file():
                os.utime(target)                                 # used: kept longest
                return target
            for file in files:
                try:
                    image = picture_of(Path(file))
                except (OSError, ValueError, RunComfyError, av.error.FFmpegError) as e:
                    log.info("RunComfy: no thumbnail from %s (%s)", file, e)
                    continue
                if image is not None:
                    self.folder.mkdir(parents=True, exist_ok=True)
                    write_atomic(target, jpeg(image))
                    self._trim()
                    return target
        return None

    def _trim(self) -> None:
        """Drop the least recently used thumbnails until the folder fits ``max_bytes``."""
        entries = [(p.stat().st_mtime, p.stat().st_size, p) for p in self.folder.glob("*.jpg")]
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size


def jpeg(image: Image.Image) -> bytes:
    out = BytesIO()
    image.save(out, "JPEG", quality=82, optimize=True)
    return out.getvalue()
