"""The demo: the Wan 2.2 image-to-video node's full path, without ComfyUI.

image in → checks → submit → poll (live status) → download → decode into frames, then
writes the MP4, every frame as PNG and a contact sheet into a folder it names at the end.

By default it runs against the bundled simulator (free, offline).  With --real and
RUNCOMFY_API_TOKEN set it runs the same path against RunComfy's service (a paid job).

    ./run.sh demo [--image photo.png] [--prompt "..."] [--out DIR] [--real]
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NODE_ID = "RunComfy_Wan22_ImageToVideo"


def demo_image(width=1280, height=720) -> Image.Image:
    """A made-up input picture: a sunset over water."""
    y = np.linspace(0, 1, height)[:, None]
    sky = np.stack([255 * (0.9 - 0.3 * y), 140 * (1 - y) + 40, 90 + 80 * y], -1)
    img = np.broadcast_to(sky, (height, width, 3)).astype(np.uint8).copy()
    img[int(height * 0.62):] = (30, 60, 110)
    pic = Image.fromarray(img)
    draw = ImageDraw.Draw(pic)
    r = height // 7
    draw.ellipse((width // 2 - r, int(height * 0.62) - r, width // 2 + r, int(height * 0.62) + r),
                 fill=(255, 200, 90))
    draw.rectangle((0, int(height * 0.62), width, height), fill=(30, 60, 110))
    return pic


def to_tensor(img: Image.Image) -> torch.Tensor:
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr)[None]


class Printer:
    """Live status in the terminal: one line rewritten in place while waiting."""

    def __init__(self):
        self.live = sys.stdout.isatty()
        self.last_stage = None

    def __call__(self, stage: str, text: str):
        repeat = stage == self.last_stage and stage in ("queued", "running", "downloading", "decoding")
        if self.live and repeat:
            sys.stdout.write("\r\033[K  " + text)
        elif repeat:
            return          # not a terminal: print each stage once, not every tick
        else:
            sys.stdout.write(("\n" if self.last_stage else "") + "  " + text)
        sys.stdout.flush()
        self.last_stage = stage


def contact_sheet(frames: torch.Tensor, path: Path, columns: int = 9, thumb_w: int = 200) -> Path:
    """Every frame, in order, as a grid of thumbnails (left to right, top to bottom)."""
    n, h, w, _ = frames.shape
    thumb_h = max(1, round(h * thumb_w / w))
    rows = math.ceil(n / columns)
    sheet = Image.new("RGB", (columns * thumb_w, rows * thumb_h), (20, 20, 20))
    for i in range(n):
        tile = Image.fromarray((frames[i].numpy() * 255).round().astype(np.uint8))
        tile = tile.resize((thumb_w, thumb_h), Image.Resampling.BILINEAR)
        sheet.paste(tile, ((i % columns) * thumb_w, (i // columns) * thumb_h))
    sheet.save(path)
    return path


def write_frames(frames: torch.Tensor, folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(frames.shape[0]):
        Image.fromarray((frames[i].numpy() * 255).round().astype(np.uint8)).save(
            folder / f"frame_{i:04d}.png", compress_level=1)
    return frames.shape[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", help="input picture (default: a generated sunset)")
    ap.add_argument("--prompt", default="The sun slowly sinks into the sea, gentle waves, warm light")
    ap.add_argument("--out", help="output folder (default: a new folder under the system temp dir)")
    ap.add_argument("--real", action="store_true", help="use RunComfy's real service (a paid job)")
    ap.add_argument("--sim-seconds", default="2,5", metavar="QUEUE,RUN",
                    help="simulated queue and run time (default 2,5)")
    args = ap.parse_args(argv)

    out = Path(args.out or tempfile.mkdtemp(prefix="runcomfy-demo-")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ["RUNCOMFY_OUTPUT_DIR"] = str(out)
    os.environ.setdefault("RUNCOMFY_USER_DIR", str(out / "user"))
    sim = None
    if args.real:
        if not (os.environ.get("RUNCOMFY_API_TOKEN") or os.environ.get("RUNCOMFY_API_KEY")):
            print("--real needs RUNCOMFY_API_TOKEN set (this runs a paid job).")
            return 2
        print("Running against RunComfy's real service: this is a paid job.")
    else:
        from simulator import Simulator
        queue_s, run_s = (float(x) for x in args.sim_seconds.split(","))
        sim = Simulator("demo-token", queue_s=queue_s, run_s=run_s).start()
        os.environ["RUNCOMFY_BASE_URL"], os.environ["RUNCOMFY_API_TOKEN"] = sim.base_url, sim.token
        print(f"Bundled RunComfy simulator running at {sim.base_url}")

    from nodes.app.pipeline import run_model
    from nodes.app.plain_host import PlainHost
    from nodes.app.refresh import refresh_prices_in_background
    from nodes.app.runtime import Runtime
    from nodes.app.status import StatusReporter
    from nodes.comfy.factory import default_values
    from nodes.comfy.registry import build_mappings

    rt = Runtime(PlainHost())                               # the pack's runtime, without ComfyUI
    cls = build_mappings(rt)[0][NODE_ID]
    values = default_values(cls)
    picture = Image.open(args.image) if args.image else demo_image()
    picture.convert("RGB").save(out / "input.png")
    values.update(prompt=args.prompt, image=to_tensor(picture))
    print(f"{cls.SPEC.display_name} ({cls.SPEC.model_id}), input {picture.width}x{picture.height}")
    refresh = refresh_prices_in_background(rt, [cls.SPEC.model_id])   # as ComfyUI's start does
    if refresh is not None:
        refresh.join(15)
    started = time.monotonic()
    try:
        outputs = run_model(rt, cls.SPEC, values, StatusReporter(sink=Printer()))
    finally:
        print()
        if sim:
            sim.stop()
    frames, fps, count, _video, url, request_id, _audio = outputs["result"]
    mp4 = next((out / "runcomfy").glob("*.mp4"))
    shutil.copy(mp4, out / "result.mp4")
    write_frames(frames, out / "frames")
    sheet = contact_sheet(frames, out / "contact_sheet.png")
    print(f"Decoded {count} frames of {frames.shape[2]}x{frames.shape[1]} at {fps:g} fps "
          f"in {time.monotonic() - started:.1f} s (request {request_id})")
    print(f"  video:         {out / 'result.mp4'}")
    print(f"  frames:        {out / 'frames'}/frame_0000.png … frame_{count - 1:04d}.png")
    print(f"  contact sheet: {sheet}")
    print(f"Files are in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
