"""The identity of a job's inputs: the same fingerprint means "these exact inputs".

It is computed from the checked widget values and the *content* of connected media
(a hash of the tensor's pixels, or the link as typed), before anything is encoded, so
a reused result costs no encoding and a change in how media is sent (PNG level, an
upload path) never makes the same inputs look new.
"""
from __future__ import annotations

import hashlib
import io
import json

import torch

from .video import stream_source, trim_window

VERSION = 3            # 3: tensors by their values as sent (8-bit pixels, 16-bit samples)
CHUNK_VALUES = 1 << 24  # values quantized at a time: bounds the extra memory (64 MB as float32)


def fingerprint(model_id: str, values: dict, media: dict, options: dict, version: int = VERSION) -> str:
    canon = json.dumps({"v": version, "model_id": model_id, "values": values, "media": media,
                        "options": options}, sort_keys=True, separators=(",", ":"),
                       allow_nan=False, ensure_ascii=False)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def legacy_fingerprint(model_id: str, body: dict) -> str:
    """How pack 0.1 keyed a job (the whole encoded body): finds jobs in migrated journals."""
    canon = json.dumps({"model_id": model_id, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def pixels_digest(tensor) -> str:
    """An IMAGE or MASK by the 8-bit values the encoders send (round(x × 255), clamped) and its
    shape: the same picture gives the same digest on any device, in any float type or layout."""
    return quantized_digest(tensor, 255.0, 0, 255, torch.uint8, "pixels")


def samples_digest(tensor) -> str:
    """An AUDIO waveform by the 16-bit samples a WAV carries (round(x × 32767), clamped)."""
    return quantized_digest(tensor, 32767.0, -32767, 32767, torch.int16, "samples")


def quantized_digest(tensor, scale: float, lo: int, hi: int, dtype, tag: str) -> str:
    """sha256 of the shape and the quantized values, in chunks along the longest leading
    dimension (frames of a batch, samples of a clip); never changes ``tensor``."""
    t = torch.as_tensor(tensor).detach()
    t = t.reshape(1) if t.dim() == 0 else t
    h = hashlib.sha256(f"{tag}|{tuple(t.shape)}|".encode())
    dim = 0 if t.shape[0] > 1 else t.dim() - 1
    length = t.shape[dim]
    step = max(1, CHUNK_VALUES // max(1, t.numel() // max(1, length)))
    for start in range(0, length, step):
        part = t.narrow(dim, start, min(step, length - start)).to("cpu", torch.float32, copy=True)
        values = part.mul_(scale).round_().clamp_(lo, hi).to(dtype).contiguous()
        h.update(memoryview(values.numpy()).cast("B"))
    return h.hexdigest()


def image_digest(value, legacy: bool = False) -> str:
    return raw_digest(value) if legacy else pixels_digest(value)


def video_digest(value, legacy: bool = False) -> str:
    """A VIDEO by its file's bytes (or its frames and sound); an IMAGE batch by its pixels."""
    frames = raw_digest if legacy else pixels_digest
    if isinstance(value, torch.Tensor):
        return frames(value)
    source = stream_source(value)
    h = hashlib.sha256(f"video|trim={trim_window(value)}|".encode())
    if source is None:
        c = value.get_components()
        h.update(frames(c.images).encode())
        h.update(str(getattr(c, "frame_rate", "")).encode())
        if getattr(c, "audio", None) is not None:
            h.update(audio_digest(c.audio, legacy).encode())
        return h.hexdigest()
    if isinstance(source, io.BytesIO):
        h.update(source.getbuffer())
        return h.hexdigest()
    with open(source, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def audio_digest(value, legacy: bool = False) -> str:
    """An AUDIO by its samples and sample rate."""
    if not isinstance(value, dict) or "waveform" not in value:
        return "not-audio:" + type(value).__name__    # the encoder refuses it with a sentence
    samples = raw_digest if legacy else samples_digest
    return hashlib.sha256(f"audio|{value.get('sample_rate')}|{samples(value['waveform'])}"
                          .encode()).hexdigest()


# -- version 2 (until this version): finds the jobs it journaled, never used for new ones ---------
def raw_digest(tensor) -> str:
    """How version 2 hashed a tensor: shape, dtype and raw bytes (float16 kept, GPU and other
    types as float32).  Only to find jobs journaled before version 3."""
    t = torch.as_tensor(tensor).detach()
    if t.device.type != "cpu" or t.dtype not in (torch.float32, torch.float64, torch.uint8,
                                                  torch.float16, torch.int16, torch.int32):
        t = t.to("cpu", torch.float32)
    t = t.contiguous()
    h = hashlib.sha256(f"{tuple(t.shape)}|{t.dtype}|".encode())
    h.update(memoryview(t.numpy()).cast("B"))
    return h.hexdigest()
