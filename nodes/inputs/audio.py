"""The audio kind's encoder: a connected AUDIO → a ``data:audio/wav`` (or ``audio/mpeg``) URI.

ComfyUI's AUDIO is ``{"waveform": float tensor [batch, channels, samples], "sample_rate":
int}``.  One clip is sent as 16-bit PCM WAV (lossless, read by every service) when that
fits the inline limit (16 MiB as base64) and the model's size rule, else as 192 kbit/s
MP3 (the node says so).  Duration rules are checked on the samples.  A batch of several
clips on a single audio input is refused: one clip per job, never several paid jobs.
"""
from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
import torch

from ..errors import InputError
from .media import BY_NAME, data_uri

AUDIO = BY_NAME["audio"]
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
AAC_RATE = 44100


def encode_item(item, ctx) -> str:
    name = item.socket or ctx.field.name
    samples, rate = clip_of(ctx.who, name, item.value)
    seconds = samples.shape[1] / rate
    problem = ctx.limits.check("duration", seconds)
    if problem:
        raise InputError(f"{ctx.who}: input '{name}' is {seconds:.2f} s long: {problem} Allowed: "
                         f"{ctx.limits.bounds('duration')}. Trim it first.")
    budget, why = AUDIO.byte_budget(ctx.limits, "audio/wav")
    data = wav_bytes(samples, rate)
    if len(data) <= budget:
        return data_uri(data, "audio/wav")
    wav_size = len(data)
    budget, why = AUDIO.byte_budget(ctx.limits, "audio/mpeg")
    data = mp3_bytes(samples, rate)
    if len(data) <= budget:
        ctx.notes.append(f"{name}: sent as MP3 (192 kbit/s): as WAV it would be {wav_size / 1e6:.1f} MB, "
                         f"over {why}.")
        return data_uri(data, "audio/mpeg")
    raise InputError(f"{ctx.who}: input '{name}' ({seconds:.0f} s) is {len(data) / 1e6:.1f} MB even as "
                     f"MP3, over {why}. Shorten it or give an https:// link.")


def split_clips(value) -> list:
    """An AUDIO batch ([clips, channels, samples]) as its clips, each an AUDIO of its own."""
    wave = value.get("waveform") if isinstance(value, dict) else None
    if hasattr(wave, "shape") and len(wave.shape) == 3 and wave.shape[0] > 1:
        return [{**value, "waveform": wave[i:i + 1]} for i in range(wave.shape[0])]
    return [value]


def clip_of(who: str, name: str, audio) -> tuple[np.ndarray, int]:
    """AUDIO → (float32 [channels, samples], sample rate), checked."""
    if not isinstance(audio, dict) or "waveform" not in audio or "sample_rate" not in audio:
        raise InputError(f"{who}: input '{name}' is not an AUDIO (expected waveform and sample_rate).")
    wave_t = torch.as_tensor(audio["waveform"]).detach().to("cpu", torch.float32)
    if wave_t.dim() == 2:
        wave_t = wave_t.unsqueeze(0)
    rate = int(audio["sample_rate"])
    if wave_t.dim() != 3 or wave_t.shape[1] < 1 or wave_t.shape[2] < 1 or rate <= 0:
        raise InputError(f"{who}: input '{name}' is not a usable AUDIO (waveform shape "
                         f"{tuple(wave_t.shape)}, sample rate {rate}).")
    if wave_t.shape[0] != 1:
        raise InputError(f"{who}: input '{name}' received a batch of {wave_t.shape[0]} clips, but it "
                         "takes one clip per job; pick one first. The node never starts several "
                         "paid jobs on its own.")
    return wave_t[0].numpy(), rate


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """float [-1, 1] [channels, n] → 16-bit PCM WAV."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(pcm.shape[0])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.ascontiguousarray(pcm.T).tobytes())
    return buf.getvalue()


def mp3_bytes(samples: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp3") as out:
        add_audio(out, {"waveform": torch.from_numpy(samples)[None], "sample_rate": rate},
                  codec="libmp3lame", bit_rate=192_000, rates=MP3_RATES)
    return buf.getvalue()


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
