"""Decode sound into ComfyUI's AUDIO: an audio result (WAV, MP3, FLAC, …) or a video's track.

AUDIO is ``{"waveform": float32 tensor [1, channels, samples], "sample_rate": int}``, the
shape core Save Audio / Preview Audio take.  Samples are decoded at the file's own rate
and channel layout (converted to planar float), chunk by chunk into one array; the
expected size is checked against the memory budget before decoding.  Only the audio
stream is demuxed, so taking a video's track costs a fraction of decoding its frames
(bench/bench_decode.py measures it).
"""
from __future__ import annotations

from av.error import FFmpegError

from ..codec.sound import decode_sound
from ..core.errors import DecodeError


def decode_audio(path, budget: int) -> dict | None:
    """The first audio stream of ``path`` as AUDIO, or None when the file has none; at most
    ``budget`` bytes of samples (RUNCOMFY_MAX_RESULT_GB)."""
    try:
        return decode_sound(path, budget)
    except FFmpegError as e:
        raise DecodeError(f"The sound of {path} could not be read ({e}); the file is kept, "
                               "open it to check.") from None


def duration_of(audio: dict | None) -> float:
    if not audio:
        return 0.0
    return audio["waveform"].shape[-1] / audio["sample_rate"]
