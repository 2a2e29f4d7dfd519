"""What a piece of media is: kind, size, duration, frames.  Used to validate inputs and to
size outputs that follow their input (video-to-video, audio-to-video).

PIL is tried first: PyAV would also open a PNG (as a one-frame "video"), and an image
field must not accept a video nor a video field an image.
"""
from __future__ import annotations

import base64
import binascii
import io
import re
from pathlib import Path

from PIL import Image

DATA_URI = re.compile(r"data:([\w.+-]+/[\w.+-]+)((?:;[\w.+-]+=[\w.+-]+)*);base64,", re.ASCII)


def parse_data_uri(uri: str) -> tuple[str, bytes]:
    """``data:<mime>[;k=v];base64,<data>`` → (mime, bytes); ValueError when it is not one."""
    m = DATA_URI.match(uri)
    if not m:
        raise ValueError("not a base64 data URI")
    try:
        return m.group(1).lower(), base64.b64decode(uri[m.end():], validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError("data URI is not valid base64") from e


def probe(raw: bytes) -> dict:
    """Facts about media bytes; ValueError when neither PIL nor PyAV can read them.

    ``{"kind": "image"|"video"|"audio", "width", "height", "fps", "frames", "duration",
    "audio": has an audio stream, "size": bytes}`` (missing facts are None).
    """
    facts = _image(raw) or _av(raw)
    if facts is None:
        raise ValueError("not readable media")
    facts["size"] = len(raw)
    return facts


def probe_file(path) -> dict:
    return probe(Path(path).read_bytes())


def _image(raw: bytes) -> dict | None:
    try:
        img = Image.open(io.BytesIO(raw))
        img.load()
    except Exception:
        return None
    return {"kind": "image", "width": img.width, "height": img.height, "fps": None,
            "frames": None, "duration": None, "audio": False}


def _av(raw: bytes) -> dict | None:
    import av

    try:
        with av.open(io.BytesIO(raw)) as box:
            video = next((s for s in box.streams.video
                          if not s.disposition & av.stream.Disposition.attached_pic), None)
            audio = box.streams.audio[0] if box.streams.audio else None
            if video is None and audio is None:
                return None
            facts = {"kind": "video" if video is not None else "audio", "width": None,
                     "height": None, "fps": None, "frames": None, "audio": audio is not None,
                     "duration": _seconds(audio, box) if audio is not None else None}
            if video is not None:
                facts.update(_video_facts(box, video))
            return facts
    except (av.error.FFmpegError, ValueError, IndexError):
        return None


def _seconds(stream, box) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if box.duration:
        return box.duration / 1e6
    return None


def _video_facts(box, stream) -> dict:
    """Size, fps and frame count; frames are counted by demuxing when the header has none."""
    fps = float(stream.average_rate or stream.guessed_rate or 0) or None
    frames = stream.frames
    if not frames:
        frames = sum(1 for packet in box.demux(stream) if packet.size)
    duration = _seconds(stream, box)
    if fps and frames:
        duration = frames / fps
    return {"width": stream.codec_context.width, "height": stream.codec_context.height,
            "fps": fps, "frames": frames, "duration": duration}
