"""Every media kind end to end against the simulator: image lists, videos, audio in; audio,
sound tracks and several kinds out.  Models come from the simulator's catalog through
``add_model`` (as a user adds them); inputs are real tensors, real MP4s and real AUDIO.
"""
import base64
import io
import json
import wave

import av
import numpy as np
import pytest
import torch

from PIL import Image

from nodes.app.catalog import add_model
from nodes.app.pipeline import run_model
from nodes.app.status import StatusReporter as Reporter
from nodes.comfy import registry
from nodes.comfy.factory import default_values
from nodes.core.errors import InputError
from nodes.spec.models import PACK_MODELS
from simulator.media import write_mp4


@pytest.fixture
def quick(sim):
    sim.queue_s = sim.run_s = 0.0
    return sim


def node(rt, model_id):
    add_model(model_id, client=rt.client, models_dir=rt.models_dir())
    return registry.build_mappings(rt)[0]["RunComfy_" + model_id.replace("/", "_").replace("-", "_")]


def run(cls, rt, **values):
    reporter = Reporter()
    out = run_model(rt, cls.SPEC, {**default_values(cls), **values}, reporter)
    return dict(zip(cls.RETURN_NAMES, out["result"])), reporter


def image(h, w, n=1, seed=0):
    return torch.rand(n, h, w, 3, generator=torch.Generator().manual_seed(seed))


def tone(seconds, rate=22050, channels=1, freq=330.0):
    t = torch.arange(int(seconds * rate)) / rate
    wave_t = (0.4 * torch.sin(2 * torch.pi * freq * t)).expand(channels, -1)
    return {"waveform": wave_t.unsqueeze(0).contiguous(), "sample_rate": rate}


def clip(tmp_path, name="in.mp4", frames=24, fps=12, w=96, h=64, sound=False):
    audio = None
    if sound:
        t = np.arange(int(frames / fps * 44100)) / 44100
        audio = np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32)
    return write_mp4(tmp_path / name, frames, fps, w, h, audio=audio)


def payload(uri: str) -> tuple[str, bytes]:
    head, b64 = uri.split(",", 1)
    return head[len("data:"):].split(";")[0], base64.b64decode(b64)


def not_catalog(sim) -> list:
    """Requests other than the catalog look-up add_model made."""
    return [c for c in sim.log if c["endpoint"] != "model"]


def seconds_of_audio(audio) -> float:
    return audio["waveform"].shape[-1] / audio["sample_rate"]


# -- image lists under any key, with an aspect-ratio rule -----------------------------------------

def test_an_image_array_under_the_key_image_takes_sockets_batches_and_links(quick, env, fast_rt):
    cls = node(fast_rt, "acme/image-list-edit")
    optional = cls.INPUT_TYPES()["optional"]
    assert [n for n in optional] == [f"image_{i}" for i in range(1, 11)]    # the 10 maxItems allows
    assert all(t == "IMAGE" for t, _ in optional.values())
    out, _ = run(cls, fast_rt, prompt="tidy up", image_1=image(64, 96, n=3),   # a batch: 3 items
                 image_urls="\n" + "\n" * 5 + "https://example.com/seventh.png", number_of_images="2")
    (body,) = quick.submitted_bodies("acme/image-list-edit")
    assert len(body["image"]) == 4 and body["image"][3] == "https://example.com/seventh.png"
    assert all(payload(u)[0] == "image/png" for u in body["image"][:3])
    assert body["num_images"] == "2" and "seed_value_missing" not in body  # quirk: not sent
    assert out["images"].shape[0] == 2                                        # "2" → two images


def test_the_aspect_ratio_rule_is_checked_before_paying(quick, env, fast_rt):
    cls = node(fast_rt, "acme/image-list-edit")
    with pytest.raises(InputError, match=r"image_1' is 300x100 px \(aspect ratio 3.00\).*2.5"):
        run(cls, fast_rt, prompt="x", image_1=image(100, 300))
    assert quick.calls("submit") == []


def test_min_items_is_checked_before_paying(quick, env, fast_rt):
    cls = node(fast_rt, "acme/image-list-edit")
    with pytest.raises(InputError, match="'image' needs at least 1 image"):
        run(cls, fast_rt, prompt="x")
    assert not_catalog(quick) == []


# -- lists of images, videos and audios in one model ------------------------------------------------

