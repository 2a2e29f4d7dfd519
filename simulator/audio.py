"""Real audio for the simulator: sine tones, input clips resampled, WAV / MP3 / AAC encoding.

Samples travel as float32 arrays shaped (channels, n) in -1..1, at ``RATE`` unless said
otherwise.  Outputs are exact in length: a WAV or MP3 of 3 s decodes to 3 s.
"""
from __future__ import annotations

import hashlib
import io
import wave
from pathlib import Path

import numpy as np

RATE = 44100


def prompt_pitch(text: str) -> float:
    """A tone pitch (220..660 Hz) from a prompt's hash: different prompts sound different."""
    digest = hashlib.sha1(str(text).encode()).digest()
    return 220.0 + int.from_bytes(digest[:4], "big") % 441


def tone(seconds: float, rate: int = RATE, channels: int = 2, freq: float = 440.0) -> np.ndarray:
    """A sine at ``freq`` (half volume), the right channel a fifth above the left."""
    t = np.arange(round(seconds * rate), dtype=np.float64) / rate
    rows = [0.5 * np.sin(2 * np.pi * freq * (1.5 ** c) * t) for c in range(channels)]
    return np.stack(rows).astype(np.float32)


def decode(raw: bytes, rate: int = RATE, channels: int = 2) -> np.ndarray:
    """Decode any clip PyAV reads and resample it to ``rate`` Hz, ``channels`` channels."""
    import av

    layout = "stereo" if channels == 2 else "mono"
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
    chunks = []
    with av.open(io.BytesIO(raw)) as box:
        for frame in box.decode(audio=0):
            chunks += [f.to_ndarray() for f in resampler.resample(frame)]
    chunks += [f.to_ndarray() for f in resampler.resample(None)]
    if not chunks:
        return np.zeros((channels, 0), np.float32)
    return np.concatenate(chunks, axis=1).astype(np.float32)


def fit(samples: np.ndarray, n: int) -> np.ndarray:
    """Trim or pad (with silence) to exactly ``n`` samples per channel."""
    if samples.shape[1] >= n:
        return samples[:, :n]
    pad = np.zeros((samples.shape[0], n - samples.shape[1]), np.float32)
    return np.concatenate([samples, pad], axis=1)


def write_wav(path, seconds: float, rate: int = RATE, channels: int = 2, freq: float = 440.0,
              samples: np.ndarray | None = None) -> Path:
    """A PCM s16le WAV of exactly ``seconds`` (a tone, or the given samples)."""
    data = samples if samples is not None else tone(seconds, rate, channels, freq)
    pcm = (np.clip(data, -1, 1) * 32767).astype("<i2").T.tobytes()
    path = Path(path)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(data.shape[0])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return path


def write_mp3(path, seconds: float, rate: int = RATE, channels: int = 2, freq: float = 440.0,
              samples: np.ndarray | None = None) -> Path:
    """An MP3 (libmp3lame) whose LAME header makes it decode to exactly ``seconds``."""
    import av

    data = samples if samples is not None else tone(seconds, rate, channels, freq)
    path = Path(path)
    with av.open(str(path), "w", format="mp3") as box:
        encode(box, add_stream(box, data.shape[0], rate, "libmp3lame"), data, rate)
    return path


def add_stream(box, channels: int = 2, rate: int = RATE, codec: str = "aac"):
    """Add an audio stream to an open PyAV output container (before anything is muxed)."""
    stream = box.add_stream(codec, rate=rate)
    stream.layout = "stereo" if channels == 2 else "mono"
    return stream


def encode(box, stream, samples: np.ndarray, rate: int = RATE) -> None:
    """Encode ``samples`` into ``stream`` (from ``add_stream``) and flush it."""
    import av

    layout = "stereo" if samples.shape[0] == 2 else "mono"
    step = 1152 if stream.codec_context.name == "libmp3lame" else 1024
    for start in range(0, samples.shape[1], step):
        chunk = np.ascontiguousarray(samples[:, start:start + step])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate, frame.pts = rate, start
        for packet in stream.encode(frame):
            box.mux(packet)
    for packet in stream.encode(None):
        box.mux(packet)
