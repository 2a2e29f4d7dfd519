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

VERSION = 2


def fingerprint(model_id: str, values: dict, media: dict, options: dict) -> str:
    canon = json.dumps({"v": VERSION, "model_id": model_id, "values": values, "media": media,
                        "options": options}, sort_keys=True, separators=(",", ":"),
                       allow_nan=False, ensure_ascii=False)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def legacy_fingerprint(model_id: str, body: dict) -> str:
    """How pack 0.1 keyed a job (the whole encoded body): finds jobs in migrated journals."""
    canon = json.dumps({"model_id": model_id, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def tensor_digest(tensor) -> str:
    """sha256 of a tensor's shape, dtype and values, without copying a contiguous one."""
    t = torch.as_tensor(tensor).detach()
    if t.device.type != "cpu" or t.dtype not in (torch.float32, torch.float64, torch.uint8,
                                                  torch.float16, torch.int16, torch.int32):
        t = t.to("cpu", torch.float32)
    t = t.contiguous()
    h = hashlib.sha256(f"{tuple(t.shape)}|{t.dtype}|".encode())
    h.update(memoryview(t.numpy()).cast("B"))
    return h.hexdigest()


def video_digest(value) -> str:
    """A VIDEO by its file's bytes (or its frames and sound); an IMAGE batch by its pixels."""
    if isinstance(value, torch.Tensor):
        return tensor_digest(value)
    from .video import stream_source, trim_window
    source = stream_source(value)
    h = hashlib.sha256(f"video|trim={trim_window(value)}|".encode())
    if source is None:
        c = value.get_components()
        h.update(tensor_digest(c.images).encode())
        h.update(str(getattr(c, "frame_rate", "")).encode())
        if getattr(c, "audio", None) is not None:
            h.update(audio_digest(c.audio).encode())
        return h.hexdigest()
    if isinstance(source, io.BytesIO):
        h.update(source.getbuffer())
        return h.hexdigest()
    with open(source, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def audio_digest(value) -> str:
    """An AUDIO by its samples and sample rate."""
    if not isinstance(value, dict) or "waveform" not in value:
        return "not-audio:" + type(value).__name__    # the encoder refuses it with a sentence
    return hashlib.sha256(f"audio|{value.get('sample_rate')}|{tensor_digest(value['waveform'])}"
                          .encode()).hexdigest()
