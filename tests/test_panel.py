"""The jobs panel's server side: pages of the journal with display names, thumbnails made once
from files on disk, the spend per day, and the price of a whole Queue before it is spent.
Against the simulator (real outputs: an MP4, PNGs, a WAV) and real sqlite."""
import asyncio
import io
import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from nodes.app.pipeline import run_model
from nodes.app.status import StatusReporter as Reporter
from nodes.comfy import panel_routes
from nodes.comfy.factory import default_values
from nodes.comfy.registry import build_mappings
from nodes.remote.journal import day_start
from nodes.results.thumbs import ThumbFolder

ROOT = Path(__file__).resolve().parents[1]
SIM_CATALOG = ROOT / "simulator" / "catalog"
SAME = {"Sec-Fetch-Site": "same-origin"}
VIDEO, IMAGE, AUDIO = "RunComfy_Wan22_ImageToVideo", "RunComfy_Wan26_ImageToImage", "RunComfy_acme_text_to_audio"
PRICED = ["wan-ai/wan-2-2/image-to-video", "wan-ai/wan-2-6/image-to-image", "acme/text-to-audio"]


@pytest.fixture
def classes(rt):
    return {**build_mappings(rt)[0], **build_mappings(rt, [SIM_CATALOG])[0]}


@pytest.fixture
def service(rt, env, client):
    env.queue_s, env.run_s = 0.0, 0.2
    rt.prices.refresh(PRICED, client)
    return env


def values_of(classes, node_id, seed=1, **extra):
    cls = classes[node_id]
    values = {**default_values(cls), **extra}
    if "seed" in values:
        values["seed"] = seed
    torch.manual_seed(0)
    optional = cls.INPUT_TYPES().get("optional", {})
    for name in ("image", "image_1"):
        if name in optional:
            values[name] = torch.rand(1, 400, 400, 3)
            break
    if "prompt" in values and not values["prompt"]:
        values["prompt"] = f"a lighthouse {seed}"
    return cls.SPEC, values


def run(rt, classes, node_id, seed=1, **extra):
    return run_model(rt, *values_of(classes, node_id, seed, **extra), Reporter())


def call(rt, classes, *steps):
    """Requests against the pack's panel routes on a real loopback server: [(status, body, headers)]."""
    async def go():
        routes = web.RouteTableDef()
        names = {c.MODEL_ID: (c.DISPLAY_NAME, c.OUTPUT_KIND) for c in classes.values() if hasattr(c, "MODEL_ID")}
        panel_routes.register(routes, classes.get, rt, names.get)
        app = web.Application()
        app.add_routes(routes)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            out = []
            for method, path, kw in steps:
                resp = await client.request(method, path, headers=SAME, **kw)
                body = await resp.read()
                is_json = resp.content_type == "application/json"
                out.append((resp.status, json.loads(body) if is_json else body, resp.headers))
            return out
    return asyncio.run(go())


def three_jobs(rt, classes):
    return [run(rt, classes, node) for node in (VIDEO, IMAGE, AUDIO)]


# -- the list ---------------------------------------------------------------------------------

def test_each_job_has_its_display_name_a_thumbnail_and_a_preview(rt, classes, service):
    three_jobs(rt, classes)
    [(code, page, _)] = call(rt, classes, ("GET", "/runcomfy/jobs", {}))
    assert code == 200
    rows = {j["kind"]: j for j in page["jobs"]}
    assert set(rows) == {"video", "image", "audio"}
    assert rows["video"]["display_name"] == "RunComfy Wan 2.2 Image to Video"
    assert rows["audio"]["model_id"] == "acme/text-to-audio"
    for kind, job in rows.items():
        assert job["thumb"].startswith("/runcomfy/thumb?request_id=")
        assert job["files"][0]["kind"] == kind and job["files"][0]["url"].startswith("/view?")
        assert job["progress"] is None and job["status"] == "completed"
    thumbs = call(rt, classes, *[("GET", rows[k]["thumb"], {}) for k in ("video", "image", "audio")])
    for code, body, headers in thumbs:
        picture = Image.open(io.BytesIO(body))
        assert code == 200 and headers["Content-Type"] == "image/jpeg"
        assert 0 < max(picture.size) <= 256
    assert {m["model_id"] for m in page["models"]} == {"wan-ai/wan-2-2/image-to-video",
                                                       "wan-ai/wan-2-6/image-to-image", "acme/text-to-audio"}


