"""A safe token: the /runcomfy/token route (set, show last 4, clear; only from the ComfyUI
page itself) and, end to end with the simulator, the token never leaking into widgets,
workflows, outputs, status lines, logs, errors, the journal or saved PNG metadata."""
import asyncio
import io
import json
import logging
import os
import stat
import traceback

import pytest
import torch
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from PIL.PngImagePlugin import PngInfo

import nodes.remote.download
from nodes.app.pipeline import run_model
from nodes.app.status import StatusReporter as Reporter
from nodes.comfy import host
from nodes.comfy.factory import default_values
from nodes.inputs.widgets import widget_names
from nodes.comfy.registry import build_mappings
from nodes.comfy.token_route import PATH, register
from nodes.core.errors import ApiError, DownloadError, JobFailed

TOKEN = "rc-Tok3n-Q7xZ9mK2vL8pW4nB"        # distinctive, so any leak is found
OTHER = "rc-0ther-J5hG1fD6sA3kE9rT"
SELF = object()                            # stands for "the server's own origin"


# -- the route ----------------------------------------------------------------------------
def page(rt, *steps):
    """Run requests against the route on a real loopback server; [(status, json, text)]."""
    async def go():
        routes = web.RouteTableDef()
        register(routes, rt.settings)
        register(routes, rt.settings)      # twice is a no-op
        assert len(routes) == 3
        app = web.Application()
        app.add_routes(routes)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            own = str(client.make_url("/")).rstrip("/")
            out = []
            for method, kw in steps:
                kw = dict(kw)
                headers = {k: (own if v is SELF else v) for k, v in kw.pop("headers", {}).items()}
                resp = await client.request(method, PATH, headers=headers, **kw)
                text = await resp.text()
                out.append((resp.status, json.loads(text) if "json" in resp.content_type else None, text))
                assert resp.headers.get("Cache-Control") == "no-store"
            return out
    return asyncio.run(go())


SAME = {"Origin": SELF, "Sec-Fetch-Site": "same-origin"}


def post(token, headers=SAME, **kw):
    return ("POST", {"json": {"token": token}, "headers": dict(headers), **kw})


def saved(rt) -> dict:
    path = rt.settings.config_path
    return json.loads(path.read_text()) if path.exists() else {}


def test_get_with_nothing_set(rt):
    [(code, data, _)] = page(rt, ("GET", {}))
    assert code == 200
    assert (data["set"], data["last4"], data["source"]) == (False, "", "none")


def test_post_stores_owner_only_and_answers_show_only_the_last_4(rt, caplog):
    caplog.set_level(logging.DEBUG)
    steps = page(rt, post(TOKEN), ("GET", {}), ("GET", {"headers": SAME}))
    for code, data, _ in steps:
        assert code == 200
        assert (data["set"], data["last4"], data["source"]) == (True, TOKEN[-4:], "config")
    path = rt.settings.config_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert saved(rt)["api_token"] == TOKEN
    assert rt.settings.token_source() == (TOKEN, "config")
    for _, _, text in steps:
        assert TOKEN not in text and TOKEN[:-4] not in text
    assert "saved" in caplog.text and TOKEN not in caplog.text


def test_delete_and_empty_post_clear(rt):
    steps = page(rt, post(TOKEN), ("DELETE", {"headers": SAME}))
    assert steps[1][0] == 200 and steps[1][1]["set"] is False and steps[1][1]["source"] == "none"
    assert "api_token" not in saved(rt) and TOKEN not in rt.settings.config_path.read_text()
    steps = page(rt, post(TOKEN), post(""))
    assert steps[1][1]["set"] is False and "api_token" not in saved(rt)


def test_environment_wins_and_is_reported(rt, monkeypatch):
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", OTHER)
    (_, before, _), (code, after, text) = page(rt, ("GET", {}), post(TOKEN))
    assert (before["set"], before["last4"], before["source"]) == (True, OTHER[-4:], "environment")
    assert code == 200 and after["source"] == "environment" and after["last4"] == OTHER[-4:]
    assert after["saved"] is True and "RUNCOMFY_API_TOKEN" in after["message"]
    assert saved(rt)["api_token"] == TOKEN                   # written anyway, for later
    assert rt.settings.api_token() == OTHER
    assert TOKEN not in text and OTHER not in text


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"Origin": "null"},
    {"Origin": "http://127.0.0.1:1"},                        # another local port
    {"Origin": "https://127.0.0.1"},
    {"Sec-Fetch-Site": "same-site"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Origin": SELF, "Sec-Fetch-Site": "cross-site"},
], ids=["evil", "evil-cross-site", "null", "other-port", "other-scheme", "same-site", "cross-site",
        "fetch-site-wins"])
def test_other_origins_are_refused_and_nothing_is_written(rt, headers):
    steps = page(rt, post(TOKEN, headers), ("DELETE", {"headers": headers}), ("GET", {"headers": headers}))
    assert [s[0] for s in steps] == [403, 403, 403]
    assert not rt.settings.config_path.exists()
    assert "ComfyUI page" in steps[0][1]["error"]


