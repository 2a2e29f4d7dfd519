"""Image inputs → what the request carries: data URIs or https links, checked before paying.

A connected IMAGE tensor becomes a ``data:image/png;base64,...`` URI (not documented by
RunComfy, but their own ComfyUI nodes send them); a link in the URL widget is sent as
given.  The field's schema ``validations`` are applied to tensor images here, locally,
so a bad image stops the node before a paid job is submitted.

Reading of the rules (the service's own texts decide the direction):
  * ``width_pixels<`` N means width <= N ("must not exceed 2000 pixels"),
    ``width_pixels>`` N means width >= N ("at least 360 pixels"); same for height.
  * ``file_size_mb<`` N means file bytes < N * 1_000_000 (decimal MB, the stricter reading).
  * Besides that rule, a data URI is kept within DATA_URI_MAX (6 MiB, counted on the whole
    base64 string, i.e. about 4.7 MB of file), the practical limit RunComfy's own nodes
    keep to.  Counting it on the string rather than the file is the safer of the two
    readings; the lower of the two limits wins (for Wan's "10 MB" it is the 6 MiB one).
"""
from __future__ import annotations

import base64
import io
import math
import re
from dataclasses import dataclass, field

import torch
from PIL import Image

from ..errors import InputError
from .request import MAX_REQUEST_BYTES, encode_body
from ..spec.schema import IMAGE, Field, ModelSpec

DATA_URI_MAX = 6 * 1024 * 1024         # one data URI, counted on the base64 string
# compress_level 1: bench/bench_encode.py on a noisy 1920x1080 frame gives 0.28 s / 3.26 MB,
# against 1.15-1.35 s / 2.75 MB for PIL's default (level 6): 4-5x faster for 19% more bytes;
# levels 2-3 save only 1-3% more bytes for 15-45% more time.  Level 0 (stored, 6.2 MB) would
# already exceed the ~4.7 MB inline budget at 1080p and force every such frame to JPEG.
PNG_LEVEL = 1
JPEG_QUALITIES = (95, 90, 85, 80, 70, 60, 50)
NO_ALPHA = re.compile(r"\bno[ -]alpha\b|\bwithout (an )?alpha\b|\bno transparen", re.I)


@dataclass
class PreparedImages:
    urls: dict = field(default_factory=dict)     # wire key -> str or list[str]
    notes: list = field(default_factory=list)    # sentences for the node status
    total_bytes: int = 0                         # bytes of all data URIs


@dataclass
class Limits:
    """The field's validations, read once: pixel bounds (inclusive) and the byte budget."""
    min_w: int = 0
    min_h: int = 0
    max_w: int | None = None
    max_h: int | None = None
    max_bytes: int | None = None      # the model's file_size_mb< rule, in bytes (exclusive)
    texts: dict = field(default_factory=dict)   # rule -> the service's error sentence


def read_limits(f: Field) -> Limits:
    lim = Limits()
    attr = {"width_pixels<": "max_w", "height_pixels<": "max_h",
            "width_pixels>": "min_w", "height_pixels>": "min_h"}
    for v in f.validations:
        rule, value = str(v.get("validation_rule", "")).strip(), v.get("validation_value")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if rule in attr:
            setattr(lim, attr[rule], int(value))
        elif rule == "file_size_mb<":
            lim.max_bytes = int(value * 1_000_000)
        else:
            continue
        lim.texts[rule] = str(v.get("validation_error", "")).strip()
    return lim


def prepare_images(spec: ModelSpec, values: dict, *, fit: bool = True) -> PreparedImages:
    """Every image field's value for the request, from connected tensors or links."""
    out = PreparedImages()
    for f in spec.image_fields:
        lim = read_limits(f)
        sent = []
        for name, tensor, link in slots(spec, f, values, out.notes):
            if tensor is not None:
                sent.append(encode_tensor(spec, f, name, tensor, lim, fit, out.notes))
            elif link:
                sent.append(check_link(spec, f, name, link))
        out.total_bytes += sum(len(u) for u in sent if u.startswith("data:"))
        if sent:
            out.urls[f.key] = sent[0] if f.kind == IMAGE else sent
    return out


def slots(spec: ModelSpec, f: Field, values: dict, notes: list) -> list:
    """(socket name, tensor, link) per slot.  For an IMAGE_LIST, line i of the URL widget
    is slot i and an empty line gives nothing; a connected socket wins over its link."""
    text = str(values.get(f.url_name) or "")
    lines = [text.strip()] if f.kind == IMAGE else [s.strip() for s in text.splitlines()]
    sockets = f.socket_names()
    for i, line in enumerate(lines[len(sockets):], start=len(sockets) + 1):
        if line:
            raise InputError(f"{spec.display_name}: '{f.url_name}' has a link on line {i}, but "
                             f"the model takes at most {len(sockets)} images. Remove it.")
    result = []
    for i, name in enumerate(sockets):
        link = lines[i] if i < len(lines) else ""
        tensor = values.get(name)
        if tensor is not None and link:
            line = "" if f.kind == IMAGE else f"line {i + 1} of "
            notes.append(f"{name}: the connected image is used; {line}'{f.url_name}' is ignored.")
        result.append((name, tensor, link))
    return result


def check_link(spec: ModelSpec, f: Field, name: str, link: str) -> str:
    """A link is sent as given if the service can fetch it; it cannot be checked here."""
    low = link.lower()
    if low.startswith("https://") or low.startswith("data:image/"):
        return link
    where = (f"'{f.url_name}'" if f.kind == IMAGE
             else f"line {name.rsplit('_', 1)[-1]} of '{f.url_name}'")
    shown = link if len(link) <= 60 else link[:57] + "..."
    raise InputError(f"{spec.display_name}: {where} is {shown!r}: only https:// links or "
                     f"connected images work (the service fetches the link itself). Use an "
                     f"https:// link, or connect an image to input '{name}'.")


