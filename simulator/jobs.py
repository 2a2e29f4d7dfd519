"""Simulated jobs: their timeline (in_queue → in_progress → completed) and their outputs.

A job's state is computed from the clock, so nothing runs in the background.  Output
files are generated on first download and cached by their parameters.
"""
from __future__ import annotations

import base64
import hashlib
import io
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from . import audio, media, mesh

RESOLUTIONS = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
FRAME_KEYS = ("num_frames", "frames", "length")
FPS_KEYS = ("frames_per_second", "frame_rate", "fps")
FAILURES = {   # job fault → the error object a failed result carries
    "fail": ("generation_failed", "The model could not generate {what} from this input."),
    "fail_billed": ("generation_failed", "The model ran but failed while producing {what}."),
    "moderation": ("content_moderation", "The prompt was flagged by content moderation."),
}
JOB_FAULTS = (*FAILURES, "cancelled", "empty")   # per job: a magic token or a submit fault


class Clock:
    """Simulated seconds: real seconds × scale (the polling benchmark runs at 20×)."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale
        self._t0 = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._t0) * self.scale

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self.scale)


@dataclass
class Job:
    request_id: str
    model_id: str
    body: dict
    output_kind: str            # "video", "image", "audio" or "3d"
    submitted_at: float
    queue_s: float
    run_s: float
    fault: str = ""             # FAILURES, "cancelled", "empty" (completed without outputs)
    cancelled_at: float | None = None
    plan: object = None         # plan.Plan: the files it outputs, fixed at submit

    @property
    def finishes_at(self) -> float:
        return self.submitted_at + self.queue_s + self.run_s

    def state(self, now: float) -> str:
        if self.cancelled_at is not None:
            return "cancelled"
        t = now - self.submitted_at
        if t < self.queue_s:
            return "in_queue"
        if t < self.queue_s + self.run_s:
            return "in_progress"
        if self.fault in FAILURES:
            return "failed"
        return "cancelled" if self.fault == "cancelled" else "completed"

    def billed(self, now: float) -> bool:
        """Completed jobs are billed, and failures after running (``fail_billed``); jobs
        cancelled (by the user while queued, or by the service) and the other failures not."""
        state = self.state(now)
        return state == "completed" or (state == "failed" and self.fault == "fail_billed")


def new_request_id() -> str:
    return str(uuid.uuid4())


def video_params(body: dict) -> dict:
    """Frame count, fps and size a real model would produce for this body."""
    values = {re.sub(r"^\d+_", "", k): v for k, v in body.items()}
    fps = next((int(values[k]) for k in FPS_KEYS if k in values), 16)
    frames = next((int(values[k]) for k in FRAME_KEYS if k in values), None)
    if frames is None:
        frames = int(values.get("duration", 5)) * fps + 1
    return {"frames": frames, "fps": fps, **size_from(body, (832, 480))}


def input_picture(body: dict) -> bytes | None:
    """The bytes of the first image sent inline (a data URI), if any: the clip animates it."""
    for value in body.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item.startswith("data:image/"):
                try:
                    return base64.b64decode(item.split(",", 1)[1])
                except (ValueError, IndexError):
                    return None
    return None


def image_params(body: dict) -> dict:
    return size_from(body, (1024, 1024))


def size_from(body: dict, default: tuple[int, int]) -> dict:
    """Integer ``width`` and ``height`` keys, else a 'WxH' / 'W*H' or '720p' style value
    anywhere in the body."""
    w, h = body.get("width"), body.get("height")
    if all(isinstance(v, int) and not isinstance(v, bool) and 16 <= v <= 8192 for v in (w, h)):
        return {"width": w, "height": h}
    for value in body.values():
        if not isinstance(value, str) or len(value) > 40:
            continue
        m = re.match(r"\s*(\d{3,4})\s*[x*]\s*(\d{3,4})", value)
        if m:
            return {"width": int(m.group(1)), "height": int(m.group(2))}
        if value.lower() in RESOLUTIONS:
            w, h = RESOLUTIONS[value.lower()]
            return {"width": w, "height": h}
    return {"width": default[0], "height": default[1]}


class MediaStore:
    """Generated output files, cached by parameters; ``max_side`` shrinks them for fast tests."""

    def __init__(self, folder: Path, max_side: int | None = None, frame_cap: int | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_side = max_side
        self.frame_cap = frame_cap
        self._lock = threading.Lock()

    def _shrink(self, width: int, height: int) -> tuple[int, int]:
        if self.max_side and max(width, height) > self.max_side:
            k = self.max_side / max(width, height)
            width, height = max(16, int(width * k)), max(16, int(height * k))
        return width - width % 2, height - height % 2

    def video(self, frames: int, fps: int, width: int, height: int, picture: bytes | None = None,
              sound: Sound | None = None) -> Path:
        width, height = self._shrink(width, height)
        if self.frame_cap:
            frames = min(frames, self.frame_cap)
        tag = hashlib.sha1(picture).hexdigest()[:12] if picture else "plain"
        if sound is not None:
            sound = sound.capped(frames / fps) if self.frame_cap else sound
            tag += "_" + sound.tag
        path = self.folder / f"video_{frames}f_{fps}fps_{width}x{height}_{tag}.mp4"
        with self._lock:
            if not path.exists():
                tmp = path.with_suffix(".tmp.mp4")
                img = Image.open(io.BytesIO(picture)) if picture else None
                samples = sound.samples() if sound is not None else None
                media.write_mp4(tmp, frames, fps, width, height, picture=img, audio=samples)
                tmp.replace(path)
        return path

    def image(self, width: int, height: int, index: int) -> Path:
        width, height = self._shrink(width, height)
        path = self.folder / f"image_{width}x{height}_{index}.png"
        with self._lock:
            if not path.exists():
                path.write_bytes(media.png_bytes(width, height, index))
        return path

    def mesh(self, colour: tuple[float, float, float]) -> Path:
        """A binary glTF (.glb) mesh in ``colour`` (see ``mesh.py``)."""
        path = self.folder / ("mesh_" + "_".join(f"{c:.4f}" for c in colour) + ".glb")
        with self._lock:
            if not path.exists():
                path.write_bytes(mesh.glb_bytes(colour))
        return path

    def audio(self, sound: Sound, fmt: str = "wav") -> Path:
        """A WAV (pcm_s16le 44.1 kHz stereo) or MP3 of the sound, exactly its length."""
        path = self.folder / f"audio_{sound.tag}.{fmt}"
        with self._lock:
            if not path.exists():
                tmp = path.with_suffix(f".tmp.{fmt}")
                write = audio.write_mp3 if fmt == "mp3" else audio.write_wav
                write(tmp, sound.seconds, samples=sound.samples())
                tmp.replace(path)
        return path


@dataclass(frozen=True)
class Sound:
    """A sound track or audio output: a tone at ``freq``, or the input ``clip`` resampled to
    44.1 kHz stereo; either way exactly ``seconds`` long (a clip is trimmed or padded)."""
    seconds: float
    freq: float = 440.0
    clip: bytes | None = None

    @property
    def tag(self) -> str:
        source = hashlib.sha1(self.clip).hexdigest()[:12] if self.clip else f"{self.freq:g}hz"
        return f"{self.seconds:.4f}s_{source}"

    def capped(self, seconds: float) -> "Sound":
        return Sound(min(self.seconds, seconds), self.freq, self.clip)

    def samples(self):
        import av

        if self.clip is not None:
            try:
                return audio.fit(audio.decode(self.clip), round(self.seconds * audio.RATE))
            except (av.error.FFmpegError, ValueError):
                pass      # unreadable (only a dropped submit skips validation): a tone instead
        return audio.tone(self.seconds, freq=self.freq)
