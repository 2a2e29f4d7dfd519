"""host.py is the only module touching ComfyUI; here a fake ComfyUI checks the calls it makes."""
import sys
import types

from nodes.comfy import host


def test_progress_goes_to_the_node_not_to_the_prompt(monkeypatch):
    calls = []
    comfy = types.ModuleType("comfy")
    utils = types.ModuleType("comfy.utils")
    utils.PROGRESS_BAR_HOOK = lambda value, total, preview, prompt_id=None, node_id=None: \
        calls.append((value, total, prompt_id, node_id))
    comfy.utils = utils
    server = types.ModuleType("server")
    texts = []
    server.PromptServer = types.SimpleNamespace(instance=types.SimpleNamespace(
        send_progress_text=lambda text, node_id: texts.append((text, node_id))))
    monkeypatch.setitem(sys.modules, "comfy", comfy)
    monkeypatch.setitem(sys.modules, "comfy.utils", utils)
    monkeypatch.setitem(sys.modules, "server", server)
    host.show_progress("7", 3, 10)
    host.show_status("7", "Running · 0:03", ["image: resized"])
    assert calls == [(3, 10, None, "7")]
    assert texts == [("Running · 0:03\nimage: resized", "7")]


def test_without_comfyui_status_goes_to_the_log(caplog):
    caplog.set_level("INFO", logger="runcomfy")
    host.show_status("7", "Queued (position 2)")
    host.show_progress("7", 1, 2)            # no ComfyUI: nothing to drive, no error
    assert "Queued (position 2)" in caplog.text
    assert host.interrupted() is False


def test_routes_are_added_to_comfyuis_server(monkeypatch):
    from aiohttp import web
    from nodes.comfy import token_route
    routes = web.RouteTableDef()
    server = types.ModuleType("server")
    server.PromptServer = types.SimpleNamespace(instance=types.SimpleNamespace(routes=routes))
    monkeypatch.setitem(sys.modules, "server", server)
    assert host.add_routes(token_route.register) is True
    assert {(r.method, r.path) for r in routes} >= {("GET", "/runcomfy/token"), ("POST", "/runcomfy/token")}


def test_routes_outside_comfyui_are_skipped(monkeypatch):
    monkeypatch.setitem(sys.modules, "server", None)
    assert host.add_routes(lambda routes: 1 / 0) is False
