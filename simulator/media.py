"""Real media for the simulator: H.264 MP4s and PNGs whose pixels encode the frame index.

MP4s may carry an AAC sound track (``write_mp4(..., audio=samples)``); tones, WAV and MP3
live in ``audio.py``, reading media back in ``probe.py``.

Each frame carries its index twice: as a row of 12 black/white blocks along the top
edge (read back by ``frame_index``, robust to H.264 compression) and as a large number
a person can read on a contact sheet.  The background drifts from frame to frame so
the clip looks like motion.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .audio import add_stream, encode, write_mp3, write_wav  # noqa: F401  (re-exported)
from .probe import probe, probe_file  # noqa: F401  (re-exported)

BITS = 12           # frame indices up to 4095
BAR_ROWS = 1 / 10   # the code strip takes the top tenth of the frame


def _background(width: int, height: int, seed: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0.5, 2.0, 2)
    img = np.stack([
        128 + 100 * np.sin(a * x / width * 6.28),
        128 + 100 * np.sin(b * y / height * 6.28),
        128 + 100 * np.cos((x + y) / (width + height) * 6.28),
    ], axis=-1)
    return img.clip(0, 255).astype(np.uint8)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def picture_background(picture: Image.Image, width: int, height: int) -> Image.Image:
    """The input picture cropped to the output's aspect ratio and sized 10% larger (room to zoom)."""
    picture = picture.convert("RGB")
    scale = max(width / picture.width, height / picture.height) * 1.1
    big = picture.resize((max(width, round(picture.width * scale)), max(height, round(picture.height * scale))),
                         Image.Resampling.BILINEAR)
    left, top = (big.width - round(width * 1.1)) // 2, (big.height - round(height * 1.1)) // 2
    return big.crop((left, top, left + round(width * 1.1), top + round(height * 1.1)))


def zoom_frame(picture: Image.Image, width: int, height: int, t: float) -> np.ndarray:
    """A slow push-in on the picture: t=0 shows all of it, t=1 the central 1/1.1."""
    k = 1.0 + 0.1 * (1 - t)
    cw, ch = picture.width / 1.1 * k, picture.height / 1.1 * k
    left, top = (picture.width - cw) / 2, (picture.height - ch) / 2
    box = (left, top, left + cw, top + ch)
    return np.asarray(picture.resize((width, height), Image.Resampling.BILINEAR, box=box))


def draw_frame(background: np.ndarray, index: int, label: bool = True, moving: bool = True) -> np.ndarray:
    """One RGB frame (uint8 HxWx3) for ``index``: the background, the code strip, the number."""
    h, w, _ = background.shape
    shift = index * max(1, w // 160) if moving else 0
    frame = np.roll(background, shift=shift, axis=1).copy()
    bar_h = max(8, int(h * BAR_ROWS))
    block = w // BITS
    for bit in range(BITS):
        on = (index >> (BITS - 1 - bit)) & 1
        frame[:bar_h, bit * block:(bit + 1) * block] = 255 if on else 0
    if label:
        img = Image.fromarray(frame)
        size = max(10, h // 5)
        ImageDraw.Draw(img).text((w // 20, bar_h + h // 20), str(index), fill=(255, 255, 255),
                                 font=_font(size), stroke_width=max(1, size // 12),
                                 stroke_fill=(0, 0, 0))
        frame = np.asarray(img)
    return frame


def frame_index(frame) -> int:
    """Read back the index a frame carries.  Accepts uint8 0..255 or float 0..1 HxWx3."""
    arr = np.asarray(frame, dtype=np.float32)
    if arr.max() <= 1.0 + 1e-6:
        arr = arr * 255.0
    h, w = arr.shape[:2]
    bar_h = max(8, int(h * BAR_ROWS))
    block = w // BITS
    value = 0
    for bit in range(BITS):
        patch = arr[bar_h // 4: 3 * bar_h // 4, bit * block + block // 4: (bit + 1) * block - block // 4]
        value = (value << 1) | int(patch.mean() > 127.5)
    return value


def write_mp4(path, frames: int, fps: int, width: int, height: int, seed: int = 0,
              picture: Image.Image | None = None, audio: np.ndarray | None = None) -> Path:
    """Encode a real H.264 MP4 (yuv420p) of ``frames`` frames to ``path``.

    With ``picture`` (the job's input image) the clip is a slow push-in on it, the way an
    image-to-video model animates its input; without, a drifting colour field.  With
    ``audio`` (float32 samples shaped (channels, n) at 44.1 kHz, see ``audio.py``) the
    file also carries an AAC track of those samples.
    """
    import av

    width, height = width - width % 2, height - height % 2
    background = _background(width, height, seed)
    source = picture_background(picture, width, height) if picture is not None else None
    path = Path(path)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=int(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        sound = add_stream(container, audio.shape[0]) if audio is not None else None
        for i in range(frames):
            if source is not None:
                still = zoom_frame(source, width, height, i / max(1, frames - 1))
                rgb = draw_frame(still, i, moving=False)
            else:
                rgb = draw_frame(background, i)
            vf = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if sound is not None:
            encode(container, sound, audio)
    return path


def png_bytes(width: int, height: int, index: int = 0, seed: int = 0) -> bytes:
    """A PNG carrying ``index`` the same way video frames do."""
    buf = io.BytesIO()
    Image.fromarray(draw_frame(_background(width, height, seed), index)).save(buf, "PNG", compress_level=1)
    return buf.getvalue()
