"""Benchmark nodes.results.decode.decode_video against simple ways of decoding a video.

    python bench/bench_decode.py [--rounds 3]

For each clip, every method runs ``rounds`` times, each in a fresh process (so peak
memory is measured from a clean process, as in a real ComfyUI run).  Time is the best
run; memory is the worst run's peak RSS growth over the RSS just before decoding
(VmHWM after resetting it through /proc/self/clear_refs), as a multiple of the output
tensor size.  Methods:

  pack        nodes.results.decode.decode_video
  floor       PyAV decode to RGB arrays thrown away + fill a fresh float32 tensor of the
              output size (each part timed on its own, summed)
  single      one plain pass: decode, copy each frame into a preallocated float32 tensor
  stack       ComfyUI GetVideoComponents: list of float32 frames, then torch.stack
"""
from __future__ import annotations

import argparse
import os
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CLIPS = [(81, 1280, 720), (141, 1280, 720), (121, 1920, 1080)]
METHODS = ["pack", "floor", "single", "stack"]


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _rgb_frames(path):
    import av
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def _meta(path):
    import av
    with av.open(str(path)) as container:
        s = container.streams.video[0]
        return s.frames, s.codec_context.height, s.codec_context.width


def run_child(method: str, path: str) -> dict:
    """Run one method once in this (fresh) process; return time and peak memory growth."""
    import torch
    from nodes.results.decode import decode_video

    n, h, w = _meta(path)
    out_bytes = n * h * w * 3 * 4
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    base = _status("VmRSS")
    t0 = time.perf_counter()
    if method == "pack":
        result = decode_video(path, budget=1 << 40).frames
    elif method == "floor":
        for _ in _rgb_frames(path):
            pass
        t_decode = time.perf_counter() - t0
        t0 = time.perf_counter() - t_decode  # the time below = decode + fill
        result = torch.empty((n, h, w, 3), dtype=torch.float32)
        result.fill_(1.0)
    elif method == "single":
        result = torch.empty((n, h, w, 3), dtype=torch.float32)
        for i, rgb in enumerate(_rgb_frames(path)):
            result[i].copy_(torch.from_numpy(rgb)).div_(255.0)
    elif method == "stack":
        frames = [torch.from_numpy(rgb) / 255.0 for rgb in _rgb_frames(path)]
        result = torch.stack(frames)
        del frames
    else:
        raise SystemExit(f"unknown method {method}")
    seconds = time.perf_counter() - t0
    peak = _status("VmHWM") - base
    assert tuple(result.shape) == (n, h, w, 3), result.shape
    return {"seconds": seconds, "peak": peak / out_bytes, "out_bytes": out_bytes}


def measure(pool_factory, method: str, path: Path) -> dict:
    """One run of ``method`` in a brand-new process (forked from a server that only imported)."""
    with pool_factory() as pool:
        return pool.submit(run_child, method, str(path)).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    # forkserver: the server imports torch/av once; every run still gets a fresh process
    # (fresh heap, fresh page tables), without paying ~2 s of imports each time.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["numpy", "torch", "av", "nodes.results.decode"])

    def pool_factory():
        return ProcessPoolExecutor(max_workers=1, mp_context=ctx)

    from simulator.media import write_mp4
    started = time.perf_counter()
    print(f"decode benchmark: best of {args.rounds} fresh-process runs; "
          f"mem = peak RSS growth / output tensor size; cpus={os.cpu_count()}")
    head = ("clip              out MB | pack s   mem |  floor | single   mem |  stack   mem |"
            " pack/floor pack/single")
    print(head)
    print("-" * len(head))
    with tempfile.TemporaryDirectory() as tmp:
        for frames, w, h in CLIPS:
            path = write_mp4(Path(tmp) / f"clip_{frames}_{h}p.mp4", frames, 24, w, h)
            runs = {m: [] for m in METHODS}
            for _ in range(args.rounds):  # interleaved, so background load hits all alike
                for m in METHODS:
                    runs[m].append(measure(pool_factory, m, path))
            t = {m: min(r["seconds"] for r in runs[m]) for m in METHODS}
            x = {m: max(r["peak"] for r in runs[m]) for m in METHODS}
            mb = runs["pack"][0]["out_bytes"] / 2**20
            print(f"{f'{frames}f {w}x{h}':<16}{mb:>8.0f} | {t['pack']:6.3f} {x['pack']:4.2f}x | "
                  f"{t['floor']:6.3f} | {t['single']:6.3f} {x['single']:4.2f}x | "
                  f"{t['stack']:6.3f} {x['stack']:4.2f}x | {t['pack'] / t['floor']:10.2f} "
                  f"{t['pack'] / t['single']:11.2f}", flush=True)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
