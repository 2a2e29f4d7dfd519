"""Benchmark: media inputs and sound outputs, each beside a reference measured in the same run.

Run from the repo root:  python bench/bench_media.py

1. IMAGE batch → H.264 MP4 for a video input (81 frames of 1280×720): the pack's
   ``frames_to_mp4`` against a plain PyAV encode of the same frames with the same codec
   settings (each frame converted to uint8 and handed to the encoder).  Goal: ≤ 1.2×.
2. Taking a video's sound track: decoding a clip with sound into frames *and* its AUDIO,
   against decoding its frames only.  Goal: the audio adds ≤ 10 %.
Each figure is the best of RUNS.
"""
from __future__ import annotations

import io
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from nodes.inputs.video import CRF_STEPS, PRESET, frames_to_mp4  # noqa: E402
from nodes.results.audio import decode_audio  # noqa: E402
from nodes.results.decode import decode_video  # noqa: E402

BUDGET = 1 << 40                 # no memory budget in the way of the measurement
from simulator.media import write_mp4  # noqa: E402

RUNS = 3
N, W, H, FPS = 81, 1280, 720, 16


def frames() -> torch.Tensor:
    """A moving gradient with noise: not trivially compressible."""
    y, x = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    g = torch.Generator().manual_seed(0)
    out = torch.empty(N, H, W, 3)
    for i in range(N):
        out[i, ..., 0] = (x + i / N) % 1
        out[i, ..., 1] = y
        out[i, ..., 2] = 0.5
    out += torch.rand(N, H, W, 3, generator=g) * 0.03
    return out.clamp_(0, 1)


def plain_encode(batch: torch.Tensor) -> bytes:
    """The reference: PyAV's documented way, frame by frame, same codec settings."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"crf": str(CRF_STEPS[0]), "preset": PRESET}
        for frame in batch:
            rgb = (frame * 255).round().clamp(0, 255).to(torch.uint8).numpy()
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())
    return buf.getvalue()


def best(fn) -> tuple[float, object]:
    times, result = [], None
    for _ in range(RUNS):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def best_once(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    batch = frames()
    ref_t, ref = best(lambda: plain_encode(batch))
    pack_t, pack = best(lambda: frames_to_mp4(batch, FPS))
    print(f"IMAGE batch → MP4, {N} frames of {W}x{H}:")
    print(f"  plain PyAV encode   {ref_t:.2f} s  {len(ref) / 1e6:.1f} MB")
    print(f"  pack frames_to_mp4  {pack_t:.2f} s  {len(pack) / 1e6:.1f} MB   "
          f"ratio {pack_t / ref_t:.2f} (goal ≤ 1.20)")

    with tempfile.TemporaryDirectory() as tmp:
        t = np.arange(int(N / FPS * 44100)) / 44100
        sound = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 550 * t)])
        clip = write_mp4(Path(tmp) / "sound.mp4", N, FPS, W, H, audio=sound.astype(np.float32))
        decode_video(clip, budget=BUDGET)                                   # warm the page cache first
        frames_t, both_t, audio_t = [], [], []
        for _ in range(RUNS + 2):                            # interleaved: same conditions
            frames_t.append(best_once(lambda: decode_video(clip, budget=BUDGET)))
            both_t.append(best_once(lambda: (decode_video(clip, budget=BUDGET), decode_audio(clip, BUDGET))))
            audio_t.append(best_once(lambda: decode_audio(clip, BUDGET)))
        audio = decode_audio(clip, BUDGET)
    seconds = audio["waveform"].shape[-1] / audio["sample_rate"]
    f, b, a = min(frames_t), min(both_t), min(audio_t)
    print(f"Decoding a clip with sound ({N} frames of {W}x{H}, {seconds:.1f} s AAC stereo):")
    print(f"  frames only         {f:.3f} s")
    print(f"  frames + AUDIO      {b:.3f} s")
    print(f"  AUDIO alone         {a:.3f} s   the audio adds {a / f * 100:.1f} % of the frames' "
          f"decode (goal ≤ 10 %)")


if __name__ == "__main__":
    main()
