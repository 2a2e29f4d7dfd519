"""nodes.decode: result videos into ComfyUI IMAGE batches (real H.264 clips, small sizes)."""
from __future__ import annotations

import threading
import time

import av
import numpy as np
import pytest
import torch

import nodes.results.decode as decode
from nodes.core.errors import DecodeError, RunComfyError
from nodes.results.decode import DecodedVideo, decode_video
from simulator.media import frame_index, write_mp4

W, H, FPS, FRAMES = 320, 240, 24, 30
BUDGET = 8 * 2**30        # the memory one result may take: far above these clips


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    mp4 = write_mp4(d / "clip.mp4", FRAMES, FPS, W, H)
    out = {"mp4": mp4, "dir": d}
    for name, fmt in (("mkv", "matroska"), ("ts", "mpegts")):
        out[name] = _remux(mp4, d / f"clip.{name}", fmt)
    return out


def _remux(src, dst, fmt, options=None):
    """Copy the H.264 packets into another container (no re-encode)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format=fmt, options=options or {}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return dst


def _indices(video: DecodedVideo) -> list[int]:
    return [frame_index(f) for f in video.frames.numpy()]


def _plain_decode(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def test_full_clip_shape_type_range_and_order(clips):
    v = decode_video(clips["mp4"], budget=BUDGET)
    assert isinstance(v, DecodedVideo)
    assert v.frames.shape == (FRAMES, H, W, 3)
    assert v.frames.dtype == torch.float32 and v.frames.is_contiguous()
    assert (v.frame_count, v.width, v.height, v.source_frames) == (FRAMES, W, H, FRAMES)
    assert v.fps == pytest.approx(FPS) and v.source_fps == pytest.approx(FPS)
    assert float(v.frames.min()) >= 0.0 and float(v.frames.max()) <= 1.0
    assert float(v.frames.max()) == 1.0  # the white code blocks: really 0..1, not 0..255/255²
    assert _indices(v) == list(range(FRAMES))


def test_values_equal_plain_rgb24_over_255(clips):
    """Every pixel, whichever thread converted it, is exactly PyAV rgb24 / 255."""
    expected = torch.from_numpy(_plain_decode(clips["mp4"])) / 255.0
    assert torch.equal(decode_video(clips["mp4"], budget=BUDGET).frames, expected)


def test_both_threads_convert_and_every_slot_is_right(clips, monkeypatch):
    """Force the queue to fill (slow converter thread) so the decoding thread converts too."""
    real = decode._to_float
    by_thread = {"worker": 0, "caller": 0}

    def slow_on_worker(rgb, out):
        if threading.current_thread().name == "runcomfy-decode-convert":
            by_thread["worker"] += 1
            time.sleep(0.005)
        else:
            by_thread["caller"] += 1
        real(rgb, out)

    monkeypatch.setattr(decode, "_to_float", slow_on_worker)
    v = decode_video(clips["mp4"], budget=BUDGET)
    assert by_thread["worker"] > 0 and by_thread["caller"] > 0
    assert sum(by_thread.values()) == FRAMES
    assert _indices(v) == list(range(FRAMES))
    assert torch.equal(v.frames, torch.from_numpy(_plain_decode(clips["mp4"])) / 255.0)


@pytest.mark.parametrize("converters", [1, 3])
def test_any_number_of_converter_threads(clips, monkeypatch, converters):
    monkeypatch.setattr(decode, "_CONVERTERS", converters)
    v = decode_video(clips["mp4"], budget=BUDGET, start_frame=1, every_nth=2)
    expected = torch.from_numpy(_plain_decode(clips["mp4"])[1::2]) / 255.0
    assert torch.equal(v.frames, expected)
    assert not [t for t in threading.enumerate() if t.name == "runcomfy-decode-convert"]


def test_converter_failure_is_raised_not_swallowed(clips, monkeypatch):
    def broken_on_worker(rgb, out):
        if threading.current_thread().name == "runcomfy-decode-convert":
            raise MemoryError("boom")
        time.sleep(0.002)
        np.divide(rgb, np.float32(255.0), out=out)

    monkeypatch.setattr(decode, "_to_float", broken_on_worker)
    with pytest.raises(MemoryError, match="boom"):
        decode_video(clips["mp4"], budget=BUDGET)
    assert not [t for t in threading.enumerate() if t.name == "runcomfy-decode-convert"]


@pytest.mark.parametrize("start,nth,cap", [
    (0, 1, 0), (5, 1, 0), (0, 3, 0), (0, 1, 7), (4, 3, 0), (4, 3, 5), (2, 4, 100),
    (29, 1, 0), (29, 5, 3), (0, 31, 0), (10, 7, 2),
])
def test_start_every_nth_cap(clips, start, nth, cap):
    expected = list(range(start, FRAMES, nth))[:cap or None]
    v = decode_video(clips["mp4"], budget=BUDGET, start_frame=start, every_nth=nth, frame_cap=cap)
    assert v.frame_count == len(expected) == v.frames.shape[0]
    assert _indices(v) == expected
    assert v.fps == pytest.approx(FPS / nth)
    assert v.source_frames == FRAMES and v.source_fps == pytest.approx(FPS)


@pytest.mark.parametrize("kind", ["mkv", "ts"])
def test_container_without_frame_count(clips, kind):
    with av.open(str(clips[kind])) as c:
        assert c.streams.video[0].frames == 0  # the case the fallback exists for
    v = decode_video(clips[kind], budget=BUDGET)
    assert v.frames.shape == (FRAMES, H, W, 3) and v.source_frames == FRAMES
    assert _indices(v) == list(range(FRAMES))
    v = decode_video(clips[kind], budget=BUDGET, start_frame=3, every_nth=4)
    assert _indices(v) == list(range(3, FRAMES, 4))


def test_fewer_frames_than_counted_gives_narrowed_view(clips, monkeypatch):
    monkeypatch.setattr(decode, "_count_frames", lambda path: FRAMES + 10)
    seen = []
    v = decode_video(clips["mkv"], budget=BUDGET, progress=lambda d, t: seen.append((d, t)))
    assert v.frame_count == FRAMES and v.frames.shape[0] == FRAMES
    assert v.source_frames == FRAMES + 10
    assert _indices(v) == list(range(FRAMES))
    assert v.frames.is_contiguous()
    # a view on the one allocation (no copy): the storage still has room for 40 frames
    assert v.frames.untyped_storage().nbytes() == (FRAMES + 10) * H * W * 3 * 4
    assert seen[-1] == (FRAMES, FRAMES)


def test_progress_ends_with_n_of_n_and_never_overshoots(clips, monkeypatch):
    monkeypatch.setattr(decode, "_PROGRESS_EVERY", 0.0)  # report every frame
    seen = []
    v = decode_video(clips["mp4"], budget=BUDGET, every_nth=2,
                     progress=lambda d, t: seen.append((d, t)))
    n = v.frame_count
    assert n == 15 and seen[-1] == (n, n)
    assert len(seen) > 2
    assert all(0 < d <= t == n for d, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_progress_is_throttled(clips, monkeypatch):
    real = decode._to_float
    monkeypatch.setattr(decode, "_to_float", lambda rgb, out: (time.sleep(0.02), real(rgb, out)))
    monkeypatch.setattr(decode, "_CONVERTERS", 1)
    seen = []
    started = time.monotonic()
    decode_video(clips["mp4"], budget=BUDGET, progress=lambda d, t: seen.append((d, t)))
    elapsed = time.monotonic() - started  # >= 0.3 s: 30 frames x 20 ms over 2 threads
    assert seen[-1] == (FRAMES, FRAMES)
    assert 3 <= len(seen) <= elapsed / decode._PROGRESS_EVERY + 2  # ~10 a second, plus the last


def test_exception_from_progress_stops_cleanly(clips, monkeypatch):
    """A cancel raised from the progress callback propagates and leaves no thread behind."""
    monkeypatch.setattr(decode, "_PROGRESS_EVERY", 0.0)

    class Cancelled(Exception):
        pass

    def cancel(done, total):
        if done >= 5:
            raise Cancelled

    with pytest.raises(Cancelled):
        decode_video(clips["mp4"], budget=BUDGET, progress=cancel)
    assert not [t for t in threading.enumerate() if t.name == "runcomfy-decode-convert"]


def test_missing_file(tmp_path):
    path = tmp_path / "nope.mp4"
    with pytest.raises(DecodeError) as err:
        decode_video(path, budget=BUDGET)
    assert str(path) in str(err.value) and "does not exist" in str(err.value)
    assert isinstance(err.value, RunComfyError)


@pytest.mark.parametrize("faststart", [False, True])
def test_truncated_mp4(clips, tmp_path, faststart):
    src = clips["mp4"]
    if faststart:  # index at the front: the cut happens in the middle of the frame data
        src = _remux(src, tmp_path / "fast.mp4", "mp4", {"movflags": "faststart"})
    data = src.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DecodeError) as err:
        decode_video(cut, budget=BUDGET)
    assert str(cut) in str(err.value) and "download it again" in str(err.value)


def test_garbage_bytes(tmp_path):
    path = tmp_path / "garbage.mp4"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    with pytest.raises(DecodeError) as err:
        decode_video(path, budget=BUDGET)
    assert str(path) in str(err.value) and "not a readable video" in str(err.value)


def test_audio_only_file_is_not_a_video(tmp_path):
    path = tmp_path / "sound.wav"
    with av.open(str(path), "w", format="wav") as c:
        stream = c.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), dtype=np.int16), format="s16",
                                           layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            c.mux(packet)
    with pytest.raises(DecodeError) as err:
        decode_video(path, budget=BUDGET)
    assert str(path) in str(err.value) and "no video stream" in str(err.value)


def test_start_frame_past_end_says_how_many_frames(clips):
    for start in (FRAMES, FRAMES + 100):
        with pytest.raises(DecodeError) as err:
            decode_video(clips["mp4"], budget=BUDGET, start_frame=start)
        msg = str(err.value)
        assert f"has {FRAMES} frames" in msg and str(start) in msg and str(clips["mp4"]) in msg
    with pytest.raises(DecodeError, match=f"has {FRAMES} frames"):
        decode_video(clips["ts"], budget=BUDGET, start_frame=FRAMES)  # count from packets too


def test_out_of_memory_is_a_decode_error_with_the_size(clips, monkeypatch):
    def no_memory(*args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(torch, "empty", no_memory)
    with pytest.raises(DecodeError) as err:
        decode_video(clips["mp4"], budget=BUDGET, every_nth=2)
    msg = str(err.value)
    assert f"15 frames of {W}x{H}" in msg and str(clips["mp4"]) in msg and "frame cap" in msg


@pytest.mark.parametrize("kwargs", [{"start_frame": -1}, {"every_nth": 0}, {"frame_cap": -2}])
def test_bad_arguments(clips, kwargs):
    with pytest.raises(ValueError):
        decode_video(clips["mp4"], budget=BUDGET, **kwargs)
