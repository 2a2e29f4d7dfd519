"""The simulator's media models over real HTTP: video, audio and image-list inputs sent as
data URIs (encoded here with PIL, PyAV and the stdlib ``wave``), their validation (kind,
aspect ratio, duration, item counts, enums, arrays of objects), outputs that decode to
the right streams and lengths, prices and costs, failures, and the submit rate limit."""
import base64
import io
import json
import wave

import av
import numpy as np
import pytest
import requests
from PIL import Image

from simulator import Clock, Simulator
from simulator.catalog import FOLDERS, Catalog

TOKEN = "media-token"


# -- inputs, encoded independently of the simulator's own writers --------------------------------
def data_uri(mime: str, raw: bytes) -> str:
    return f"data:{mime};base64," + base64.b64encode(raw).decode()


def png(w: int = 64, h: int = 64) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (30, 120, 200)).save(buf, "PNG")
    return data_uri("image/png", buf.getvalue())


def wav(seconds: float, rate: int = 22050, channels: int = 1) -> str:
    t = np.arange(int(rate * seconds)) / rate
    pcm = (np.sin(2 * np.pi * 330 * t) * 8000).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(pcm, channels).tobytes())
    return data_uri("audio/wav", buf.getvalue())


def mp4(frames: int, fps: int, size: int = 32, with_video: bool = True, with_audio: bool = False) -> str:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as box:
        if with_video:
            v = box.add_stream("libx264", rate=fps)
            v.width = v.height = size
            v.pix_fmt, v.options = "yuv420p", {"preset": "ultrafast"}
        if with_audio:
            a = box.add_stream("aac", rate=44100)
            a.layout = "stereo"
        for i in range(frames if with_video else 0):
            img = np.full((size, size, 3), i * 7 % 255, np.uint8)
            for packet in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                box.mux(packet)
        if with_video:
            for packet in v.encode(None):
                box.mux(packet)
        if with_audio:
            for start in range(0, 44100, 1024):
                frame = av.AudioFrame.from_ndarray(np.zeros((2, min(1024, 44100 - start)), np.float32),
                                                   format="fltp", layout="stereo")
                frame.sample_rate, frame.pts = 44100, start
                for packet in a.encode(frame):
                    box.mux(packet)
            for packet in a.encode(None):
                box.mux(packet)
    return data_uri("video/mp4", buf.getvalue())


def clip(fmt: str, codec: str, mime: str, seconds: float, rate: int = 48000) -> str:
    """An audio clip encoded with PyAV (MP3, FLAC, Ogg/Opus), mono, at ``rate`` Hz."""
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as box:
        stream = box.add_stream(codec, rate=rate)
        stream.layout = "mono"
        n = int(seconds * rate)
        step = 960 if codec == "libopus" else 1152
        for start in range(0, n, step):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, min(step, n - start)), np.float32),
                                               format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                box.mux(packet)
        for packet in stream.encode(None):
            box.mux(packet)
    return data_uri(mime, buf.getvalue())


def webm(frames: int, fps: int, size: int = 32) -> str:
    buf = io.BytesIO()
    with av.open(buf, "w", format="webm") as box:
        v = box.add_stream("libvpx", rate=fps)
        v.width = v.height = size
        v.pix_fmt = "yuv420p"
        for i in range(frames):
            img = np.full((size, size, 3), i * 9 % 255, np.uint8)
            for packet in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                box.mux(packet)
        for packet in v.encode(None):
            box.mux(packet)
    return data_uri("video/webm", buf.getvalue())


# -- driving the simulator --------------------------------------------------------------------------
@pytest.fixture
def msim():
    s = Simulator(TOKEN, queue_s=0.0, run_s=0.0, max_side=160).start()
    yield s
    s.stop()


def post(sim, model_id, body):
    return requests.post(f"{sim.base_url}/v1/models/{model_id}", json=body,
                         headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)


