"""The video kind's encoder: a connected VIDEO or IMAGE batch → a ``data:video/…`` URI.

* A VIDEO (ComfyUI's VideoInput, e.g. from Load Video) is sent as its own file when the
  container and codec are ones the service takes (MP4/MOV/WebM with H.264, HEVC, VP8/9
  or AV1) and it meets the field's rules; otherwise it is transcoded to H.264 MP4 frame
  by frame (never holding the whole clip), scaled into the pixel bounds when
  ``fit_image_to_limits`` is on.  Its sound track is kept (AAC).
* An IMAGE batch is encoded to H.264 MP4 at ``ctx.fps`` (the pack option ``video_fps``,
  else the model's own fps widget, else 16).
Duration and aspect-ratio rules cannot be met without cutting: they are refused with a
sentence.  A file over the size limit is re-encoded at lower qualities (CRF_STEPS) first.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from ..core.errors import InputError
from ..codec.sound import declare_audio, decode_sound, encode_audio
from ..spec.kinds import MEDIA_KIND
from .encoded import Encoded, data_uri
from .images import size_to_send

VIDEO = MEDIA_KIND["video"]
PRESET = "veryfast"
CRF_STEPS = (20, 26, 32)          # tried in turn until the file fits the size limit
CHUNK = 8                         # frames converted to uint8 at a time (bounds extra memory)
CONTAINERS = {"mp4": "video/mp4", "mov": "video/quicktime", "webm": "video/webm"}
CODECS = {"h264", "hevc", "vp8", "vp9", "av1"}
SOUND_BUDGET = 1 << 30            # an input video's sound re-encoded with it: ~1.7 h of stereo;
                                  # far past what the 32 MiB inline limit lets through anyway
WEBM_VIDEO, WEBM_AUDIO = {"vp8", "vp9", "av1"}, {"opus", "vorbis"}


@dataclass
class Probe:
    container: str        # "mp4", "mov", "webm" or another name
    codec: str
    width: int
    height: int
    duration: float


def encode_item(item, ctx) -> Encoded:
    value = item.value
    name = item.socket or ctx.field.name
    if isinstance(value, torch.Tensor):
        return encode_frames_item(ctx, name, value)
    return encode_video_input(ctx, name, value)


# -- an IMAGE batch ------------------------------------------------------------------------
def encode_frames_item(ctx, name: str, frames: torch.Tensor, fps: float | None = None,
                       audio: dict | None = None) -> Encoded:
    fps = fps or ctx.fps
    if frames.dim() != 4 or frames.shape[-1] not in (3, 4) or frames.shape[0] < 1:
        raise InputError(f"{ctx.who}: input '{name}' is not an IMAGE batch (tensor shape "
                         f"{tuple(frames.shape)}; expected [frames, height, width, 3]).")
    n, h, w, _ = frames.shape
    check_time_and_shape(ctx, name, w, h, n / fps, f"{n} frames at {fps:g} fps")
    size = fitted(ctx, name, w, h)
    data, crf = fit_size(ctx, name, lambda q: frames_to_mp4(frames, fps, size=size, crf=q, audio=audio))
    return Encoded(data_uri(data, "video/mp4"), (
        f"{name}: {n} frames sent as an H.264 MP4 at {fps:g} fps"
        f"{f', {size[0]}x{size[1]}' if size != (w, h) else ''} ({len(data) / 1e6:.1f} MB"
        f"{f', quality CRF {crf}' if crf != CRF_STEPS[0] else ''}).",))


def frames_to_mp4(frames: torch.Tensor, fps: float, *, size=None, crf: int = CRF_STEPS[0],
                  audio: dict | None = None) -> bytes:
    """IMAGE batch (float 0..1, [N, H, W, 3|4]) → H.264 yuv420p MP4 bytes."""
    n, h, w = frames.shape[:3]
    tw, th = even(size or (w, h))
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = video_stream(out, fps, tw, th, crf)
        track = declare_audio(out, audio) if audio is not None else None   # before any packet
        for start in range(0, n, CHUNK):
            chunk = frames[start:start + CHUNK, ..., :3].detach().to("cpu", torch.float32)
            pixels = chunk.mul(255).round_().clamp_(0, 255).to(torch.uint8).numpy()
            for rgb in pixels:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                if (tw, th) != (w, h):
                    frame = frame.reformat(tw, th)
                out.mux(stream.encode(frame))
        out.mux(stream.encode())
        if track is not None:
            encode_audio(out, track)
    return buf.getvalue()


# -- a VIDEO -------------------------------------------------------------------------------
def encode_video_input(ctx, name: str, video) -> Encoded:
    source = trimmed_source(video) if trim_window(video) != (0.0, 0.0) else stream_source(video)
    if source is None:                       # built from components (no file): encode them
        images, audio, rate = components(ctx, name, video)
        return encode_frames_item(ctx, name, images, float(rate) or None, audio)
    info = probe(source, ctx, name)
    check_time_and_shape(ctx, name, info.width, info.height, info.duration,
                         f"{info.duration:.1f} s")
    size = fitted(ctx, name, info.width, info.height)
    raw = read_bytes(source)
    mime = CONTAINERS.get(info.container)
    budget, _ = VIDEO.byte_budget(ctx.limits, mime or "video/mp4")
    if mime and info.codec in CODECS and size == (info.width, info.height) and len(raw) <= budget:
        return Encoded(data_uri(raw, mime))
    why = ("scaled to fit the model's pixel limits" if size != (info.width, info.height)
           else f"{info.container}/{info.codec} is not a format the service takes"
           if not (mime and info.codec in CODECS) else f"{len(raw) / 1e6:.1f} MB is over the limit")
    data, crf = fit_size(ctx, name, lambda q: transcode(source, size, q))
    return Encoded(data_uri(data, "video/mp4"), (
        f"{name}: re-encoded as H.264 MP4 {size[0]}x{size[1]} ({why}; {len(data) / 1e6:.1f} MB, "
        f"CRF {crf}).",))


def stream_source(video):
    """The VIDEO's file (a path or a BytesIO), or None when it has none (components)."""
    get = getattr(video, "get_stream_source", None)
    if get is None:
        return None
    try:
        source = get()
    except Exception:   # noqa: BLE001 - e.g. a VideoFromComponents: encode its components
        return None
    return source if isinstance(source, (str, Path, io.BytesIO)) else None