def test_a_videos_thumbnail_is_its_first_frame(rt, classes, service):
    run(rt, classes, VIDEO)
    (entry,) = rt.journal.recent()
    video = Path(entry.files[0])
    with av.open(str(video)) as container:
        frames = [f.to_image() for _, f in zip(range(40), container.decode(video=0))]
    thumb = Image.open(rt.thumbs.get("job", [video])).convert("RGB")

    def distance(frame):
        small = frame.convert("RGB").resize(thumb.size)
        return float(np.abs(np.asarray(small, float) - np.asarray(thumb, float)).mean())
    first, *others = [distance(f) for f in frames]              # each frame's index is drawn on it
    assert first < 0.8 * min(others)


def test_a_thumbnail_is_made_once_from_the_file_on_disk_and_never_downloads(rt, classes, service):
    run(rt, classes, IMAGE)
    (entry,) = rt.journal.recent()
    downloads = len(service.calls("file"))
    [(c1, first, _)] = call(rt, classes, ("GET", f"/runcomfy/thumb?request_id={entry.request_id}", {}))
    made = rt.thumbs.path(entry.request_id)
    stamp = made.stat().st_mtime_ns
    for file in entry.files:
        Path(file).unlink()                                     # the result is gone from disk
    [(c2, again, _)] = call(rt, classes, ("GET", f"/runcomfy/thumb?request_id={entry.request_id}", {}))
    assert c1 == c2 == 200 and first == again                   # the kept one, not made again
    assert made.stat().st_mtime_ns >= stamp and len(service.calls("file")) == downloads
    made.unlink()
    [(c3, refused, _)] = call(rt, classes, ("GET", f"/runcomfy/thumb?request_id={entry.request_id}", {}))
    assert c3 == 404 and "on this machine" in refused["error"]   # nothing to make it from: no download
    assert len(service.calls("file")) == downloads


def test_the_thumbnail_folder_is_bounded(tmp_path):
    folder = ThumbFolder(tmp_path / "thumbs", max_bytes=60_000)
    rng = np.random.default_rng(0)
    for k in range(30):
        picture = tmp_path / f"p{k}.png"
        Image.fromarray(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)).save(picture)
        assert folder.get(f"job{k}", [picture]) is not None
    sizes = [p.stat().st_size for p in (tmp_path / "thumbs").glob("*.jpg")]
    assert sum(sizes) <= 60_000 and 0 < len(sizes) < 30
    assert folder.path("job29").is_file() and not folder.path("job0").is_file()   # the oldest went


def test_pages_and_filters_walk_the_whole_journal(rt, classes, service):
    for seed in range(1, 4):
        run(rt, classes, IMAGE, seed=seed)
    run(rt, classes, AUDIO)
    [(_, first, _)] = call(rt, classes, ("GET", "/runcomfy/jobs?limit=3", {}))
    assert len(first["jobs"]) == 3 and first["next"] is not None
    [(_, second, _)] = call(rt, classes, ("GET", f"/runcomfy/jobs?limit=3&before={first['next']}", {}))
    ids = [j["id"] for j in first["jobs"] + second["jobs"]]
    assert len(ids) == 4 == len(set(ids)) and ids == sorted(ids, reverse=True) and second["next"] is None
    assert "models" not in second                                # facets come with the first page
    [(_, only, _)] = call(rt, classes, ("GET", "/runcomfy/jobs?model=wan-ai/wan-2-6/image-to-image", {}))
    assert [j["model_id"] for j in only["jobs"]] == ["wan-ai/wan-2-6/image-to-image"] * 3
    [(_, none, _)] = call(rt, classes, ("GET", "/runcomfy/jobs?status=failed", {}))
    assert none["jobs"] == [] and first["statuses"] == {"completed": 4}


def test_the_spend_per_day_counts_as_the_daily_limit_does(rt, classes, service):
    three_jobs(rt, classes)
    [(code, data, _)] = call(rt, classes, ("GET", "/runcomfy/spend?days=30", {}))
    days = data["days"]
    assert code == 200 and len(days) == 30 and days[-1]["day"] == day_start(days[-1]["day"] + 1)
    assert days[-1]["spent"] == pytest.approx(rt.journal.spend_today().total) and days[-1]["spent"] > 0
    assert data["today"]["spent"] == pytest.approx(days[-1]["spent"])
    assert all(d["spent"] == 0 for d in days[:-1])