def test_reference_to_video_takes_images_videos_and_audios(quick, env, fast_rt, tmp_path):
    cls = node(fast_rt, "acme/reference-to-video")
    optional = cls.INPUT_TYPES()["optional"]
    assert optional["reference_video_1"][0] == "VIDEO,IMAGE" and optional["reference_audio_1"][0] == "AUDIO"
    assert optional["reference_image_1"][0] == "IMAGE"
    file = clip(tmp_path, frames=24, fps=12)
    out, reporter = run(cls, fast_rt, prompt="a dance", reference_image_1=image(48, 48),
                        reference_video_1=fast_rt.host.video_from_file(file),        # a VIDEO: sent as is
                        reference_video_2=image(40, 64, n=8),                # frames: encoded
                        reference_audio_1=tone(1.5), duration=2, video_fps=8.0)
    (body,) = quick.submitted_bodies("acme/reference-to-video")
    kind, raw = payload(body["videos"][0])
    assert kind == "video/mp4" and raw == file.read_bytes()                  # its own file
    kind, raw = payload(body["videos"][1])
    with av.open(io.BytesIO(raw)) as box:
        assert box.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in box.decode(video=0)) == 8
        assert float(box.streams.video[0].average_rate) == 8.0               # video_fps
    kind, raw = payload(body["audios"][0])
    with wave.open(io.BytesIO(raw)) as w:
        assert kind == "audio/wav" and w.getframerate() == 22050
        assert abs(w.getnframes() / 22050 - 1.5) < 1e-3
    assert out["frame_count"] == 33 and out["video"] is not None
    assert out["audio"] is not None                                         # the clip's track
    assert abs(seconds_of_audio(out["audio"]) - 33 / 16) < 0.1
    assert any("8 frames sent as an H.264 MP4 at 8 fps" in n for n in reporter.notes)


def test_a_reference_video_over_its_duration_rule_fails_before_paying(quick, env, fast_rt, tmp_path):
    cls = node(fast_rt, "acme/reference-to-video")
    long_clip = clip(tmp_path, "long.mp4", frames=132, fps=12)               # 11 s > 10 s
    with pytest.raises(InputError, match=r"11.00 s long.*at most 10 seconds"):
        run(cls, fast_rt, prompt="x", reference_video_1=fast_rt.host.video_from_file(long_clip))
    with pytest.raises(InputError, match="takes at most 3 videos; got 4"):
        run(cls, fast_rt, prompt="x", reference_video_urls="\n".join(["https://example.com/v.mp4"] * 4))
    assert quick.calls("submit") == []


def test_a_data_uri_of_the_wrong_kind_is_refused(quick, env, fast_rt):
    cls = node(fast_rt, "acme/reference-to-video")
    with pytest.raises(InputError, match="a data: URI of image, but 'reference_video' takes a video"):
        run(cls, fast_rt, prompt="x", reference_video_urls="data:image/png;base64,AAAA")
    assert not_catalog(quick) == []


# -- audio in, audio out -------------------------------------------------------------------------------

def test_audio_to_video_needs_its_audio_and_the_result_has_its_length(quick, env, fast_rt):
    cls = node(fast_rt, "acme/audio-to-video")
    assert cls.INPUT_TYPES()["optional"]["audio"][0] == "AUDIO"
    with pytest.raises(InputError, match="input 'audio' is required: connect an AUDIO"):
        run(cls, fast_rt, prompt="x")
    assert not_catalog(quick) == []
    out, _ = run(cls, fast_rt, prompt="drums", audio=tone(2.5, channels=2), image=image(64, 64))
    assert out["frame_count"] == 40                                           # 2.5 s × 16 fps
    assert abs(seconds_of_audio(out["audio"]) - 2.5) < 0.1
    assert out["audio"]["waveform"].shape[1] == 2


