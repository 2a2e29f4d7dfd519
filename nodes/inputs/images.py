"""The image kind's encoder: a connected IMAGE → a ``data:image/png;base64,…`` URI.

Data URIs are not documented by RunComfy, but their own ComfyUI nodes send them.  The
field's rules (rules.py) are applied here, locally, so a bad image stops the node before
a paid job is submitted: pixel bounds are fitted (aspect kept) when ``fit_image_to_limits``
is on, aspect-ratio rules are refused with a sentence (fitting them would cut the picture).

Besides the model's ``file_size_mb<`` rule, a data URI is kept within DATA_URI_MAX (6 MiB,
counted on the whole base64 string, i.e. about 4.7 MB of file), the practical limit
RunComfy's own nodes keep to; the lower of the two limits wins.
"""
from __future__ import annotations

import io
import math
import re

import torch
from PIL import Image

from ..core.errors import InputError
from ..spec.kinds import MEDIA_KIND
from .encoded import Encoded, data_uri
from .rules import Limits

IMAGE = MEDIA_KIND["image"]
DATA_URI_MAX = IMAGE.inline_max        # one data URI, counted on the base64 string (6 MiB)
# compress_level 1: bench/bench_encode.py on a noisy 1920x1080 frame gives 0.28 s / 3.26 MB,
# against 1.15-1.35 s / 2.75 MB for PIL's default (level 6): 4-5x faster for 19% more bytes;
# levels 2-3 save only 1-3% more bytes for 15-45% more time.  Level 0 (stored, 6.2 MB) would
# already exceed the ~4.7 MB inline budget at 1080p and force every such frame to JPEG.
PNG_LEVEL = 1
JPEG_QUALITIES = (95, 90, 85, 80, 70, 60, 50)
NO_ALPHA = re.compile(r"\bno[ -]alpha\b|\bwithout (an )?alpha\b|\bno transparen", re.I)


def encode_item(item, ctx) -> Encoded:
    """A connected IMAGE (one item of a media field) → a data URI within the field's rules."""
    return encode_tensor(ctx.who, ctx.field, item.socket or ctx.field.name, item.value,
                         ctx.limits, ctx.fit)


def encode_mask_item(item, ctx) -> Encoded:
    """A connected MASK ([H,W] or [1,H,W], 1 = white) → a greyscale PNG data URI; an IMAGE
    connected to a mask field is sent as it is."""
    t = torch.as_tensor(item.value).detach()
    if t.dim() in (2, 3):
        t = (t.unsqueeze(0) if t.dim() == 2 else t).unsqueeze(-1)   # → [1,H,W,1]
    return encode_tensor(ctx.who, ctx.field, item.socket or ctx.field.name, t, ctx.limits, ctx.fit)


def split_images(value) -> list:
    """An IMAGE batch [B,H,W,C] as B images of one each."""
    if hasattr(value, "shape") and len(value.shape) == 4 and value.shape[0] > 1:
        return [value[i:i + 1] for i in range(value.shape[0])]
    return [value]


def split_masks(value) -> list:
    """A MASK batch [B,H,W] as B masks (an IMAGE batch connected instead: as images)."""
    if hasattr(value, "shape") and len(value.shape) == 3 and value.shape[0] > 1:
        return [value[i:i + 1] for i in range(value.shape[0])]
    return split_images(value)


def encode_tensor(who: str, f, name, tensor, lim: Limits, fit: bool) -> Encoded:
    """One IMAGE tensor → a data URI that satisfies the field's limits (or InputError)."""
    pixels = to_uint8(who, name, tensor)
    if pixels.shape[-1] == 4 and bool((pixels[..., 3] == 255).all()):
        pixels = pixels[..., :3].contiguous()   # fully opaque: the alpha carries nothing
    array = pixels.numpy()
    img = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)   # 1 channel: greyscale
    notes = []
    if img.mode == "RGBA" and NO_ALPHA.search(f.description or ""):
        img = flatten(img)
        notes.append(f"{name}: transparency flattened onto white (the model takes no alpha).")
    img, resized = fit_pixels(who, name, img, lim, fit)
    check_aspect(who, name, img.size, lim)
    sent = encode(who, name, img, lim)
    return Encoded(sent.uri, (*notes, *resized, *sent.notes))


def check_aspect(who: str, name: str, size: tuple[int, int], lim: Limits) -> None:
    """Aspect-ratio rules cannot be fitted without cutting the picture: refuse, saying why."""
    w, h = size
    problem = lim.check("aspect", w / h)
    if problem:
        raise InputError(f"{who}: input '{name}' is {w}x{h} px (aspect ratio {w / h:.2f}): {problem} "
                         f"Allowed: {lim.bounds('aspect')}. Crop or pad it to fit first.")


