"""comfy/host.py is the only module touching ComfyUI; here a fake ComfyUI checks the calls it makes."""
import sys
import types
from pathlib import Path

import pytest

from nodes.app.plain_host import PlainHost
from nodes.comfy import host
from nodes.comfy.host import ComfyHost
from nodes.core.host import HostError


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
    h = ComfyHost()
    h.show_progress("7", 3, 10)
    h.show_status("7", "Running · 0:03", ["image: resized"])
    assert calls == [(3, 10, None, "7")]
    assert texts == [("Running · 0:03\nimage: resized", "7")]


@pytest.mark.parametrize("make", [ComfyHost, PlainHost])
def test_without_comfyui_status_goes_to_the_log(make, caplog, monkeypatch):
    for name in ("server", "comfy", "comfy.utils", "comfy.model_management"):
        monkeypatch.setitem(sys.modules, name, None)       # no ComfyUI, whatever is installed
    caplog.set_level("INFO", logger="runcomfy")
    h = make()
    h.show_status("7", "Queued (position 2)")
    h.show_progress("7", 1, 2)            # no ComfyUI: nothing to drive, no error
    assert "Queued (position 2)" in caplog.text
    assert h.interrupted() is False


def test_comfyui_user_folder_outside_comfyui_is_an_error_not_a_guess(monkeypatch):
    monkeypatch.setitem(sys.modules, "folder_paths", None)     # ComfyUI's module cannot be imported
    monkeypatch.delenv("RUNCOMFY_USER_DIR", raising=False)
    monkeypatch.delenv("RUNCOMFY_OUTPUT_DIR", raising=False)
    with pytest.raises(HostError, match="RUNCOMFY_USER_DIR"):
        ComfyHost().user_dir()
    with pytest.raises(HostError, match="RUNCOMFY_OUTPUT_DIR"):
        ComfyHost().output_dir()


def test_comfyui_folders_from_the_environment_win(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "folder_paths", None)
    monkeypatch.setenv("RUNCOMFY_USER_DIR", str(tmp_path / "u"))
    monkeypatch.setenv("RUNCOMFY_OUTPUT_DIR", str(tmp_path / "o"))
    assert ComfyHost().user_dir() == tmp_path / "u"
    assert ComfyHost().output_dir() == tmp_path / "o"


def test_comfyui_folders_come_from_folder_paths(monkeypatch, tmp_path):
    fp = types.ModuleType("folder_paths")
    fp.get_user_directory = lambda: str(tmp_path / "user")
    fp.get_output_directory = lambda: str(tmp_path / "output")
    monkeypatch.setitem(sys.modules, "folder_paths", fp)
    monkeypatch.delenv("RUNCOMFY_USER_DIR", raising=False)
    monkeypatch.delenv("RUNCOMFY_OUTPUT_DIR", raising=False)
    assert ComfyHost().user_dir() == tmp_path / "user" / "runcomfy"
    assert ComfyHost().output_dir() == tmp_path / "output"


def test_plain_host_folders(monkeypatch, tmp_path):
    assert PlainHost(user_dir=tmp_path / "a", output_dir=tmp_path / "b").user_dir() == tmp_path / "a"
    assert PlainHost(user_dir=tmp_path / "a", output_dir=tmp_path / "b").output_dir() == tmp_path / "b"
    monkeypatch.setenv("RUNCOMFY_USER_DIR", str(tmp_path / "u"))
    monkeypatch.setenv("RUNCOMFY_OUTPUT_DIR", str(tmp_path / "o"))
    assert PlainHost().user_dir() == tmp_path / "u"
    assert PlainHost().output_dir() == tmp_path / "o"
    monkeypatch.delenv("RUNCOMFY_USER_DIR")
    monkeypatch.delenv("RUNCOMFY_OUTPUT_DIR")
    assert isinstance(PlainHost().user_dir(), Path)       # a fallback folder, never an error
    assert isinstance(PlainHost().output_dir(), Path)


def test_routes_are_added_to_comfyuis_server(rt, monkeypatch):
    from aiohttp import web
    from nodes.comfy import token_route
    routes = web.RouteTableDef()
    server = types.ModuleType("server")
    server.PromptServer = types.SimpleNamespace(instance=types.SimpleNamespace(routes=routes))
    monkeypatch.setitem(sys.modules, "server", server)
    assert host.add_routes(lambda r: token_route.register(r, rt.settings)) is True
    assert {(r.method, r.path) for r in routes} >= {("GET", "/runcomfy/token"), ("POST", "/runcomfy/token")}


def test_routes_outside_comfyui_are_skipped(monkeypatch):
    monkeypatch.setitem(sys.modules, "server", None)
    assert host.add_routes(lambda routes: 1 / 0) is False