def test_a_batch_of_clips_on_a_single_audio_input_is_refused(quick, env, fast_rt):
    cls = node(fast_rt, "acme/audio-to-video")
    two = tone(1.0)
    two["waveform"] = torch.cat([two["waveform"]] * 2)
    with pytest.raises(InputError, match="batch of 2 clips.*one clip per job"):
        run(cls, fast_rt, prompt="x", audio=two)
    assert quick.calls("submit") == []


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_text_to_audio_returns_audio_of_the_asked_length(quick, env, fast_rt, fmt):
    cls = node(fast_rt, "acme/text-to-audio")
    assert cls.RETURN_NAMES == ("audio", "audio_url", "request_id")
    assert cls.RETURN_TYPES == ("AUDIO", "STRING", "STRING")
    out, _ = run(cls, fast_rt, prompt="rain on a tin roof", duration=3.0, output_format=fmt,
                 loras='[{"path": "rain.safetensors", "scale": 0.8}]')
    assert abs(seconds_of_audio(out["audio"]) - 3.0) < 0.08
    assert out["audio_url"].endswith("." + fmt)
    (body,) = quick.submitted_bodies("acme/text-to-audio")
    assert body["loras"] == [{"path": "rain.safetensors", "scale": 0.8}]


@pytest.mark.parametrize("loras,match", [
    ('[{"scale": 0.8}]', r"loras\[0\] needs the key 'path'"),
    ('[{"path": "a", "scale": 5}]', r"loras\[0\].scale is 5, above the maximum 2"),
    ('{"path": "a"}', "must be array"),
])
def test_an_array_of_objects_is_checked_against_its_schema_before_paying(quick, env, fast_rt, loras, match):
    cls = node(fast_rt, "acme/text-to-audio")
    assert "Schema:" in cls.INPUT_TYPES()["required"]["loras"][1]["tooltip"]
    with pytest.raises(InputError, match=match):
        run(cls, fast_rt, prompt="x", loras=loras)
    assert not_catalog(quick) == []


def test_a_video_made_with_audio_on_has_an_audio_output_of_its_duration(quick, env, fast_rt):
    cls = node(fast_rt, "acme/text-to-video-audio")
    out, _ = run(cls, fast_rt, prompt="a storm", duration=2, generate_audio=True)
    assert out["frame_count"] == 33
    assert abs(seconds_of_audio(out["audio"]) - out["frame_count"] / out["fps"]) < 0.1
    silent, reporter = run(cls, fast_rt, prompt="a storm", duration=2, generate_audio=False)
    assert silent["frame_count"] == 33                      # no track: silence of its length,
    assert float(silent["audio"]["waveform"].abs().max()) == 0.0   # so Save Audio never fails
    assert abs(seconds_of_audio(silent["audio"]) - 33 / 16) < 0.01
    assert any("No sound in this result" in n for n in reporter.notes)


def test_one_result_with_several_kinds_fills_every_matching_output(quick, env, fast_rt):
    cls = node(fast_rt, "acme/text-to-video-audio")
    out, reporter = run(cls, fast_rt, prompt="waves [sim:also=audio]", duration=2)
    assert out["frame_count"] == 33 and out["audio"] is not None      # the separate audio file
    assert len(out["video_url"].splitlines()) == 2


# -- a VIDEO in, sent as its file or re-encoded -------------------------------------------------------

def test_video_to_video_sends_a_fitting_video_as_its_own_file(quick, env, fast_rt, tmp_path):
    cls = node(fast_rt, "acme/video-to-video")
    assert cls.INPUT_TYPES()["optional"]["video"][0] == "VIDEO,IMAGE"
    file = clip(tmp_path, frames=20, fps=10, sound=True)
    out, _ = run(cls, fast_rt, prompt="as a painting", video=fast_rt.host.video_from_file(file))
    (body,) = quick.submitted_bodies("acme/video-to-video")
    assert payload(body["video_url"]) == ("video/mp4", file.read_bytes())
    assert out["frame_count"] == 20 and out["fps"] == 10.0


def test_a_trimmed_video_sends_only_its_cut_and_is_a_different_job(quick, env, fast_rt, tmp_path):
    from nodes.results.local_video import LocalVideo
    cls = node(fast_rt, "acme/video-to-video")
    file = clip(tmp_path, frames=24, fps=12)
    whole, _ = run(cls, fast_rt, prompt="x", video=LocalVideo(file))
    cut, _ = run(cls, fast_rt, prompt="x", video=LocalVideo(file, start_time=0.5, duration=1.0))
    assert whole["frame_count"] == 24 and cut["frame_count"] == 12      # the cut, not the file
    assert len(quick.calls("submit")) == 2 and whole["request_id"] != cut["request_id"]