def test_a_reverse_proxy_origin_is_accepted_only_with_its_forwarded_headers(rt):
    proxied = {"Origin": "https://comfy.example.com", "X-Forwarded-Host": "comfy.example.com",
               "X-Forwarded-Proto": "https"}
    [(bare, _, _)] = page(rt, post(TOKEN, {"Origin": "https://comfy.example.com"}))
    assert bare == 403 and not rt.settings.config_path.exists()
    [(code, data, _)] = page(rt, post(TOKEN, proxied))
    assert code == 200 and data["last4"] == TOKEN[-4:]


@pytest.mark.parametrize("content_type,body", [
    ("application/x-www-form-urlencoded", f"token={TOKEN}"),
    ("multipart/form-data; boundary=b", f'--b\r\nContent-Disposition: form-data; name="token"\r\n\r\n{TOKEN}\r\n--b--\r\n'),
    ("text/plain", json.dumps({"token": TOKEN})),          # the enctype=text/plain JSON trick
], ids=["urlencoded", "multipart", "text-plain"])
def test_form_posts_are_refused_and_nothing_is_written(rt, content_type, body):
    for headers in ({"Content-Type": content_type}, {"Content-Type": content_type, **SAME}):
        [(code, data, text)] = page(rt, ("POST", {"data": body, "headers": headers}))
        assert code in (403, 415) and "JSON" in data["error"] and TOKEN not in text
    assert not rt.settings.config_path.exists()


@pytest.mark.parametrize("payload", [
    {"token": "rc-with space-abcdef"}, {"token": TOKEN + "\n"}, {"token": "\trc-abcdefgh"},
    {"token": "rc-\x00ctrl-abcdef"}, {"token": "rc-\u00e9\u00e8-abcdefgh"}, {"token": "x" * 5000},
    {"token": "q7Zk"}, {"token": 12345678}, {"token": ["a"]}, {"key": TOKEN}, ["token"],
], ids=["space", "newline", "tab", "nul", "non-ascii", "huge", "short", "number", "list",
        "no-key", "not-object"])
def test_bad_tokens_are_refused_without_being_echoed(rt, payload):
    [(code, data, text)] = page(rt, ("POST", {"json": payload, "headers": SAME}))
    assert code == 400 and data["error"]
    token = payload.get("token") if isinstance(payload, dict) else None
    if isinstance(token, str) and len(token.strip()) >= 4:
        assert token.strip() not in text
    assert not rt.settings.config_path.exists()


def test_broken_json_and_oversized_bodies_are_refused(rt):
    (bad, _, _), (big, _, _) = page(
        rt,
        ("POST", {"data": b"{not json", "headers": {"Content-Type": "application/json"}}),
        ("POST", {"data": b'{"token": "' + b"a" * 40000 + b'"}', "headers": {"Content-Type": "application/json"}}))
    assert (bad, big) == (400, 413)
    assert not rt.settings.config_path.exists()


# -- end to end: the token never leaks --------------------------------------------------------
HAVE_DECODE = (host.__file__ and os.path.exists(os.path.join(os.path.dirname(host.__file__), "decode.py")))
NODE, IMAGE_INPUT = (("RunComfy_Wan22_ImageToVideo", "image") if HAVE_DECODE
                     else ("RunComfy_Wan26_ImageToImage", "image_1"))


@pytest.fixture
def live(rt, sim, monkeypatch, caplog):
    """The simulator with a distinctive token, set the way a user does: via the route."""
    sim.token = TOKEN
    sim.queue_s, sim.run_s = 0.1, 0.2
    monkeypatch.setenv("RUNCOMFY_BASE_URL", sim.base_url)
    monkeypatch.setattr(nodes.remote.download, "BACKOFF", (0.01, 0.01))
    [(code, _, _)] = page(rt, post(TOKEN))
    assert code == 200 and rt.settings.api_token() == TOKEN
    caplog.set_level(logging.DEBUG)
    for name in ("runcomfy", "urllib3", "requests", "aiohttp", "PIL"):
        caplog.set_level(logging.DEBUG, logger=name)
    return sim


def fresh_values(cls, prompt: str) -> dict:
    values = default_values(cls)
    values["prompt"] = prompt
    return values


def saved_forms(cls, values: dict) -> tuple[dict, dict]:
    """What ComfyUI saves: the UI workflow (widget values by position) and the API prompt."""
    widgets = [("fixed" if n.endswith(":control_after_generate") else values[n])
               for n in widget_names(cls.SPEC)]
    workflow = {"last_node_id": 2, "last_link_id": 1, "version": 0.4, "links": [[1, 2, 0, 1, 0, "IMAGE"]],
                "nodes": [{"id": 2, "type": "LoadImage", "widgets_values": ["in.png", "image"]},
                          {"id": 1, "type": NODE, "inputs": [{"name": IMAGE_INPUT, "type": "IMAGE", "link": 1}],
                           "widgets_values": widgets}]}
    prompt = {"2": {"class_type": "LoadImage", "inputs": {"image": "in.png"}},
              "1": {"class_type": NODE, "inputs": {**values, IMAGE_INPUT: ["2", 0]}}}
    return workflow, prompt


