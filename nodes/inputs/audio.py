"""The audio kind's encoder: a connected AUDIO → a ``data:audio/wav`` (or ``audio/mpeg``) URI.

ComfyUI's AUDIO is ``{"waveform": float tensor [batch, channels, samples], "sample_rate":
int}``.  One clip is sent as 16-bit PCM WAV (lossless, read by every service) when that
fits the inline limit (16 MiB as base64) and the model's size rule, else as MP3 at 192
kbit/s (LAME's most is 160 at 16–24 kHz, 64 at 8–12 kHz; the node says which).  Duration
rules are checked on the samples; a clip too long to fit even as MP3 is refused from its
length before anything is encoded.  A batch of several clips on a single audio input is
refused: one clip per job, never several paid jobs.
"""
from __future__ import annotations

import io
import wave

import av
import numpy as np
import torch

from ..core.errors import InputError
from ..spec.kinds import MEDIA_KIND
from ..codec.sound import MP3_RATES, add_audio, stream_rate
from .encoded import Encoded, data_uri

AUDIO = MEDIA_KIND["audio"]
WAV_HEADER = 44                   # RIFF, fmt and data chunk headers of a PCM WAV
MP3_BIT_RATE = 192_000
MP3_CAPS = {8000: 64_000, 11025: 64_000, 12000: 64_000, 16000: 160_000, 22050: 160_000,
            24000: 160_000}       # the highest bit rate LAME writes at these rates
MP3_SLACK = 0.99                  # the floor stays under every real MP3 (headers, padding add)


def encode_item(item, ctx) -> Encoded:
    name = item.socket or ctx.field.name
    samples, rate = clip_of(ctx.who, name, item.value)
    channels, n = samples.shape
    seconds = n / rate
    problem = ctx.limits.check("duration", seconds)
    if problem:
        raise InputError(f"{ctx.who}: input '{name}' is {seconds:.2f} s long: {problem} Allowed: "
                         f"{ctx.limits.bounds('duration')}. Trim it first.")
    as_wav = wav_size(n, channels)
    if as_wav <= AUDIO.byte_budget(ctx.limits, "audio/wav")[0]:
        return Encoded(data_uri(wav_bytes(samples, rate), "audio/wav"))
    return mp3_uri(ctx, name, samples, rate, as_wav)


def mp3_uri(ctx, name: str, samples: np.ndarray, rate: int, as_wav: int) -> Encoded:
    """The clip as MP3, for one whose WAV (``as_wav`` bytes) is over the limit; refused
    from its length alone when even the MP3 cannot fit."""
    budget, why = AUDIO.byte_budget(ctx.limits, "audio/mpeg")
    refusal = refusal_by_length(ctx.who, name, samples.shape[1], rate, budget, why)
    if refusal:                              # before encoding: it cannot fit in any form
        raise InputError(refusal)
    data = mp3_bytes(samples, rate)
    if len(data) <= budget:
        return Encoded(data_uri(data, "audio/mpeg"), (
            f"{name}: sent as MP3 ({mp3_bit_rate(rate) // 1000} kbit/s): as WAV it would be "
            f"{as_wav / 1e6:.1f} MB, over {why}.",))
    raise InputError(f"{ctx.who}: input '{name}' ({samples.shape[1] / rate:.0f} s) is "
                     f"{len(data) / 1e6:.1f} MB even as MP3, over {why}. Shorten it or give an "
                     "https:// link.")


# -- sizes known before encoding -----------------------------------------------------------
def wav_size(samples: int, channels: int) -> int:
    """Bytes of the 16-bit PCM WAV ``wav_bytes`` makes: the 44-byte header and the samples."""
    return WAV_HEADER + samples * channels * 2


def mp3_bit_rate(rate: int) -> int:
    """The bit rate of the MP3 ``mp3_bytes`` makes of a clip at ``rate`` Hz: 192 kbit/s asked,
    but LAME stops at 160 for MPEG-2 rates (16–24 kHz) and at 64 for MPEG-2.5 (8–12 kHz)."""
    return MP3_CAPS.get(stream_rate(rate, "libmp3lame", MP3_RATES), MP3_BIT_RATE)


def mp3_floor(samples: int, rate: int) -> int:
    """Bytes the MP3 of ``samples`` at ``rate`` Hz takes at least (frames only add to it)."""
    return int(samples / rate * mp3_bit_rate(rate) / 8 * MP3_SLACK)


def refusal_by_length(who: str, name: str, samples: int, rate: int, budget: int, why: str) -> str | None:
    """Why a clip of ``samples`` at ``rate`` Hz cannot be sent within ``budget`` bytes even
    as MP3 (the smallest form the node makes), known without encoding it; None when it may."""
    least = mp3_floor(samples, rate)
    if least <= budget:
        return None
    kbps = mp3_bit_rate(rate) // 1000
    fits = budget / (kbps * 125)
    return (f"{who}: input '{name}' is {span(samples / rate)} long; even as MP3 at {kbps} kbit/s "
            f"(the smallest form the node sends) it takes at least {least / 1e6:.1f} MB, over "
            f"{why}. Shorten it (about {span(fits)} fits) or give an https:// link.")


def span(seconds: float) -> str:
    """'10 h 00 min', '8 min 44 s' or '45.0 s'."""
    whole = int(seconds)
    if whole >= 3600:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    if whole >= 60:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{seconds:.1f} s"


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
                  codec="libmp3lame", bit_rate=MP3_BIT_RATE, rates=MP3_RATES)
    return buf.getvalue()
