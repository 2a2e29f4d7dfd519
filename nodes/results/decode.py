"""Decode a result video into a ComfyUI IMAGE batch (float32 [N, H, W, 3], 0..1).

The output tensor is allocated once, at its final size, and every kept frame is
written straight into its slot: no list of frames, no ``torch.stack``, so peak
memory is the output plus a few frames in flight.

Speed comes from keeping both cores busy.  The calling thread demuxes, decodes and
converts YUV→RGB with one reused swscale context (FFmpeg releases the GIL); a converter
thread turns each uint8 RGB frame into float32 inside the output tensor (numpy releases
the GIL too).  They are linked by a small bounded queue, so only a handful of uint8
frames exist at any time; when the queue is full the calling thread converts that frame
itself instead of waiting, which balances the two threads whatever the resolution.
The biggest single cost is not decoding but the kernel's first-touch page faults on the
multi-GB output, and those are shared by both threads the same way.
"""
from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
from av.error import FFmpegError
from av.video.reformatter import VideoReformatter

from ..core.errors import DecodeError, ResultTooLarge, RunComfyError

_QUEUE_FRAMES = 4          # uint8 frames waiting for conversion (bounds extra memory)
# Converter threads besides the caller: 1 on a 2-core box; a few more where cores allow
# (conversion and page faults are memory-bound, so more than ~3 buys little).
_CONVERTERS = max(1, min(3, (os.cpu_count() or 2) - 1))
_PROGRESS_EVERY = 0.1      # seconds between progress callbacks (~10/s at most)


@dataclass
class DecodedVideo:
    frames: torch.Tensor   # float32 [N, H, W, 3], values 0..1, contiguous (ComfyUI IMAGE)
    fps: float             # output fps: source fps / every_nth
    frame_count: int       # N
    width: int
    height: int
    source_fps: float
    source_frames: int     # frames in the file


def _count_frames(path: Path) -> int:
    """Frames in the first video stream, by counting its packets (a demux pass, no decode).

    Used when the container has no frame count (MKV, WebM, MPEG-TS...).  Never estimated
    from duration x fps, which is wrong for variable frame rate and rounding.
    """
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


def _to_float(rgb: np.ndarray, out: np.ndarray) -> None:
    """uint8 HxWx3 -> float32 0..1 in place; numpy casts in cache-sized chunks, GIL released."""
    np.divide(rgb, np.float32(255.0), out=out)  # same values as ComfyUI's /255.0


def _convert_worker(out: np.ndarray, jobs: queue.Queue, failure: list) -> None:
    """Convert queued (slot, uint8 frame) jobs into ``out[slot]`` until a None arrives."""
    while True:
        job = jobs.get()
        if job is None:
            return
        if failure:
            continue  # keep draining so the producer never blocks on a full queue
        try:
            _to_float(job[1], out[job[0]])
        except BaseException as exc:  # re-raised by the producer after join
            failure.append(exc)


