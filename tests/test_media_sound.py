"""A VIDEO with sound that must be re-encoded keeps its sound: another container, another
codec, a file over the size limit, a VIDEO held in memory, a VIDEO built from frames and an
AUDIO.  The clips are made here with PyAV (64 px, 2 s, an AAC track), sent through a node to
the simulator, and the MP4 it received is decoded: an H.264 video stream and an audio stream
as long as the clip's sound."""
import base64
import copy
import io
from fractions import Fraction

import av
import numpy as np
import pytest
import torch

from nodes.app.catalog import add_model
from nodes.app.pipeline import run_model
from nodes.app.status import StatusReporter as Reporter
from nodes.comfy import registry
from nodes.comfy.factory import default_values
from nodes.results.local_video import Components, LocalVideo

MODEL = "acme/video-to-video"
SECONDS, FPS, SIDE, RATE = 2, 12, 64, 44100


@pytest.fixture
def quick(sim):
    sim.queue_s = sim.run_s = 0.0
    return sim


def node(rt):
    add_model(MODEL, client=rt.client, models_dir=rt.models_dir())
    return registry.build_mappings(rt)[0]["RunComfy_acme_video_to_video"]


def run(cls, rt, **values):
    reporter = Reporter()
    out = run_model(rt, cls.SPEC, {**default_values(cls), **values}, reporter)
    return dict(zip(cls.RETURN_NAMES, out["result"])), reporter


def write_clip(target, fmt: str, codec: str, options=None, bit_rate=None):
    """SECONDS of SIDE×SIDE video at FPS with a stereo AAC tone, both streams declared first."""
    with av.open(target, "w", format=fmt) as out:
        video = out.add_stream(codec, rate=FPS)
        video.width, video.height, video.pix_fmt = SIDE, SIDE, "yuv420p"
        video.options = options or {}
        if bit_rate:
            video.bit_rate = bit_rate
        sound = out.add_stream("aac", rate=RATE)
        sound.layout = "stereo"
        for i in range(SECONDS * FPS):
            picture = np.full((SIDE, SIDE, 3), i * 10, np.uint8)
            out.mux(video.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        out.mux(video.encode())
        t = np.arange(SECONDS * RATE) / RATE
        samples = np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32)
        for start in range(0, samples.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + 1024]),
                                               format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = RATE, start
            out.mux(sound.encode(frame))
        out.mux(sound.encode())
    return target


def received(sim) -> bytes:
    (body,) = sim.submitted_bodies(MODEL)
    head, b64 = body["video_url"].split(",", 1)
    assert head == "data:video/mp4;base64"
    return base64.b64decode(b64)


def streams_of(raw: bytes) -> tuple[str, int, str, float]:
    """(video codec, video frames, audio codec, seconds of decoded sound) of an MP4."""
    with av.open(io.BytesIO(raw)) as box:
        assert box.streams.video and box.streams.audio, "the MP4 needs a video and a sound stream"
        frames = sum(1 for _ in box.decode(video=0))
        box.seek(0)
        sound = box.streams.audio[0]
        samples = sum(f.samples for f in box.decode(sound))
        return (box.streams.video[0].codec_context.name, frames, sound.codec_context.name,
                samples / sound.codec_context.sample_rate)


def assert_sound_kept(raw: bytes, frames: int = SECONDS * FPS, seconds: float = SECONDS) -> None:
    vcodec, n, acodec, heard = streams_of(raw)
    assert (vcodec, n, acodec) == ("h264", frames, "aac")
    assert heard == pytest.approx(seconds, abs=0.1)