def test_an_image_batch_on_a_video_input_uses_the_model_fps_or_16(quick, env, fast_rt):
    cls = node(fast_rt, "acme/video-to-video")
    out, reporter = run(cls, fast_rt, prompt="x", video=image(48, 64, n=32))
    (body,) = quick.submitted_bodies("acme/video-to-video")
    with av.open(io.BytesIO(payload(body["video_url"])[1])) as box:
        assert float(box.streams.video[0].average_rate) == 16.0
    assert out["frame_count"] == 32


def test_a_video_in_another_container_is_re_encoded(quick, env, fast_rt, tmp_path):
    cls = node(fast_rt, "acme/video-to-video")
    path = tmp_path / "in.mkv"
    with av.open(str(path), "w", format="matroska") as out:
        s = out.add_stream("mpeg4", rate=12)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(12):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, np.uint8), format="rgb24")
            out.mux(s.encode(frame))
        out.mux(s.encode())
    _, reporter = run(cls, fast_rt, prompt="x", video=fast_rt.host.video_from_file(path))
    (body,) = quick.submitted_bodies("acme/video-to-video")
    with av.open(io.BytesIO(payload(body["video_url"])[1])) as box:
        assert box.streams.video[0].codec_context.name == "h264"
    assert any("re-encoded as H.264 MP4" in n for n in reporter.notes)


# -- rules the pack does not know -----------------------------------------------------------------------

def test_an_unknown_rule_is_listed_shown_and_never_counted_as_checked(quick, env, fast_rt, tmp_path,
                                                                    user_dirs):
    doc = json.loads((PACK_MODELS.parent.parent / "simulator" / "catalog" /
                      "acme-video-to-video.json").read_text())
    doc["input_schema"]["properties"]["video_url"]["validations"].append(
        {"validation_rule": "bitrate_kbps<", "validation_value": 8000,
         "validation_error": "The bitrate must be under 8 Mbit/s."})
    saved = tmp_path / "v2v.json"
    saved.write_text(json.dumps(doc))
    _, report = add_model(schema_file=str(saved), models_dir=fast_rt.models_dir())
    assert any("rule 'bitrate_kbps<' is not checked before the submit" in r and "8 Mbit/s" in r
               for r in report)
    cls = registry.build_mappings(fast_rt)[0]["RunComfy_acme_video_to_video"]
    assert "'bitrate_kbps<' is checked by RunComfy only" in cls.INPUT_TYPES()["optional"]["video"][1]["tooltip"]
    quick.catalog.models["acme/video-to-video"] = doc
    _, reporter = run(cls, fast_rt, prompt="x", video=image(48, 64, n=4))
    assert any("'bitrate_kbps<' is not checked here" in n for n in reporter.notes)


# -- masks: a kind added as one table entry ------------------------------------------------------

def test_a_mask_field_takes_a_mask_sent_as_a_greyscale_png(quick, env, fast_rt):
    cls = node(fast_rt, "acme/inpaint")
    optional = cls.INPUT_TYPES()["optional"]
    assert optional["mask"][0] == "MASK,IMAGE" and optional["image"][0] == "IMAGE"
    mask = torch.zeros(1, 64, 96)
    mask[:, 16:48, 24:72] = 1.0                                   # ComfyUI: 1 = the area
    out, _ = run(cls, fast_rt, prompt="a red door", image=image(64, 96), mask=mask)
    (body,) = quick.submitted_bodies("acme/inpaint")
    mime, raw = payload(body["mask_url"])
    picture = Image.open(io.BytesIO(raw))
    assert (mime, picture.mode, picture.size) == ("image/png", "L", (96, 64))
    assert picture.getpixel((48, 32)) == 255 and picture.getpixel((2, 2)) == 0
    assert out["images"].shape[0] == 1


def test_a_mask_field_takes_an_image_too_and_keeps_its_rules(quick, env, fast_rt):
    cls = node(fast_rt, "acme/inpaint")
    run(cls, fast_rt, prompt="x", image=image(64, 96), mask=image(64, 96, seed=3))
    (body,) = quick.submitted_bodies("acme/inpaint")
    assert payload(body["mask_url"])[0] == "image/png"
    with pytest.raises(InputError, match="mask"):
        run(cls, fast_rt, prompt="x", image=image(64, 96), mask=torch.ones(1, 64, 2100),
            fit_image_to_limits=False)
    assert len(quick.calls("submit")) == 1                        # the second never went out