def to_uint8(who: str, name: str, tensor) -> torch.Tensor:
    """[1,H,W,C] float 0..1 → [H,W,C] uint8 (C 1, 3 or 4); a batch of several is refused."""
    t = torch.as_tensor(tensor).detach()
    if t.dim() == 3:
        t = t.unsqueeze(0)
    if t.dim() != 4 or t.shape[-1] not in (1, 3, 4):
        raise InputError(f"{who}: input '{name}' is not an image (tensor shape "
                         f"{tuple(t.shape)}; expected [batch, height, width, 3 or 4]).")
    if t.shape[0] != 1:
        raise InputError(
            f"{who}: input '{name}' received a batch of {t.shape[0]} images, but "
            f"it takes one image per job. Pick one frame first (e.g. with the core "
            f"'ImageFromBatch' node); the node never starts several paid jobs on its own.")
    return t[0].to("cpu", torch.float32).mul(255).round_().clamp_(0, 255).to(torch.uint8).contiguous()


def flatten(img: Image.Image) -> Image.Image:
    """RGBA → RGB over white."""
    white = Image.new("RGB", img.size, (255, 255, 255))
    white.paste(img, mask=img.getchannel("A"))
    return white


def fit_pixels(who, name, img: Image.Image, lim: Limits, fit: bool) -> tuple[Image.Image, tuple]:
    """(the image resized minimally (aspect kept) into the pixel bounds, the note saying so);
    InputError when a rule fails and ``fit`` is off."""
    w, h = img.size
    nw, nh = size_to_send(who, name, w, h, lim, fit)
    if (nw, nh) == (w, h):
        return img, ()
    verb = "downscaled" if nw < w else "upscaled"
    return img.resize((nw, nh), Image.LANCZOS), (
        f"{name}: {verb} {w}x{h} → {nw}x{nh} to fit the model's limits ({bounds_text(lim)}).",)


def size_to_send(who, name, w: int, h: int, lim: Limits, fit: bool) -> tuple[int, int]:
    """(w, h) when it is within the pixel bounds, else the minimal rescale into them (aspect
    kept) when ``fit`` allows; otherwise InputError saying which rule fails.  Images and
    videos both go through here."""
    broken = lim.check("width", w) or lim.check("height", h)
    if not broken:
        return w, h
    if not fit:
        raise InputError(f"{who}: input '{name}' is {w}x{h} px: "
                         f"{broken} Turn on 'fit_image_to_limits' or resize it.")
    nw, nh = fitted_size(w, h, lim)
    if lim.check("width", nw) or lim.check("height", nh):
        raise InputError(
            f"{who}: input '{name}' is {w}x{h} px, an aspect ratio that cannot "
            f"fit the model's limits ({bounds_text(lim)}) by resizing alone. Crop it first.")
    return nw, nh


def fitted_size(w: int, h: int, lim: Limits) -> tuple[int, int]:
    """The smallest change of scale that brings (w, h) into bounds: down to the max (floor),
    else up to the min (ceil).  The caller checks the result, which fails only when the
    aspect ratio itself is out of reach."""
    down = min(lim.max_w / w if lim.max_w else 1.0, lim.max_h / h if lim.max_h else 1.0)
    if down < 1.0:
        return max(1, math.floor(w * down + 1e-6)), max(1, math.floor(h * down + 1e-6))
    up = max(lim.min_w / w, lim.min_h / h)
    return math.ceil(w * up - 1e-6), math.ceil(h * up - 1e-6)


def bounds_text(lim: Limits) -> str:
    def rng(lo, hi):
        return f"{lo}–{hi}" if hi is not None else f"at least {lo}"
    return f"width {rng(lim.min_w, lim.max_w)} px, height {rng(lim.min_h, lim.max_h)} px"


def encode(who, name, img: Image.Image, lim: Limits) -> Encoded:
    """PNG if it fits the byte budget, else JPEG at the highest quality that fits."""
    data = save(img, "PNG", compress_level=PNG_LEVEL)
    budget, why = IMAGE.byte_budget(lim, "image/png")
    if len(data) <= budget:
        return Encoded(data_uri(data, "image/png"))
    png_size = len(data)
    budget, why = IMAGE.byte_budget(lim, "image/jpeg")
    rgb = flatten(img) if img.mode == "RGBA" else img
    for q in JPEG_QUALITIES:
        data = save(rgb, "JPEG", quality=q)
        if len(data) <= budget:
            alpha = " and transparency flattened onto white" if img.mode == "RGBA" else ""
            return Encoded(data_uri(data, "image/jpeg"), (
                f"{name}: sent as JPEG (quality {q}){alpha}: PNG would be {png_size / 1e6:.1f} MB, "
                f"over {why}.",))
    raise InputError(f"{who}: input '{name}' ({img.width}x{img.height} px) is too "
                     f"large: {len(data) / 1e6:.1f} MB even as JPEG quality {q}, over {why}. "
                     f"Resize it smaller first.")


def save(img: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()