def encode_tensor(spec, f, name, tensor, lim: Limits, fit: bool, notes: list) -> str:
    """One IMAGE tensor → a data URI that satisfies the field's limits (or InputError)."""
    pixels = to_uint8(spec, name, tensor)
    if pixels.shape[-1] == 4 and bool((pixels[..., 3] == 255).all()):
        pixels = pixels[..., :3].contiguous()   # fully opaque: the alpha carries nothing
    img = Image.fromarray(pixels.numpy())
    if img.mode == "RGBA" and NO_ALPHA.search(f.description or ""):
        img = flatten(img)
        notes.append(f"{name}: transparency flattened onto white (the model takes no alpha).")
    img = fit_pixels(spec, name, img, lim, fit, notes)
    return encode(spec, name, img, lim, notes)


def to_uint8(spec: ModelSpec, name: str, tensor) -> torch.Tensor:
    """[1,H,W,C] float 0..1 → [H,W,C] uint8 (C 3 or 4); a batch of several is refused."""
    t = torch.as_tensor(tensor).detach()
    if t.dim() == 3:
        t = t.unsqueeze(0)
    if t.dim() != 4 or t.shape[-1] not in (1, 3, 4):
        raise InputError(f"{spec.display_name}: input '{name}' is not an image (tensor shape "
                         f"{tuple(t.shape)}; expected [batch, height, width, 3 or 4]).")
    if t.shape[0] != 1:
        raise InputError(
            f"{spec.display_name}: input '{name}' received a batch of {t.shape[0]} images, but "
            f"it takes one image per job. Pick one frame first (e.g. with the core "
            f"'ImageFromBatch' node); the node never starts several paid jobs on its own.")
    t = t[0].to("cpu", torch.float32).mul(255).round_().clamp_(0, 255).to(torch.uint8)
    return t.expand(-1, -1, 3).contiguous() if t.shape[-1] == 1 else t.contiguous()


def flatten(img: Image.Image) -> Image.Image:
    """RGBA → RGB over white."""
    white = Image.new("RGB", img.size, (255, 255, 255))
    white.paste(img, mask=img.getchannel("A"))
    return white


def fit_pixels(spec, name, img: Image.Image, lim: Limits, fit: bool, notes: list) -> Image.Image:
    """Resize minimally (aspect kept) into the pixel bounds, or say which rule fails."""
    w, h = img.size
    broken = [r for r, bad in (("width_pixels<", lim.max_w is not None and w > lim.max_w),
                               ("height_pixels<", lim.max_h is not None and h > lim.max_h),
                               ("width_pixels>", w < lim.min_w),
                               ("height_pixels>", h < lim.min_h)) if bad]
    if not broken:
        return img
    if not fit:
        raise InputError(f"{spec.display_name}: input '{name}' is {w}x{h} px: "
                         f"{lim.texts[broken[0]]} Turn on 'fit_image_to_limits' or resize it.")
    nw, nh = fitted_size(w, h, lim)
    if (lim.max_w is not None and nw > lim.max_w) or (lim.max_h is not None and nh > lim.max_h) \
            or nw < lim.min_w or nh < lim.min_h:
        raise InputError(
            f"{spec.display_name}: input '{name}' is {w}x{h} px, an aspect ratio that cannot "
            f"fit the model's limits ({bounds_text(lim)}) by resizing alone. Crop it first.")
    verb = "downscaled" if nw < w else "upscaled"
    notes.append(f"{name}: {verb} {w}x{h} → {nw}x{nh} to fit the model's limits "
                 f"({bounds_text(lim)}).")
    return img.resize((nw, nh), Image.LANCZOS)


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


def byte_budget(lim: Limits, mime: str) -> tuple[int, str]:
    """(largest allowed file size, how to say it) for one image sent as a data URI."""
    prefix = len(f"data:{mime};base64,")
    inline = (DATA_URI_MAX - prefix) // 4 * 3
    model = lim.max_bytes - 1 if lim.max_bytes is not None else None
    if model is not None and model <= inline:
        return model, f"the model's {lim.max_bytes / 1e6:g} MB limit"
    return inline, f"the {inline / 1e6:.1f} MB limit for an image sent inline (6 MiB as base64)"


def encode(spec, name, img: Image.Image, lim: Limits, notes: list) -> str:
    """PNG if it fits the byte budget, else JPEG at the highest quality that fits."""
    data = save(img, "PNG", compress_level=PNG_LEVEL)
    budget, why = byte_budget(lim, "image/png")
    if len(data) <= budget:
        return data_uri(data, "image/png")
    png_size = len(data)
    budget, why = byte_budget(lim, "image/jpeg")
    rgb = flatten(img) if img.mode == "RGBA" else img
    for q in JPEG_QUALITIES:
        data = save(rgb, "JPEG", quality=q)
        if len(data) <= budget:
            alpha = " and transparency flattened onto white" if img.mode == "RGBA" else ""
            notes.append(f"{name}: sent as JPEG (quality {q}){alpha}: PNG would be "
                         f"{png_size / 1e6:.1f} MB, over {why}.")
            return data_uri(data, "image/jpeg")
    raise InputError(f"{spec.display_name}: input '{name}' ({img.width}x{img.height} px) is too "
                     f"large: {len(data) / 1e6:.1f} MB even as JPEG quality {q}, over {why}. "
                     f"Resize it smaller first.")


def save(img: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def check_request_size(body: dict, limit: int = MAX_REQUEST_BYTES) -> bytes:
    """Refuse a body the service would not take (about 64 MiB at most) before sending; the
    encoded bytes otherwise."""
    return encode_body(body, limit=limit)