def check_budget(path, n: int, width: int, height: int, total: int, start: int, nth: int,
                 budget: int) -> None:
    """Refuse, before allocating, frames that would not fit the memory budget."""
    frame = width * height * 3 * 4
    if n * frame <= budget:
        return
    fits = max(0, budget // frame)
    span = max(1, total - start)
    nth_fit = -(-span // max(1, fits)) if fits else None
    how = (f"Set frame_cap to {fits} or less, or every_nth_frame to {nth_fit} or more" if fits
           else "Even one frame is over it; raise the budget")
    raise ResultTooLarge(
        f"The result video {path} has {total} frames of {width}x{height}: decoding {n} of them "
        f"would take {n * frame / 2**30:.1f} GiB, over the {budget / 2**30:.1f} GiB budget for one "
        f"result (RUNCOMFY_MAX_RESULT_GB). {how} to fit it. The video is saved; the VIDEO output "
        "of a node with fewer frames shows it whole.")


def decode_video(path, *, budget: int, start_frame: int = 0, every_nth: int = 1, frame_cap: int = 0,
                 progress=None, ledger=None) -> DecodedVideo:
    """Decode ``path`` into one preallocated float32 [N, H, W, 3] tensor.

    ``budget``: the bytes one result may take (RUNCOMFY_MAX_RESULT_GB).
    Kept frames: index >= start_frame and (index - start_frame) % every_nth == 0, at most
    ``frame_cap`` of them (0 = all).  ``progress(done, total)`` is called on the calling
    thread at most ~10 times a second and once at the end with (N, N); an exception it
    raises (e.g. a cancel) stops decoding and propagates.

    N is computed up front from the container's frame count (or a packet count when the
    container has none).  If the file then yields fewer frames than that (e.g. an MP4 edit
    list hides some), ``frames`` is a narrowed view of the first frames written: still
    contiguous, no copy, but its storage keeps the unused tail allocated until it is freed.
    Frames beyond the count are ignored.
    """
    if start_frame < 0 or every_nth < 1 or frame_cap < 0:
        raise ValueError("start_frame and frame_cap must be >= 0 and every_nth >= 1")
    path = Path(path)
    if not path.is_file():
        raise DecodeError(f"The video file {path} does not exist; download the result again.")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DecodeError(f"The file {path} contains no video stream; "
                                  "check that the model returned a video.")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            if width <= 0 or height <= 0:
                raise DecodeError(f"The video {path} does not state its frame size; "
                                  "the file is probably damaged, download it again.")
            source_fps = float(stream.average_rate or stream.guessed_rate or 0)
            total = stream.frames or _count_frames(path)
            if total <= 0:
                raise DecodeError(f"The video {path} contains no frames; download it again.")
            if start_frame >= total:
                raise DecodeError(f"Start frame {start_frame} is past the end of {path}, which "
                                  f"has {total} frames (0..{total - 1}); lower the start frame.")
            n = -(-(total - start_frame) // every_nth)
            if frame_cap:
                n = min(n, frame_cap)
            check_budget(path, n, width, height, total, start_frame, every_nth, budget)
            if ledger is not None:            # the frames of every item of a list, together
                ledger.reserve(n * height * width * 12, f"{n} frames of {width}x{height}")
            try:
                out = torch.empty((n, height, width, 3), dtype=torch.float32)
            except (RuntimeError, MemoryError) as exc:
                raise DecodeError(f"Not enough memory for {n} frames of {width}x{height} from "
                                  f"{path} ({n * height * width * 12 / 2**30:.1f} GiB as float); "
                                  "lower the frame cap or raise every-nth.") from exc
            written = _decode_into(container, stream, out, start_frame, every_nth, progress)
    except RunComfyError:
        raise
    except (FFmpegError, OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise DecodeError(f"The file {path} is not a readable video (it may be truncated or "
                          f"damaged; download it again): {reason}.") from exc
    if written == 0:
        raise DecodeError(f"No frames could be decoded from {path} from frame {start_frame} on; "
                          "the file may be damaged, download it again.")
    frames = out[:written] if written < n else out  # narrowed view, see docstring
    return DecodedVideo(frames=frames, fps=source_fps / every_nth, frame_count=written,
                        width=width, height=height, source_fps=source_fps,
                        source_frames=total)


def _decode_into(container, stream, out: torch.Tensor, start: int, nth: int, progress) -> int:
    """Decode on this thread, convert on worker threads; returns the frames written."""
    n, height, width, _ = out.shape
    jobs: queue.Queue = queue.Queue(maxsize=_QUEUE_FRAMES)
    failure: list = []
    out_np = out.numpy()  # a view: numpy writes go straight into the tensor
    reformatter = VideoReformatter()  # one swscale context; frame.to_ndarray makes one per frame
    written = 0
    last_report = time.monotonic()
    workers = [threading.Thread(target=_convert_worker, args=(out_np, jobs, failure),
                                name="runcomfy-decode-convert", daemon=True)
               for _ in range(_CONVERTERS)]
    for worker in workers:
        worker.start()
    try:
        for index, frame in enumerate(container.decode(stream)):
            if index < start or (index - start) % nth:
                continue
            # width/height: a mid-stream size change is scaled to the allocated size.
            rgb = reformatter.reformat(frame, width, height, "rgb24").to_ndarray()
            try:
                jobs.put_nowait((written, rgb))
            except queue.Full:  # converters are behind: convert here rather than wait idle
                _to_float(rgb, out_np[written])
            written += 1
            if written == n or failure:
                break
            if progress is not None and time.monotonic() - last_report >= _PROGRESS_EVERY:
                last_report = time.monotonic()
                progress(written, n)
    finally:
        for worker in workers:
            jobs.put(None)  # one stop sign each; workers keep draining, so this never blocks
        for worker in workers:
            worker.join()
    if failure:
        raise failure[0]
    if progress is not None:
        progress(written, written)
    return written