def trim_window(video) -> tuple[float, float]:
    """(start, duration) a VIDEO is cut to (core Video Slice); (0, 0) when it is whole."""
    get = getattr(video, "get_active_trim_window", None)
    try:
        start, length = get() if get is not None else (0.0, 0.0)
        return float(start or 0.0), float(length or 0.0)
    except Exception:  # noqa: BLE001 - a VideoInput without trimming
        return 0.0, 0.0


def trimmed_source(video):
    """The cut part of a trimmed VIDEO as a file in memory (ComfyUI cuts it as it saves);
    None when it cannot save itself (then its components are encoded)."""
    buf = io.BytesIO()
    try:
        video.save_to(buf)
    except Exception:  # noqa: BLE001 - fall back to the components
        return None
    buf.seek(0)
    return buf


def read_bytes(source) -> bytes:
    if isinstance(source, io.BytesIO):
        return source.getvalue()
    return Path(source).read_bytes()


def components(ctx, name, video):
    try:
        c = video.get_components()
    except Exception as e:  # noqa: BLE001 - any VideoInput failure is the user's input
        raise InputError(f"{ctx.who}: input '{name}' could not be read as a video ({e}).") from None
    audio = getattr(c, "audio", None)
    return c.images, audio, Fraction(getattr(c, "frame_rate", 0) or 0)


def probe(source, ctx, name) -> Probe:
    try:
        with av.open(source if not isinstance(source, Path) else str(source)) as container:
            if not container.streams.video:
                raise InputError(f"{ctx.who}: input '{name}' has no video stream.")
            stream = container.streams.video[0]
            duration = (float(container.duration) / av.time_base if container.duration
                        else float(stream.duration * stream.time_base) if stream.duration else 0.0)
            kind = container_kind(container.format.name.split(","), stream.codec_context.name,
                                  [a.codec_context.name for a in container.streams.audio])
            return Probe(kind, stream.codec_context.name, stream.codec_context.width,
                         stream.codec_context.height, duration)
    except av.error.FFmpegError as e:
        raise InputError(f"{ctx.who}: input '{name}' is not a readable video ({e}).") from None
    finally:
        if isinstance(source, io.BytesIO):
            source.seek(0)


