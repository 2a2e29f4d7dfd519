"""A plain VIDEO for where ComfyUI's own type does not exist (tests, the demo).

It offers the part of ComfyUI's ``VideoInput`` the pack uses: the file, its size, its
duration and its components (frames, sound, frame rate).  Inside ComfyUI the pack hands
out ComfyUI's own ``VideoFromFile`` instead (host.video_from_file).
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from ..inputs.video import transcode
from .audio import decode_audio
from .decode import decode_video

COMPONENTS_BUDGET = 8 << 30       # bytes its frames and sound may take when decoded whole


@dataclass
class Components:
    images: object          # IMAGE batch [N, H, W, 3]
    audio: dict | None      # AUDIO or None
    frame_rate: Fraction


class LocalVideo:
    """A video file, optionally cut to ``start_time`` / ``duration`` seconds (0: to the end),
    as ComfyUI's VideoFromFile is by core Video Slice."""

    def __init__(self, path, *, start_time: float = 0.0, duration: float = 0.0,
                 budget: int = COMPONENTS_BUDGET):
        self.path = Path(path)
        self.start_time, self.duration = float(start_time), float(duration)
        self.budget = budget

    def __repr__(self):
        return f"LocalVideo({str(self.path)!r})"

    def get_active_trim_window(self) -> tuple[float, float]:
        return self.start_time, self.duration

    def get_stream_source(self) -> str:
        return str(self.path)

    def get_container_format(self) -> str:
        with av.open(str(self.path)) as c:
            return c.format.name

    def get_dimensions(self) -> tuple[int, int]:
        with av.open(str(self.path)) as c:
            cc = c.streams.video[0].codec_context
            return cc.width, cc.height

    def get_duration(self) -> float:
        with av.open(str(self.path)) as c:
            return float(c.duration or 0) / av.time_base

    def get_components(self) -> Components:
        clip = decode_video(self.path, budget=self.budget)
        return Components(clip.frames, decode_audio(self.path, self.budget),
                          Fraction(clip.source_fps).limit_denominator(1001))

    def save_to(self, path, **_ignored) -> None:
        """The file, or its cut part re-encoded as H.264 MP4 (into a path or a BytesIO)."""
        if (self.start_time, self.duration) == (0.0, 0.0):
            if hasattr(path, "write"):
                path.write(self.path.read_bytes())
            else:
                shutil.copyfile(self.path, path)
            return
        data = transcode(self.path, self.get_dimensions(), 20,
                         window=(self.start_time, self.duration or float("inf")))
        if hasattr(path, "write"):
            path.write(data)
        else:
            Path(path).write_bytes(data)
