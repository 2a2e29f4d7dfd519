"""What each media kind does with a connected value: encode it, hash it, split a batch.

One row per media kind of ``spec/kinds.py`` (the record says what the kind is; this says
what to do with its values).  The functions import their module when first called, so
torch, PyAV and PIL load on the first job, not when ComfyUI starts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Encoder:
    encode: Callable          # (Item, Context) -> Encoded (the data URI and its notes)
    digest: Callable          # (value, legacy) -> content hash, for the fingerprint
    split: Callable           # a batch on a list field -> its items


# Each wrapper defers a heavy import (PIL, torch, PyAV) to the first job.
def _encode_image(item, ctx):
    from .images import encode_item
    return encode_item(item, ctx)


def _encode_mask(item, ctx):
    from .images import encode_mask_item
    return encode_mask_item(item, ctx)


def _encode_video(item, ctx):
    from .video import encode_item
    return encode_item(item, ctx)


def _encode_audio(item, ctx):
    from .audio import encode_item
    return encode_item(item, ctx)


def _digest_image(value, legacy=False):
    from .fingerprint import image_digest
    return image_digest(value, legacy)


def _digest_video(value, legacy=False):
    from .fingerprint import video_digest
    return video_digest(value, legacy)


def _digest_audio(value, legacy=False):
    from .fingerprint import audio_digest
    return audio_digest(value, legacy)


def _split_images(value):
    from .images import split_images
    return split_images(value)


def _split_masks(value):
    from .images import split_masks
    return split_masks(value)


def _split_clips(value):
    from .audio import split_clips
    return split_clips(value)


def _whole(value):
    return [value]


ENCODERS: dict[str, Encoder] = {
    "mask": Encoder(_encode_mask, _digest_image, _split_masks),
    "image": Encoder(_encode_image, _digest_image, _split_images),
    "video": Encoder(_encode_video, _digest_video, _whole),
    "audio": Encoder(_encode_audio, _digest_audio, _split_clips),
}