def container_kind(demuxer: list[str], video_codec: str, audio_codecs: list[str]) -> str:
    """"mp4", "mov", "webm" or the demuxer's own name.  FFmpeg reads Matroska and WebM with one
    demuxer ("matroska,webm"): it is WebM only with WebM's codecs (VP8/VP9/AV1, Opus/Vorbis),
    so an MKV holding H.264 or AAC is re-encoded, never sent labelled as video/webm."""
    if "mp4" in demuxer:
        return "mp4"
    if "mov" in demuxer:
        return "mov"
    if "webm" in demuxer:
        webm = video_codec in WEBM_VIDEO and all(c in WEBM_AUDIO for c in audio_codecs)
        return "webm" if webm else "matroska"
    return demuxer[0]


def transcode(source, size, crf: int, window=None) -> bytes:
    """Decode the source frame by frame, scale, encode as H.264 MP4 (sound kept as AAC).
    ``window`` (start, length) in seconds keeps only the frames and the sound inside it."""
    sound = sound_of(source, window)
    buf = io.BytesIO()
    with av.open(source if not isinstance(source, Path) else str(source)) as src, \
            av.open(buf, "w", format="mp4") as out:
        vin = src.streams.video[0]
        fps = float(vin.average_rate or 16)
        stream = video_stream(out, fps, *even(size), crf)
        track = declare_audio(out, sound) if sound is not None else None   # before any packet
        for frame in src.decode(vin):
            if window is not None:
                t = float(frame.pts * vin.time_base) if frame.pts is not None else 0.0
                if t < window[0] - 1e-6 or t >= window[0] + window[1] - 1e-6:
                    continue
            frame = frame.reformat(stream.width, stream.height, "yuv420p")
            frame.pts = None
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
        if track is not None:
            encode_audio(out, track)
    if isinstance(source, io.BytesIO):
        source.seek(0)
    return buf.getvalue()


def sound_of(source, window=None) -> dict | None:
    """The source's sound track as AUDIO, cut to ``window`` (None without sound), read
    before the output is opened: its stream is declared there before the first packet."""
    try:
        sound = decode_sound(source, SOUND_BUDGET)
    finally:
        if isinstance(source, io.BytesIO):
            source.seek(0)
    return sound if sound is None or window is None else cut_sound(sound, *window)


def cut_sound(sound: dict, start: float, length: float) -> dict | None:
    """The AUDIO's part from ``start`` for ``length`` seconds (inf: to the end); None if empty."""
    rate = sound["sample_rate"]
    first = round(start * rate)
    stop = None if math.isinf(length) else first + round(length * rate)
    part = sound["waveform"][..., first:stop]
    return {**sound, "waveform": part} if part.shape[-1] else None


# -- shared --------------------------------------------------------------------------------
def video_stream(out, fps: float, width: int, height: int, crf: int):
    stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"crf": str(crf), "preset": PRESET}
    return stream


def even(size) -> tuple[int, int]:
    """yuv420p needs even sides."""
    w, h = size
    return max(2, int(w) - int(w) % 2), max(2, int(h) - int(h) % 2)


def check_time_and_shape(ctx, name, w: int, h: int, seconds: float, what: str) -> None:
    problem = ctx.limits.check("duration", seconds)
    if problem:
        raise InputError(f"{ctx.who}: input '{name}' is {seconds:.2f} s long ({what}): {problem} "
                         f"Allowed: {ctx.limits.bounds('duration')}. Trim it first (for an IMAGE "
                         "batch: fewer frames, or a higher 'video_fps').")
    problem = ctx.limits.check("aspect", w / h)
    if problem:
        raise InputError(f"{ctx.who}: input '{name}' is {w}x{h} (aspect ratio {w / h:.2f}): "
                         f"{problem} Allowed: {ctx.limits.bounds('aspect')}. Crop or pad it first.")


def fitted(ctx, name, w: int, h: int) -> tuple[int, int]:
    """The size to send: as is, or scaled minimally into the pixel bounds (when allowed)."""
    return size_to_send(ctx.who, name, w, h, ctx.limits, ctx.fit)


def fit_size(ctx, name, make) -> tuple[bytes, int]:
    """Encode at the CRF steps until the file fits the byte budget."""
    budget, why = VIDEO.byte_budget(ctx.limits, "video/mp4")
    for crf in CRF_STEPS:
        data = make(crf)
        if len(data) <= budget:
            return data, crf
    raise InputError(f"{ctx.who}: input '{name}' is {len(data) / 1e6:.1f} MB as H.264 even at CRF "
                     f"{CRF_STEPS[-1]}, over {why}. Shorten it, make it smaller, or give an "
                     "https:// link.")
