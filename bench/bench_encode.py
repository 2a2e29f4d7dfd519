"""Benchmark: IMAGE tensor → PNG/JPEG bytes, to pick images.PNG_LEVEL.

Run from the repo root:  python bench/bench_encode.py
Frames are realistic-ish: the simulator's test frame (smooth gradients, a code strip and a
big label) plus mild noise (σ≈2 levels), so sizes are closer to a photo than a flat frame.
Each encoder is timed best-of-5, including the float tensor → uint8 conversion.
"""
from __future__ import annotations

import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from simulator.media import _background, draw_frame  # noqa: E402

LEVELS = (0, 1, 2, 3, 6, 9)
RUNS = 5


def frame_tensor(w: int, h: int) -> torch.Tensor:
    rgb = draw_frame(_background(w, h, 0), 5).astype(np.float32)
    rgb += np.random.default_rng(1).normal(0, 2.0, rgb.shape).astype(np.float32)
    return torch.from_numpy(rgb.clip(0, 255) / 255.0).unsqueeze(0)


def to_pil(t: torch.Tensor) -> Image.Image:
    return Image.fromarray(t[0].mul(255).round_().clamp_(0, 255).to(torch.uint8).numpy())


def best_of(fn) -> tuple[float, int]:
    best, size = float("inf"), 0
    for _ in range(RUNS):
        t0 = time.perf_counter()
        size = fn()
        best = min(best, time.perf_counter() - t0)
    return best, size


def encoder(t: torch.Tensor, fmt: str, **kw):
    def run() -> int:
        buf = io.BytesIO()
        to_pil(t).save(buf, fmt, **kw)
        return buf.tell()
    return run


def main() -> None:
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; best of {RUNS}")
    print(f"{'frame':>9} | {'encoder':<22} | {'ms':>7} | {'MB':>6} | {'time x':>6} | {'size x':>6}")
    print("-" * 70)
    for w, h in ((1280, 720), (1920, 1080)):
        t = frame_tensor(w, h)
        rows = [("PIL PNG default", encoder(t, "PNG"))]
        rows += [("tensor->uint8 only", lambda: to_pil(t).width * 0)]
        rows += [(f"PNG compress_level={n}", encoder(t, "PNG", compress_level=n)) for n in LEVELS]
        rows += [("JPEG quality=95", encoder(t, "JPEG", quality=95))]
        base = None
        for name, fn in rows:
            sec, size = best_of(fn)
            base = base or (sec, size)
            print(f"{w}x{h:<4} | {name:<22} | {sec * 1000:7.1f} | {size / 1e6:6.2f} | "
                  f"{sec / base[0]:6.2f} | {size / base[1]:6.2f}")
        print("-" * 70)


if __name__ == "__main__":
    main()
