"""Answers no honest service sends: every one must end in bounded work and a short sentence.

A small real HTTP server on 127.0.0.1 plays the API (and the file host), answering what
each test scripts: odd request ids, giant links, compressed or trickling files, giant
images and videos, endless answers.
"""
import asyncio
import gzip
import io
import json
import logging
import re
import struct
import threading
import time
import traceback
import zlib
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from nodes import catalog
from nodes.app import catalog as catalog_work
from nodes.app.pipeline import run_model
from nodes.app.status import StatusReporter as Reporter
from nodes.comfy import panel_routes
from nodes.comfy.factory import default_values
from nodes.comfy.registry import build_mappings
from nodes.core.errors import ApiError, DownloadError, JobFailed, ResultTooLarge, RunComfyError, SubmitUncertain
from nodes.remote import download as dl
from nodes.remote import transport
from nodes.results.decode import decode_video
from nodes.results.images import load_images
from nodes.spec.prices import PriceBook

from conftest import FAST
from simulator.media import write_mp4
from simulator.server import QuietHTTPServer


class Hostile:
    """routes: (method, path) → handler(h) writing the whole answer."""

    def __init__(self):
        self.routes, self.hits = {}, []
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_one(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                outer.hits.append((method, self.path))
                for (m, prefix), fn in outer.routes.items():
                    if m == method and self.path.startswith(prefix):
                        return fn(self)
                send(self, 404, {"message": "no route"})

            def do_GET(self):
                self.handle_one("GET")

            def do_POST(self):
                self.handle_one("POST")

        self.srv = QuietHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def send(h, status, data, headers=None):
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    h.send_response(status)
    for k, v in {"Content-Type": "application/json", "Content-Length": str(len(raw)), **(headers or {})}.items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(raw)


def png(width=64, height=48) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def api(monkeypatch):
    server = Hostile()
    monkeypatch.setenv("RUNCOMFY_BASE_URL", server.url)
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", "hostile-token")
    yield server
    server.close()


def serve_job(api, request_id, output):
    """Submit answers ``request_id``; its result is completed with ``output``."""
    api.routes[("POST", "/v1/models/")] = lambda h: send(h, 200, {"request_id": request_id})
    api.routes[("GET", "/v1/requests/")] = lambda h: send(h, 200, {
        "request_id": request_id, "status": "completed", "output": output})


def run_image_node(rt):
    """Run the node on ``rt`` (the tests pass ``fast_rt``: its clients retry at once)."""
    cls = build_mappings(rt)[0]["RunComfy_Wan26_ImageToImage"]
    vals = default_values(cls)
    vals["image_urls"] = "https://example.com/in.png"
    return run_model(rt, cls.SPEC, vals, Reporter())


# -- request ids and links ---------------------------------------------------------------------

def test_a_request_id_with_a_path_in_it_never_leaves_the_output_folder(fast_rt, api, user_dirs):
    serve_job(api, "/../../x", {"image": api.url + "/files/a.png"})
    api.routes[("GET", "/files/")] = lambda h: send(h, 200, png(), {"Content-Type": "image/png"})
    out = run_image_node(fast_rt)
    assert out["result"][2] == "/../../x" and out["result"][0].shape == (1, 48, 64, 3)
    everything = [p for p in user_dirs.rglob("*") if p.is_file()]
    outside = [p for p in everything if "user" not in p.parts
               and (user_dirs / "output" / "runcomfy") not in p.parents]
    assert outside == [], outside
    (saved,) = (user_dirs / "output" / "runcomfy").iterdir()
    assert saved.name.endswith("_x.png")


def test_a_request_id_with_a_nul_is_a_sentence_not_a_raw_error(fast_rt, api):
    serve_job(api, "ab\x00cd", {})
    with pytest.raises(SubmitUncertain, match="request id is missing or unusable"):
        run_image_node(fast_rt)
    (entry,) = fast_rt.journal.recent()
    assert entry.status == "uncertain"


def test_a_100_kb_result_link_gives_a_short_message(fast_rt, api):
    serve_job(api, "req-1", {"image": "https://cdn.example/" + "a" * 100_000})
    with pytest.raises(JobFailed) as info:
        run_image_node(fast_rt)
    assert "100020 characters" in str(info.value) and len(str(info.value)) < 400


def test_a_huge_api_answer_is_not_read(fast_rt, api, monkeypatch):
    monkeypatch.setattr(transport, "MAX_ANSWER", 64 * 1024)
    api.routes[("GET", "/v1/requests/")] = lambda h: send(h, 200, b"[" + b"1," * 100_000 + b"1]")
    client = fast_rt.client()
    with pytest.raises(RunComfyError, match="larger than 0.0625 MiB"):
        client.status("req-1")


DEEP = {"list": b"[" * 100_000 + b"]" * 100_000, "object": b'{"a":' * 100_000 + b"1" + b"}" * 100_000}


@pytest.mark.parametrize("shape", DEEP)
def test_a_deeply_nested_poll_answer_is_an_unreadable_answer_not_a_crash(fast_rt, api, shape):
    api.routes[("GET", "/v1/requests/")] = lambda h: send(h, 200, DEEP[shape])
    client = fast_rt.client()
    with pytest.raises(ApiError, match="nested more than 100 levels deep, which the pack cannot read") as info:
        client.result("req-1")
    assert info.value.retryable and len(str(info.value)) < 300
    assert len(api.hits) == FAST.attempts                 # asked again, as for any unreadable answer


@pytest.mark.parametrize("shape", DEEP)
def test_a_deeply_nested_submit_answer_is_uncertain_not_a_crash(fast_rt, api, shape):
    api.routes[("POST", "/v1/models/")] = lambda h: send(h, 200, DEEP[shape])
    with pytest.raises(SubmitUncertain, match="nested more than 100 levels deep.*may have been created"):
        run_image_node(fast_rt)
    (entry,) = fast_rt.journal.recent()
    assert entry.status == "uncertain" and "nested more than 100 levels" in entry.error
    assert [m for m, _ in api.hits] == ["POST"]           # never submitted twice


def test_a_service_error_text_is_quoted_at_most_200_characters(fast_rt, api):
    api.routes[("POST", "/v1/models/")] = lambda h: send(h, 400, {
        "error_code": 400002, "error_message": "x" * 50_000})
    with pytest.raises(RunComfyError) as info:
        run_image_node(fast_rt)
    assert "nothing was charged" in str(info.value) and len(str(info.value)) < 500


# -- a service that repeats the token ---------------------------------------------------------
ECHO_TOKEN = "rc-Ech0-T0k3n-Zq81Lm47Vx"
ECHOES = {                                        # what the service repeats of the request's header
    "bearer": lambda auth: auth,                  # "Bearer <token>"
    "bare": lambda auth: auth.split()[-1],        # the token alone
    "clipped": lambda auth: "x" * 160 + " " + auth,   # where quoting 200 characters cuts it
}


@pytest.fixture
def echo(api, monkeypatch, caplog):
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", ECHO_TOKEN)
    caplog.set_level(logging.DEBUG)
    return api


def echoing(form, status, code=None, key="error_message"):
    """A handler answering ``status`` with the request's token repeated in its message."""
    def handler(h):
        said = f"Invalid API key: {ECHOES[form](h.headers['Authorization'])}"
        send(h, status, {"error_code": code, key: said} if code else {"status": "failed", key: {"message": said}})
    return handler


def jobs_route_text(rt) -> str:
    """What GET /runcomfy/jobs (the sidebar tab) answers, on a real loopback server."""
    async def go():
        routes = web.RouteTableDef()
        panel_routes.register(routes, {}.get, rt)
        app = web.Application()
        app.add_routes(routes)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            resp = await client.get("/runcomfy/jobs", headers={"Sec-Fetch-Site": "same-origin"})
            assert resp.status == 200
            return await resp.text()
    return asyncio.run(go())


def places_with_the_token(rt, error, caplog) -> list[str]:
    """Where any 8 characters of the token are shown, stored or logged after ``error``."""
    journal = b"".join(p.read_bytes() for p in rt.host.user_dir().glob("journal.sqlite3*"))
    texts = {"error": "".join(traceback.format_exception(type(error), error, error.__traceback__)),
             "journal": journal.decode("utf-8", "replace"), "route": jobs_route_text(rt), "log": caplog.text}
    return [where for where, text in texts.items() if ECHO_TOKEN[:8] in text]


@pytest.mark.parametrize("form", ECHOES)
def test_a_refused_submit_that_repeats_the_token_leaks_it_nowhere(fast_rt, echo, form, caplog):
    echo.routes[("POST", "/v1/models/")] = echoing(form, 401, 401001)
    with pytest.raises(ApiError) as info:
        run_image_node(fast_rt)
    assert places_with_the_token(fast_rt, info.value, caplog) == []
    assert re.search(r"rejected the API token.*Invalid API key: .*\*\*\*", str(info.value))
    (entry,) = fast_rt.journal.recent()
    assert entry.status == "rejected" and "Invalid API key" in entry.error
    assert "Invalid API key" in jobs_route_text(fast_rt)


@pytest.mark.parametrize("form", ECHOES)
def test_a_failed_job_whose_error_repeats_the_token_leaks_it_nowhere(fast_rt, echo, form, caplog):
    echo.routes[("POST", "/v1/models/")] = lambda h: send(h, 200, {"request_id": "req-echo"})
    echo.routes[("GET", "/v1/requests/")] = echoing(form, 200, key="error")
    with pytest.raises(JobFailed) as info:
        run_image_node(fast_rt)
    assert places_with_the_token(fast_rt, info.value, caplog) == []
    assert re.search(r"job req-echo failed.*Invalid API key: .*\*\*\*", str(info.value))
    (entry,) = fast_rt.journal.recent()
    assert entry.status == "failed" and "Invalid API key" in entry.error
    assert "Invalid API key" in jobs_route_text(fast_rt)


@pytest.mark.parametrize("form", ECHOES)
def test_an_answer_that_is_not_json_and_repeats_the_token_is_quoted_without_it(fast_rt, echo, form):
    echo.routes[("GET", "/v1/requests/")] = lambda h: send(
        h, 502, f"<html>Bad gateway: {ECHOES[form](h.headers['Authorization'])}</html>".encode(),
        {"Content-Type": "text/html"})
    with pytest.raises(ApiError, match=r"HTTP 502: <html>Bad gateway: .*\*\*\*") as info:
        fast_rt.client().status("req-1")
    assert ECHO_TOKEN[:8] not in str(info.value)


@pytest.mark.parametrize("form", ECHOES)
def test_a_catalog_answer_that_repeats_the_token_is_logged_without_it(fast_rt, echo, form, caplog, tmp_path):
    echo.routes[("GET", "/v1/models/")] = echoing(form, 401, 401001)
    book = PriceBook(tmp_path / "prices.json")
    assert book.refresh(["acme/x"], fast_rt.client()) == 0
    assert "no price for acme/x" in caplog.text and "Invalid API key" in caplog.text
    assert ECHO_TOKEN[:8] not in caplog.text


@pytest.mark.parametrize("code,said", [(401001, "rejected the API token"), (400001, "does not know model")])
@pytest.mark.parametrize("form", ECHOES)
def test_catalog_add_prints_nothing_of_a_token_the_service_repeats(echo, form, code, said, capsys, tmp_path):
    echo.routes[("GET", "/v1/models/")] = echoing(form, 401 if code == 401001 else 400, code)
    assert catalog.main(["add", "acme/x", "--user-dir", str(tmp_path / "u")]) == 1
    out = capsys.readouterr()
    assert said in out.err and "Invalid API key" in out.err
    assert ECHO_TOKEN[:8] not in out.out + out.err


def test_catalog_add_reads_a_deeply_nested_schema_text_as_unusable_not_a_crash(api, capsys, tmp_path):
    deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    api.routes[("GET", "/v1/models/")] = lambda h: send(h, 200, {"model_id": "acme/x", "input_schema": deep})
    assert catalog.main(["add", "acme/x", "--user-dir", str(tmp_path / "u")]) == 1
    assert "has no 'input_schema' object" in capsys.readouterr().err
    assert not (tmp_path / "u" / "models").exists()


# -- a catalog that never ends ------------------------------------------------------------------
def catalog_pages(api, ids_on_page):
    """GET /v1/models answers ``ids_on_page(offset, limit)``; after 50 pages, nothing (so a
    lister that never stops still ends the test)."""
    def handler(h):
        asked = {k: v[0] for k, v in parse_qs(urlsplit(h.path).query).items()}
        pages = sum(1 for m, path in api.hits if path.startswith("/v1/models?"))
        ids = ids_on_page(int(asked.get("offset", 0)), int(asked["limit"])) if pages <= 50 else []
        send(h, 200, {"models": [{"model_id": i, "display_name": i.upper()} for i in ids]})
    api.routes[("GET", "/v1/models?")] = handler


def test_catalog_list_ends_when_the_catalog_ignores_the_offset(api, capsys):
    catalog_pages(api, lambda offset, limit: [f"acme/m{i}" for i in range(limit)])
    assert catalog.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "RunComfy's catalog kept sending the same page; listed 100 models." in out
    assert out.count("acme/m0 ") == 1 and "acme/m99 " in out
    assert len(api.hits) == 2                             # the first page, and its repeat


def test_catalog_list_ends_after_a_cap_of_pages_when_the_catalog_never_ends(api, capsys, monkeypatch):
    monkeypatch.setattr(catalog_work, "MAX_PAGES", 5)
    catalog_pages(api, lambda offset, limit: [f"acme/m{i}" for i in range(offset, offset + limit)])
    assert catalog.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "RunComfy's catalog was still sending models after 5 pages; listed the first 500." in out
    assert "acme/m499 " in out and len(api.hits) == 5


# -- files: compressed, trickling ------------------------------------------------------------

def test_a_compressed_file_is_refused_not_inflated(api, tmp_path):
    bomb = gzip.compress(b"\0" * 50_000_000)          # 50 MB inflated, ~50 KB sent
    api.routes[("GET", "/f")] = lambda h: send(h, 200, bomb, {"Content-Encoding": "gzip"})
    with pytest.raises(DownloadError, match="compressed \\(gzip\\).*refusing"):
        dl.download(api.url + "/f", tmp_path / "f.mp4", api_base=api.url)
    assert not list(tmp_path.iterdir())


def test_a_trickling_file_is_cut_and_the_status_keeps_moving(api, tmp_path, monkeypatch):
    monkeypatch.setattr(dl, "STALL_S", 1.0)
    monkeypatch.setattr(dl, "STALL_BYTES", 1000)
    monkeypatch.setattr(dl, "BACKOFF", (0.01, 0.01))

    sent = []                                          # bytes each attempt got before the cut

    def trickle(h):                                    # 1 byte every 0.3 s, "forever" (18 s)
        h.send_response(200)
        h.send_header("Content-Length", "100000")
        h.end_headers()
        n = 0
        try:
            for _ in range(60):
                h.wfile.write(b"x")
                h.wfile.flush()
                n += 1
                time.sleep(0.3)
        except OSError:
            pass
        sent.append(n)
    api.routes[("GET", "/slow")] = trickle
    calls = []
    started = time.monotonic()
    with pytest.raises(DownloadError, match="stalled"):
        dl.download(api.url + "/slow", tmp_path / "s.mp4", api_base=api.url, timeout=(2, 5),
                    progress=lambda a, b: calls.append(time.monotonic()))
    took = time.monotonic() - started
    deadline = time.monotonic() + 30
    while len(sent) < 3 and time.monotonic() < deadline:   # the server notices the last hang-up
        time.sleep(0.05)
    assert len(sent) == 3 and all(n < 60 for n in sent)    # every attempt cut, none waited it out
    assert len(calls) >= 3 and len(calls) >= took / 2      # progress about once a second throughout


def test_the_overall_download_deadline_ends_a_slow_but_steady_file(api, tmp_path, monkeypatch):
    monkeypatch.setattr(dl, "STALL_BYTES", 1)

    def steady(h):
        h.send_response(200)
        h.send_header("Content-Length", "10000000")
        h.end_headers()
        try:
            for _ in range(200):
                h.wfile.write(b"x" * 100)
                h.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass
    api.routes[("GET", "/steady")] = steady
    with pytest.raises(DownloadError, match="limit for a download"):
        dl.download(api.url + "/steady", tmp_path / "s.mp4", api_base=api.url, deadline=1.0)


# -- results too big to decode -----------------------------------------------------------------

def giant_png(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height (30000² would be 2.7 GB decoded)."""
    raw = png(1, 1)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    start = raw.index(b"IHDR") - 4
    raw = raw[:start] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + raw[start + 25:]
    path.write_bytes(raw)


def test_a_30000_square_image_result_is_refused_with_a_sentence(rt, tmp_path):
    path = tmp_path / "big.png"
    giant_png(path, 30000, 30000)
    with pytest.raises(ResultTooLarge, match="RUNCOMFY_MAX_IMAGE_MP"):
        load_images([path], rt.settings.max_image_pixels(), rt.settings.result_memory_budget())


def test_an_image_over_the_pixel_cap_names_its_size(rt, tmp_path, monkeypatch):
    monkeypatch.setenv("RUNCOMFY_MAX_IMAGE_MP", "1")
    path = tmp_path / "big.png"
    giant_png(path, 2000, 1000)
    with pytest.raises(ResultTooLarge, match="2000x1000 \\(2 MP\\), over the 1 MP"):
        load_images([path], rt.settings.max_image_pixels(), rt.settings.result_memory_budget())


def test_a_video_over_the_memory_budget_fails_before_decoding_and_says_what_fits(tmp_path):
    clip = write_mp4(tmp_path / "big.mp4", frames=10, fps=16, width=2000, height=2000)
    frame = 2000 * 2000 * 12
    with pytest.raises(ResultTooLarge, match="frame_cap to 2 or less, or every_nth_frame to 5"):
        decode_video(clip, budget=2 * frame + 10)
    out = decode_video(clip, frame_cap=2, budget=2 * frame + 10)
    assert out.frames.shape == (2, 2000, 2000, 3)


def test_the_default_budget_is_half_the_machine_and_can_be_set(rt, monkeypatch):
    from nodes.core.process import total_memory
    assert abs(rt.settings.result_memory_budget() - total_memory() // 2) < 2**20
    monkeypatch.setenv("RUNCOMFY_MAX_RESULT_GB", "1.5")
    assert rt.settings.result_memory_budget() == int(1.5 * 2**30)