# -- the price of the whole Queue -----------------------------------------------------------------

def queue(rt, classes, nodes, batch=1):
    [(code, data, _)] = call(rt, classes, ("POST", "/runcomfy/estimate_queue",
                                           {"json": {"batch": batch, "nodes": nodes}}))
    assert code == 200
    return data


def node(node_id, type_, widgets, items=1, linked=False, fixed=True):
    return {"node": node_id, "type": type_, "title": type_, "widgets": widgets, "items": items,
            "linked": linked, "fixed": fixed}


def widgets_of(classes, node_id, **extra):
    spec, values = values_of(classes, node_id, **extra)
    return {k: v for k, v in values.items() if not isinstance(v, torch.Tensor)}


def test_the_queue_price_adds_every_node_times_its_list_items_and_batch(rt, classes, service):
    video = widgets_of(classes, VIDEO)                           # $0.25 a job (5 s at $0.05)
    audio = widgets_of(classes, AUDIO)
    each = queue(rt, classes, [node("1", AUDIO, audio)])["nodes"][0]["each"]
    data = queue(rt, classes, [node("1", VIDEO, video, items=16, linked=True),
                               node("2", AUDIO, audio, fixed=False),
                               node("3", "SaveImage", {})], batch=3)
    parts = {n["node"]: n for n in data["nodes"]}
    assert set(parts) == {"1", "2"}                              # a node of another pack costs nothing
    assert (parts["1"]["runs"], parts["1"]["usd"]) == (16, pytest.approx(4.0))     # a fixed seed: once a batch
    assert (parts["2"]["runs"], parts["2"]["usd"]) == (3, pytest.approx(3 * each))  # a changing seed: per batch
    assert data["total"] == pytest.approx(4.0 + 3 * each) and data["complete"]
    assert data["confirm_above"] == 5.0 and data["today"]["spent"] == 0


def test_a_job_the_journal_has_costs_nothing_in_the_queue_price(rt, classes, service):
    run(rt, classes, AUDIO)
    audio = widgets_of(classes, AUDIO)
    (part,) = queue(rt, classes, [node("1", AUDIO, audio)])["nodes"]
    assert part["reused"] and part["usd"] == 0
    (other,) = queue(rt, classes, [node("1", AUDIO, {**audio, "prompt": "another sound"})])["nodes"]
    assert not other["reused"] and other["usd"] > 0


def test_an_unknown_price_or_list_length_is_named_never_counted_as_nothing(rt, classes, service):
    video = widgets_of(classes, VIDEO)
    data = queue(rt, classes, [node("1", VIDEO, video, items=None), node("2", VIDEO, video)])
    assert not data["complete"] and data["unknown"] == [VIDEO]
    assert data["total"] == pytest.approx(0.25)


def test_the_confirm_threshold_is_a_setting(rt, classes, service, monkeypatch):
    monkeypatch.setenv("RUNCOMFY_CONFIRM_ABOVE_USD", "never")
    assert queue(rt, classes, [])["confirm_above"] is None
    monkeypatch.setenv("RUNCOMFY_CONFIRM_ABOVE_USD", "0")
    assert queue(rt, classes, [])["confirm_above"] == 0
    monkeypatch.setenv("RUNCOMFY_CONFIRM_ABOVE_USD", "lots")
    data = queue(rt, classes, [])
    assert data["confirm_above"] == 0 and "RUNCOMFY_CONFIRM_ABOVE_USD" in data["confirm_problem"]


def test_a_running_job_shows_its_models_kind_and_progress(rt, classes, service):
    entry, _ = rt.journal.claim(["fp-running"], "wan-ai/wan-2-2/image-to-video", rt.owner, 60, 0.25)
    rt.journal.record_request(entry.id, "rid-running-1")
    [(_, page, _)] = call(rt, classes, ("GET", "/runcomfy/jobs", {}))
    (job,) = page["jobs"]
    assert (job["kind"], job["thumb"], job["billed"]) == ("video", "", "≈ $0.25 (running)")
    assert job["progress"]["stage"] == "submitted" and job["can_cancel"]