def get(sim, path, **params):
    r = requests.get(f"{sim.base_url}{path}", params=params,
                     headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def run(sim, model_id, body) -> dict:
    """Submit, then read the (already finished) result with its cost."""
    r = post(sim, model_id, body)
    assert r.status_code == 200, r.text
    return get(sim, f"/v1/requests/{r.json()['request_id']}/result", include_cost="true")


def refused(sim, model_id, body) -> list[dict]:
    r = post(sim, model_id, body)
    assert r.status_code == 422, r.text
    assert r.json()["error_code"] == 422001
    return r.json()["detail"]


def fetch(url: str, content_type: str) -> bytes:
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == content_type
    return r.content


def streams(raw: bytes) -> dict:
    """What PyAV finds in a file: video frames/fps/size and the audio track, if any."""
    out = {"video": None, "audio": None}
    with av.open(io.BytesIO(raw)) as box:
        if box.streams.video:
            s = box.streams.video[0]
            out["video"] = {"frames": sum(1 for p in box.demux(s) if p.size), "fps": float(s.average_rate),
                            "size": (s.codec_context.width, s.codec_context.height)}
        box.seek(0)
        if box.streams.audio:
            s = box.streams.audio[0]
            samples = sum(f.samples for f in box.decode(s))
            out["audio"] = {"codec": s.codec_context.name, "rate": s.codec_context.sample_rate,
                            "channels": s.codec_context.channels, "decoded_s": samples / s.codec_context.sample_rate,
                            "seconds": float(s.duration * s.time_base) if s.duration else None}
    return out


# -- catalog and prices ------------------------------------------------------------------------------
NEW = {"acme/image-list-edit": ("image", 0.04), "acme/reference-to-video": ("second", 0.10),
       "acme/audio-to-video": ("second", 0.09), "acme/text-to-audio": ("second", 0.002),
       "acme/video-to-video": ("second", 0.06), "acme/text-to-video": ("second", 0.05),
       "wan-ai/wan-2-6/image-to-image": ("image", 0.03), "wan-ai/wan-2-1/image-to-video": ("second", 0.06),
       "community/wan-2-2/vace-fun": ("second", 0.07), "acme/camera-motion": ("request", 0.2),
       "acme/image-to-3d": ("request", 0.15)}


def test_every_model_has_a_price_and_a_unit(msim):
    listing = get(msim, "/v1/models", limit="100")
    entries = {m["model_id"]: m for m in listing["models"]}
    assert set(NEW) <= set(entries) and listing["total"] == len(entries) == 16
    for entry in entries.values():
        assert entry["price_unit"] in ("second", "image", "request") and entry["base_price_usd"] > 0
    for model_id, (unit, rate) in NEW.items():
        assert (entries[model_id]["price_unit"], entries[model_id]["base_price_usd"]) == (unit, rate)
    one = get(msim, "/v1/models/acme/audio-to-video")
    assert one["kind"] == "audio-to-video" and "second" in one["pricing_note"]
    assert one["input_schema"]["properties"]["audio_url"]["format"] == "audio_uri"


# -- image lists ---------------------------------------------------------------------------------------
def test_image_list_edit_makes_num_images_and_ignores_a_required_key_it_does_not_define(msim):
    body = {"prompt": "make it dusk", "image": [png(64, 64), png(96, 48)], "num_images": "3",
            "guidance": 2.5, "negative_prompt": None}          # no "seed_value_missing"
    result = run(msim, "acme/image-list-edit", body)
    urls = result["output"]["images"]
    assert len(urls) == 3 and [u.rsplit("/", 1)[1] for u in urls] == [f"output_{i}.png" for i in range(3)]
    assert Image.open(io.BytesIO(fetch(urls[2], "image/png"))).size == (160, 160)
    assert result["cost"] == pytest.approx(0.12) and result["billed"] is True
    assert refused(msim, "acme/image-list-edit", {"image": [png()]}) == [
        {"loc": ["body", "prompt"], "msg": "field required", "type": "missing"}]


def test_aspect_ratio_rules_give_the_schema_error_per_item(msim):
    wide = refused(msim, "acme/image-list-edit", {"prompt": "x", "image": [png(64, 64), png(300, 100)]})
    assert wide == [{"loc": ["body", "image", 1], "type": "validation",
                     "msg": "The image aspect ratio (width/height) must not exceed 2.5."}]
    tall = refused(msim, "acme/image-list-edit", {"prompt": "x", "image": [png(100, 300)]})
    assert tall[0]["msg"] == "The image aspect ratio (width/height) must be at least 0.4."
    assert run(msim, "acme/image-list-edit", {"prompt": "x", "image": [png(250, 100), png(40, 100)]})["output"]


def test_item_counts_numeric_string_enums_floats_and_null_defaults(msim):
    ok = {"prompt": "x", "image": [png()]}
    assert refused(msim, "acme/image-list-edit", {**ok, "image": []})[0]["type"] == "items"
    assert refused(msim, "acme/image-list-edit", {**ok, "image": [png()] * 11})[0]["loc"] == ["body", "image"]
    assert refused(msim, "acme/image-list-edit", {**ok, "num_images": 2})[0]["type"] == "type_error"
    assert refused(msim, "acme/image-list-edit", {**ok, "num_images": "5"})[0]["type"] == "enum"
    assert refused(msim, "acme/image-list-edit", {**ok, "guidance": "2"})[0]["loc"] == ["body", "guidance"]
    assert refused(msim, "acme/image-list-edit", {**ok, "guidance": None})[0]["type"] == "type_error"
    assert refused(msim, "acme/reference-to-video", {"prompt": "x", "videos": ["https://e.com/v.mp4"] * 4})
    assert len(run(msim, "acme/image-list-edit", {**ok, "num_images": "2", "guidance": 3})["output"]["images"]) == 2


# -- media kinds --------------------------------------------------------------------------------------
@pytest.mark.parametrize("model_id,body,loc,words", [
    ("acme/audio-to-video", {"audio_url": "PNG"}, ["body", "audio_url"], "expected an audio data URI"),
    ("acme/video-to-video", {"video_url": "WAV", "prompt": "p"}, ["body", "video_url"], "expected a video"),
    ("acme/video-to-video", {"video_url": "SILENT_MP4", "prompt": "p"}, ["body", "video_url"], "not a readable video"),
    ("acme/image-list-edit", {"prompt": "p", "image": ["WAV"]}, ["body", "image", 0], "expected an image"),
    ("acme/reference-to-video", {"prompt": "p", "audios": ["https://e.com/a.wav", "MP4"]}, ["body", "audios", 1],
     "expected an audio"),
    ("acme/audio-to-video", {"audio_url": "http://e.com/a.wav"}, ["body", "audio_url"], "publicly reachable https://"),
    ("acme/audio-to-video", {"audio_url": "data:audio/wav;base64,AAAA"}, ["body", "audio_url"], "not a readable audio"),
    ("acme/audio-to-video", {"audio_url": "data:audio/wav;base64,@@"}, ["body", "audio_url"], "not a readable audio"),
])
def test_wrong_or_unreadable_media_is_refused_naming_the_field(msim, model_id, body, loc, words):
    stand_ins = {"PNG": png(), "WAV": wav(0.5), "MP4": mp4(4, 8), "SILENT_MP4": mp4(0, 8, with_video=False,
                                                                                   with_audio=True)}
    body = {k: ([stand_ins.get(x, x) for x in v] if isinstance(v, list) else stand_ins.get(v, v))
            for k, v in body.items()}
    detail = refused(msim, model_id, body)
    assert len(detail) == 1 and detail[0]["loc"] == loc and words in detail[0]["msg"], detail


# -- video and audio models -------------------------------------------------------------------------------
def test_audio_to_video_lasts_as_long_as_the_audio_and_carries_it(msim):
    result = run(msim, "acme/audio-to-video", {"audio_url": wav(2.0), "image_url": png(80, 60), "prompt": "hi"})
    found = streams(fetch(result["output"]["video"], "video/mp4"))
    assert found["video"]["frames"] == 32 and found["video"]["fps"] == 16
    sound = found["audio"]
    assert (sound["codec"], sound["rate"], sound["channels"]) == ("aac", 44100, 2)
    assert sound["seconds"] == pytest.approx(2.0, abs=0.03)
    assert result["cost"] == pytest.approx(0.18)
    linked = run(msim, "acme/audio-to-video", {"audio_url": "https://example.com/voice.mp3"})
    assert streams(fetch(linked["output"]["video"], "video/mp4"))["video"]["frames"] == 80   # 5 s assumed


@pytest.mark.parametrize("make", [
    lambda: clip("mp3", "libmp3lame", "audio/mpeg", 1.5, 44100),
    lambda: clip("flac", "flac", "audio/flac", 1.5),
    lambda: clip("ogg", "libopus", "audio/ogg", 1.5),
], ids=["mp3", "flac", "ogg"])
def test_audio_inputs_in_other_formats_are_decoded_and_resampled(msim, make):
    result = run(msim, "acme/audio-to-video", {"audio_url": make()})
    found = streams(fetch(result["output"]["video"], "video/mp4"))
    assert found["video"]["frames"] == 24 and found["audio"]["rate"] == 44100
    assert found["audio"]["seconds"] == pytest.approx(1.5, abs=0.05)


def test_a_webm_input_counts_its_frames(msim):
    result = run(msim, "acme/video-to-video", {"video_url": webm(12, 12), "prompt": "p"})
    assert streams(fetch(result["output"]["video"], "video/mp4"))["video"]["frames"] == 12


def test_video_to_video_keeps_frames_and_fps_and_checks_duration(msim):
    result = run(msim, "acme/video-to-video", {"video_url": mp4(20, 10), "prompt": "oil paint",
                                               "resolution": "720p"})
    found = streams(fetch(result["output"]["video"], "video/mp4"))
    assert found["video"] == {"frames": 20, "fps": 10.0, "size": (160, 90)} and found["audio"] is None
    assert result["cost"] == pytest.approx(0.12)              # 2 s × $0.06
    long = refused(msim, "acme/video-to-video", {"video_url": mp4(160, 10, size=16), "prompt": "x"})
    assert long[0]["msg"] == "The video must be at most 15 seconds long."


def test_reference_to_video_has_sound_only_when_audio_was_given(msim):
    refs = {"prompt": "@image1 dances", "images": [png()], "videos": [mp4(8, 8)], "duration": 2,
            "resolution": "480p"}
    with_audio = run(msim, "acme/reference-to-video", {**refs, "audios": [wav(1.0)]})
    found = streams(fetch(with_audio["output"]["video"], "video/mp4"))
    assert found["video"]["frames"] == 33 and found["audio"]["codec"] == "aac"
    assert found["audio"]["seconds"] == pytest.approx(33 / 16, abs=0.03)   # padded to the clip
    silent = run(msim, "acme/reference-to-video", refs)
    assert streams(fetch(silent["output"]["video"], "video/mp4"))["audio"] is None
    assert with_audio["cost"] == silent["cost"] == pytest.approx(0.2)
    too_long = refused(msim, "acme/reference-to-video", {"prompt": "x", "videos": [mp4(88, 8, size=16)]})
    assert too_long == [{"loc": ["body", "videos", 0], "type": "validation",
                         "msg": "Each reference video must be at most 10 seconds long."}]


def test_text_to_audio_gives_exact_wav_and_mp3_pitched_by_the_prompt(msim):
    loras = [{"path": "https://example.com/rain.safetensors", "scale": 0.7}, {"path": "https://e.com/b"}]
    result = run(msim, "acme/text-to-audio", {"prompt": "rain", "duration": 3, "loras": loras})
    raw = fetch(result["output"]["audio"], "audio/wav")
    with wave.open(io.BytesIO(raw)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (2, 2, 44100, 3 * 44100)
    assert streams(raw)["audio"]["codec"] == "pcm_s16le"
    assert result["cost"] == pytest.approx(0.006)
    other = run(msim, "acme/text-to-audio", {"prompt": "thunder", "duration": 3})
    assert fetch(other["output"]["audio"], "audio/wav") != raw
    mp3 = run(msim, "acme/text-to-audio", {"prompt": "rain", "duration": 2.0, "output_format": "mp3"})
    assert mp3["output"]["audio"].endswith("/output_0.mp3")
    found = streams(fetch(mp3["output"]["audio"], "audio/mpeg"))["audio"]
    assert found["codec"].startswith("mp3") and found["decoded_s"] == pytest.approx(2.0, abs=0.03)


def test_arrays_of_objects_are_checked_item_by_item(msim):
    bad = refused(msim, "acme/text-to-audio", {"prompt": "x", "loras": [{"scale": 1}, "rain.safetensors",
                                                                        {"path": 3, "scale": "high"}]})
    assert [(d["loc"], d["type"]) for d in bad] == [
        (["body", "loras", 0, "path"], "missing"), (["body", "loras", 1], "type_error"),
        (["body", "loras", 2, "path"], "type_error"), (["body", "loras", 2, "scale"], "type_error")]
    assert refused(msim, "acme/text-to-audio", {"prompt": "x", "duration": 31})[0]["type"] == "range"


def test_audio_switch_adds_a_track_of_the_clip_length(msim, tmp_path):
    on = run(msim, "acme/text-to-video-audio", {"prompt": "waves", "duration": 2, "generate_audio": True})
    sound = streams(fetch(on["output"]["video"], "video/mp4"))["audio"]
    assert (sound["codec"], sound["rate"], sound["channels"]) == ("aac", 44100, 2)
    assert sound["seconds"] == pytest.approx(33 / 16, abs=0.03)
    for body in ({"prompt": "waves", "duration": 2, "generate_audio": False}, {"prompt": "waves", "duration": 2}):
        assert streams(fetch(run(msim, "acme/text-to-video-audio", body)["output"]["video"], "video/mp4"))[
            "audio"] is None
    doc = json.loads((FOLDERS[1] / "acme-text-to-video.json").read_text())
    doc["model_id"] = "acme/enable-audio"
    doc["input_schema"]["properties"]["enable_audio"] = {"type": "boolean", "default": False}
    (tmp_path / "m.json").write_text(json.dumps(doc))
    with Simulator(TOKEN, queue_s=0, run_s=0, max_side=64, catalog=Catalog([tmp_path])) as other:
        result = run(other, "acme/enable-audio", {"prompt": "x", "duration": 2, "enable_audio": True})
        assert streams(fetch(result["output"]["video"], "video/mp4"))["audio"]["channels"] == 2


# -- output shapes, several kinds at once ---------------------------------------------------------------
def test_sim_also_adds_audio_and_image_to_a_video_result(msim):
    result = run(msim, "acme/text-to-video", {"prompt": "fox [sim:also=audio,image]", "duration": 2})
    out = result["output"]
    assert set(out) == {"video", "audio", "image"} and out["audio"].endswith("/output_1.wav")
    with wave.open(io.BytesIO(fetch(out["audio"], "audio/wav"))) as w:
        assert w.getnframes() == round(33 / 16 * 44100)
    assert streams(fetch(out["video"], "video/mp4"))["audio"] is None
    fetch(out["image"], "image/png")
    assert result["cost"] == pytest.approx(0.10)             # the extras are not charged
    assert requests.get(out["video"].replace("output_0.mp4", "output_1.mp4")).status_code == 404


def test_audio_shapes_and_counts():
    with Simulator(TOKEN, queue_s=0, run_s=0, audio_shape="audios") as sim:
        assert len(run(sim, "acme/text-to-audio", {"prompt": "a", "duration": 1})["output"]["audios"]) == 1
        result = run(sim, "acme/text-to-audio", {"prompt": "a [sim:shape=audio] [sim:n=2]", "duration": 1})
        assert set(result["output"]) == {"audio"} and result["cost"] == pytest.approx(0.004)
        two = run(sim, "acme/text-to-audio", {"prompt": "b [sim:n=2]", "duration": 1})["output"]["audios"]
        assert len(two) == 2 and fetch(two[0], "audio/wav") != fetch(two[1], "audio/wav")


# -- costs and failures ----------------------------------------------------------------------------------
def test_costs_follow_the_unit_and_the_actual_output(msim):
    link = "https://example.com/in.png"
    assert run(msim, "wan-ai/wan-2-2/image-to-video", {"prompt": "x", "img_url": link})["cost"] == 0.25
    assert run(msim, "wan-ai/wan-2-1/image-to-video", {"prompt": "x", "image_url": link,
                                                       "num_frames": 97})["cost"] == pytest.approx(0.36)
    assert run(msim, "wan-ai/wan-2-6/image-to-image", {"prompt": "x [sim:n=2]",
                                                       "image_urls": [link]})["cost"] == pytest.approx(0.06)
    assert run(msim, "acme/camera-motion", {"prompt": "x", "image_url": link,
                                            "num_frames": 33})["cost"] == pytest.approx(0.2)


def test_failures_moderation_and_cancel_say_whether_they_are_billed(msim):
    body = {"prompt": "x", "img_url": "https://example.com/in.png"}
    failed = run(msim, "wan-ai/wan-2-2/image-to-video", {**body, "prompt": "x [sim:fail]"})
    assert failed["status"] == "failed" and (failed["billed"], failed["cost"]) == (False, 0)
    flagged = run(msim, "wan-ai/wan-2-2/image-to-video", {**body, "prompt": "x [sim:moderation]"})
    assert flagged["error"] == {"code": "content_moderation",
                                "message": "The prompt was flagged by content moderation."}
    assert (flagged["billed"], flagged["cost"]) == (False, 0)
    ran = run(msim, "wan-ai/wan-2-2/image-to-video", {**body, "prompt": "x [sim:fail_billed]"})
    assert ran["status"] == "failed" and (ran["billed"], ran["cost"]) == (True, 0.25)
    rid = post(msim, "wan-ai/wan-2-2/image-to-video", {**body, "prompt": "x [sim:queue=30]"}).json()["request_id"]
    r = requests.post(f"{msim.base_url}/v1/requests/{rid}/cancel", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.json()["outcome"] == "cancelled"
    cancelled = get(msim, f"/v1/requests/{rid}/result", include_cost="true")
    assert (cancelled["status"], cancelled["billed"], cancelled["cost"]) == ("cancelled", False, 0)


# -- rate limit -----------------------------------------------------------------------------------------
class StoppedClock(Clock):
    """Simulated time that moves only when the test says so: the bucket refills on cue."""

    def __init__(self):
        super().__init__()
        self.t = 0.0

    def now(self) -> float:
        return self.t


def test_submits_beyond_the_rate_get_429_with_retry_after_and_make_no_job():
    clock = StoppedClock()
    with Simulator(TOKEN, queue_s=0, run_s=0, clock=clock, submit_rate=2) as sim:
        body = {"prompt": "x", "duration": 2}
        answers = [post(sim, "acme/text-to-video", body) for _ in range(5)]
        codes = [r.status_code for r in answers]
        assert codes.count(200) == 2 and codes.count(429) == 3 and len(sim.jobs) == 2
        for r in answers:
            if r.status_code == 429:
                assert int(r.headers["Retry-After"]) >= 1
        limited = [e for e in sim.calls("submit") if e.get("rate_limited")]
        assert len(limited) == 3 and all(e["status"] == 429 for e in limited)
        clock.t += 0.5                  # one token back
        assert post(sim, "acme/text-to-video", body).status_code == 200 and len(sim.jobs) == 3
    with Simulator(TOKEN, queue_s=0, run_s=0, clock=StoppedClock(), submit_rate=0.25) as slow:
        assert post(slow, "acme/text-to-video", {"prompt": "x"}).status_code == 200    # burst of 1
        assert post(slow, "acme/text-to-video", {"prompt": "x"}).headers["Retry-After"] == "4"
    with Simulator(TOKEN, queue_s=0, run_s=0) as unlimited:
        assert all(post(unlimited, "acme/text-to-video", {"prompt": "x"}).status_code == 200 for _ in range(5))