def run(rt, prompt: str):
    cls = build_mappings(rt)[0][NODE]
    values = fresh_values(cls, prompt)
    reporter = Reporter()
    try:
        out = run_model(rt, cls.SPEC, {**values, IMAGE_INPUT: torch.rand(1, 400, 400, 3)}, reporter)
        return cls, values, reporter, out, None
    except Exception as e:  # noqa: BLE001 — the failure paths are checked by the caller
        return cls, values, reporter, None, e


def error_text(e: BaseException) -> str:
    return "".join(traceback.format_exception(type(e), e, e.__traceback__)) + repr(e)


def journal_bytes(rt) -> bytes:
    folder = rt.host.user_dir()
    return b"".join(p.read_bytes() for p in folder.glob("journal.sqlite3*"))


def test_token_never_leaks_on_a_successful_run(rt, live, caplog, tmp_path):
    live.fault("redirect", "file")                 # the result comes from the other host
    cls, values, reporter, out, err = run(rt, "x")
    assert err is None, error_text(err)

    # widgets and every node's inputs: defaults, tooltips, choices
    mapping = build_mappings(rt)[0]
    for node_cls in mapping.values():
        assert TOKEN not in json.dumps(node_cls.INPUT_TYPES(), default=str)
        assert TOKEN not in json.dumps(fresh_values(node_cls, "x"), default=str)
    # the saved workflow, the API prompt and the PNG carrying them (as SaveImage writes it)
    workflow, prompt = saved_forms(cls, values)
    for form in (workflow, prompt):
        assert TOKEN not in json.dumps(form)
    frames = out["result"][0]
    assert frames.ndim == 4 and frames.shape[-1] == 3
    meta = PngInfo()
    meta.add_text("prompt", json.dumps(prompt))
    meta.add_text("workflow", json.dumps(workflow))
    img = Image.fromarray((frames[0].clamp(0, 1) * 255).to(torch.uint8).numpy())
    png = tmp_path / "saved.png"
    img.save(png, pnginfo=meta, compress_level=4)
    data = png.read_bytes()
    assert json.dumps(workflow).encode() in data and TOKEN.encode() not in data
    assert Image.open(io.BytesIO(data)).text["prompt"] == json.dumps(prompt)
    # outputs, preview, status lines, journal, result files
    rid = out["result"][-1]
    texts = [str(v) for v in out["result"] if not isinstance(v, torch.Tensor)]
    assert rid in texts and out["ui"]["images"]
    assert TOKEN not in " ".join(texts) and TOKEN not in json.dumps(out["ui"], default=str)
    lines = "\n".join(t for _, t in reporter.lines)
    assert "done" in reporter.stages and TOKEN not in lines
    jb = journal_bytes(rt)
    assert rid.encode() in jb and TOKEN.encode() not in jb
    results = [p for p in rt.host.output_dir().rglob("*") if p.is_file()]
    assert results and all(TOKEN.encode() not in p.read_bytes() for p in results)
    # the logs, at DEBUG, including urllib3's connection lines
    assert "127.0.0.1" in caplog.text and TOKEN not in caplog.text
    for r in caplog.records:
        assert TOKEN not in r.getMessage() and TOKEN not in repr(r.args)
    # Authorization: to the API host, never to the host the download was redirected to
    assert [e["auth"] for e in live.calls("submit")] == [f"Bearer {TOKEN}"]
    assert [b["prompt"] for b in live.submitted_bodies(cls.SPEC.model_id)] == ["x"]
    second = live.calls(role="second")
    assert second and all(e["auth"] is None for e in second)


def test_token_never_leaks_from_failures(rt, live, caplog, monkeypatch):
    errors = []
    # a wrong stored token: the service refuses it
    rt.settings.set_token(OTHER)
    *_, err = run(rt, "x wrong token")
    assert isinstance(err, ApiError) and "rejected the API token" in str(err)
    errors.append(err)
    assert [e["auth"] for e in live.calls("submit")] == [f"Bearer {OTHER}"]
    rt.settings.set_token(TOKEN)
    # a job that fails on the service
    *_, reporter, _, err = run(rt, "x [sim:fail]")
    assert isinstance(err, JobFailed)
    errors.append(err)
    # a result download cut short every time
    live.fault("truncate", "file", times=-1)
    *_, err = run(rt, "x truncated")
    assert isinstance(err, DownloadError)
    errors.append(err)

    for e in errors:
        text = error_text(e)
        assert TOKEN not in text and OTHER not in text
    lines = "\n".join(t for _, t in reporter.lines)
    assert lines and TOKEN not in lines
    jb = journal_bytes(rt)
    assert b"failed" in jb and TOKEN.encode() not in jb and OTHER.encode() not in jb
    assert "127.0.0.1" in caplog.text
    assert TOKEN not in caplog.text and OTHER not in caplog.text
