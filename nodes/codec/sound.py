"""Sound through PyAV, for inputs and results alike: decode a file's sound track into an
AUDIO, and encode an AUDIO into a stream of an output container (AAC in MP4, MP3).

AUDIO is ComfyUI's ``{"waveform": float32 tensor [1, channels, samples], "sample_rate": int}``.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from ..core.errors import ResultTooLarge

AAC_RATE = 44100
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def decode_sound(source, budget: int) -> dict | None:
    """The first audio stream of a file (a path or a BytesIO, left at its start) as AUDIO
    (float32 at its own rate and layout), or None when it has none.  At most ``budget``
    bytes of samples: checked from the stream's duration first, then while decoding."""
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
        limit = budget
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


@dataclass
class Track:
    """An audio stream declared in an output container, with the samples it is to carry."""
    stream: object
    samples: np.ndarray     # float32 [1 or 2 channels, n]
    rate: int               # the samples' own rate (the stream's may differ: resampled)
    layout: str             # "mono" or "stereo"


def add_audio(out, audio: dict, **options) -> None:
    """Declare and encode an AUDIO at once: for a container that carries nothing else (MP3)."""
    encode_audio(out, declare_audio(out, audio, **options))


def declare_audio(out, audio: dict, *, codec: str = "aac", bit_rate: int = 160_000,
                  rates=None) -> Track:
    """A new audio stream in an open output container (AAC in MP4 by default), for the AUDIO.

    Every stream must be declared before the first packet is muxed (PyAV cannot add one
    later), so a video with sound declares this before encoding its frames.  Mono stays
    mono; more than two channels are mixed down to stereo.  The rate is kept when the
    codec takes it, else resampled (to 44.1 kHz)."""
    samples = torch.as_tensor(audio["waveform"]).detach().to("cpu", torch.float32)
    samples = (samples[0] if samples.dim() == 3 else samples).numpy()
    rate = int(audio["sample_rate"])
    if samples.shape[0] > 2:
        samples = np.stack([samples[0::2].mean(0), samples[1::2].mean(0)])
    layout = "mono" if samples.shape[0] == 1 else "stereo"
    stream = out.add_stream(codec, rate=stream_rate(rate, codec, rates))
    stream.layout = layout
    stream.bit_rate = bit_rate
    return Track(stream, samples, rate, layout)


def stream_rate(rate: int, codec: str, rates) -> int:
    """The rate a codec's stream runs at for samples at ``rate``: kept when it takes it."""
    return rate if (rates is None and codec != "aac") or (rates and rate in rates) else AAC_RATE


def encode_audio(out, track: Track) -> None:
    """Encode a declared track's samples (resampled to its stream's rate) and flush it."""
    stream, samples, rate = track.stream, track.samples, track.rate
    resampler = av.AudioResampler(format=stream.format.name, layout=track.layout, rate=stream.rate)
    step = 4096
    for start in range(0, samples.shape[1], step):
        part = np.ascontiguousarray(samples[:, start:start + step], dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(part, format="fltp", layout=track.layout)
        frame.sample_rate = rate
        frame.time_base = Fraction(1, rate)
        frame.pts = start
        for f in resampler.resample(frame):
            out.mux(stream.encode(f))
    for f in resampler.resample(None):
        out.mux(stream.encode(f))
    out.mux(stream.encode(None))
