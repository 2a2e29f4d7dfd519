"""Decode sound into ComfyUI's AUDIO: an audio result (WAV, MP3, FLAC, …) or a video's track.

AUDIO is ``{"waveform": float32 tensor [1, channels, samples], "sample_rate": int}``, the
shape core Save Audio / Preview Audio take.  Samples are decoded at the file's own rate
and channel layout (converted to planar float), chunk by chunk into one array; the
expected size is checked against the memory budget before decoding.  Only the audio
stream is demuxed, so taking a video's track costs a fraction of decoding its frames
(bench/bench_decode.py measures it).
"""
from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import torch
from av.error import FFmpegError

from ..errors import ResultTooLarge, RunComfyError
from ..settings import result_memory_budget


class AudioDecodeError(RunComfyError):
    """A result's sound could not be read (the file is kept)."""


def decode_audio(path, *, budget: int | None = None) -> dict | None:
    """The first audio stream of ``path`` as AUDIO, or None when the file has none."""
    try:
        return decode_audio_stream(str(path) if isinstance(path, Path) else path, budget=budget)
    except FFmpegError as e:
        raise AudioDecodeError(f"The sound of {path} could not be read ({e}); the file is kept, "
                               "open it to check.") from None


def decode_audio_stream(source, *, budget: int | None = None) -> dict | None:
    source = str(source) if isinstance(source, Path) else source
    with av.open(source) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or stream.rate
        channels = stream.codec_context.channels or 1
        layout = stream.codec_context.layout.name if stream.codec_context.layout else None
        seconds = (float(stream.duration * stream.time_base) if stream.duration
                   else float(container.duration) / av.time_base if container.duration else 0.0)
        need = int(seconds * rate * channels * 4)
        limit = result_memory_budget() if budget is None else budget
        if need > limit:
            raise ResultTooLarge(f"The sound of {source} ({seconds:.0f} s, {channels} channels at "
                                 f"{rate} Hz) would take {need / 2**30:.1f} GiB, over the "
                                 f"{limit / 2**30:.1f} GiB budget (RUNCOMFY_MAX_RESULT_GB).")
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        parts, total = [], 0
        for packet in container.demux(stream):
            for frame in packet.decode():
                for out in resampler.resample(frame):
                    part = out.to_ndarray()
                    parts.append(part)
                    total += part.shape[1]
                    if total * part.shape[0] * 4 > limit:
                        raise ResultTooLarge(f"The sound of {source} is longer than it says; "
                                             "stopped over the memory budget (RUNCOMFY_MAX_RESULT_GB).")
        for out in resampler.resample(None):
            parts.append(out.to_ndarray())
    if isinstance(source, io.BytesIO):
        source.seek(0)
    if not parts:
        return None
    samples = np.concatenate(parts, axis=1).astype(np.float32, copy=False)
    return {"waveform": torch.from_numpy(samples)[None], "sample_rate": int(rate)}


def duration_of(audio: dict | None) -> float:
    if not audio:
        return 0.0
    return audio["waveform"].shape[-1] / audio["sample_rate"]