@pytest.mark.parametrize("fmt,ext,codec", [
    ("mpegts", "ts", "libx264"),       # another container, a codec the service takes
    ("mp4", "mp4", "mpeg4"),           # MP4, but MPEG-4 Part 2 video
    ("matroska", "mkv", "mpeg4"),      # both
    ("matroska", "mkv", "libx264"),    # Matroska with H.264 and AAC: not WebM, whatever FFmpeg says
], ids=["ts-h264", "mp4-mpeg4", "mkv-mpeg4", "mkv-h264"])
def test_a_video_in_another_container_or_codec_is_re_encoded_with_its_sound(quick, env, fast_rt, tmp_path,
                                                                            fmt, ext, codec):
    path = write_clip(str(tmp_path / f"in.{ext}"), fmt, codec)
    out, reporter = run(node(fast_rt), fast_rt, prompt="x", video=fast_rt.host.video_from_file(path))
    assert any("re-encoded as H.264 MP4" in n for n in reporter.notes)
    assert_sound_kept(received(quick))
    assert out["frame_count"] == SECONDS * FPS


def test_a_video_over_the_size_limit_is_re_encoded_with_its_sound(quick, env, fast_rt, tmp_path):
    doc = copy.deepcopy(quick.catalog.models[MODEL])
    rules = doc["input_schema"]["properties"]["video_url"]["validations"]
    next(r for r in rules if r["validation_rule"] == "file_size_mb<")["validation_value"] = 0.2
    quick.catalog.models[MODEL] = doc                        # the model takes files under 0.2 MB
    padded = {"preset": "ultrafast", "x264-params": "nal-hrd=cbr:filler=1",
              "maxrate": "2M", "minrate": "2M", "bufsize": "1M"}
    path = write_clip(str(tmp_path / "big.mp4"), "mp4", "libx264", padded, bit_rate=2_000_000)
    assert (tmp_path / "big.mp4").stat().st_size > 200_000   # H.264 MP4, only too large
    out, reporter = run(node(fast_rt), fast_rt, prompt="x", video=fast_rt.host.video_from_file(path))
    assert any("MB is over the limit" in n for n in reporter.notes)
    raw = received(quick)
    assert len(raw) < 200_000
    assert_sound_kept(raw)
    assert out["frame_count"] == SECONDS * FPS


class InMemoryVideo:
    """A VIDEO whose file is a BytesIO (ComfyUI's VideoFromFile of an in-memory file)."""

    def __init__(self, raw: bytes):
        self.raw = raw

    def get_stream_source(self):
        return io.BytesIO(self.raw)


def test_a_video_held_in_memory_is_re_encoded_with_its_sound(quick, env, fast_rt):
    buf = io.BytesIO()
    write_clip(buf, "matroska", "mpeg4")
    run(node(fast_rt), fast_rt, prompt="x", video=InMemoryVideo(buf.getvalue()))
    assert_sound_kept(received(quick))


class ComponentsVideo:
    """A VIDEO built from frames, an AUDIO and a frame rate, with no file of its own (core
    Create Video); like ComfyUI's VideoFromComponents before it is saved."""

    def __init__(self, images, audio, rate):
        self.parts = Components(images, audio, Fraction(rate))

    def get_components(self):
        return self.parts


def test_a_video_built_from_frames_and_an_audio_is_sent_with_the_sound(quick, env, fast_rt):
    frames = torch.rand(20, 48, 64, 3, generator=torch.Generator().manual_seed(1))
    t = torch.arange(int(1.5 * 22050)) / 22050
    audio = {"waveform": (0.4 * torch.sin(2 * torch.pi * 330 * t))[None, None], "sample_rate": 22050}
    out, reporter = run(node(fast_rt), fast_rt, prompt="x", video=ComponentsVideo(frames, audio, 10))
    assert any("20 frames sent as an H.264 MP4 at 10 fps" in n for n in reporter.notes)
    assert_sound_kept(received(quick), frames=20, seconds=1.5)
    assert out["frame_count"] == 20



def test_a_cut_of_a_video_with_sound_keeps_the_sound_of_the_cut(quick, env, fast_rt, tmp_path):
    path = write_clip(str(tmp_path / "in.mp4"), "mp4", "libx264", {"preset": "ultrafast"})
    out, _ = run(node(fast_rt), fast_rt, prompt="x", video=LocalVideo(path, start_time=0.5, duration=1.0))
    assert_sound_kept(received(quick), frames=FPS, seconds=1.0)
    assert out["frame_count"] == FPS
