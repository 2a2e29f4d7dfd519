"""The whole catalog as nodes, against the simulator: fetched in the background, kept as a
snapshot, every model a node without a restart, removed models kept, bad entries and bounds."""
import json
import logging

import pytest

from nodes.app.pipeline import run_model
from nodes.app.plain_host import PlainHost
from nodes.app.runtime import Runtime
from nodes.app.snapshot import SnapshotStore
from nodes.app.status import StatusReporter as Reporter
from nodes.app.sync import Bounds, RefreshFailed
from nodes.comfy import catalog_routes
from nodes.comfy.factory import default_values
from nodes.comfy.library import NodeLibrary
from nodes.comfy.registry import build_mappings
from nodes.core.errors import Billing, RunComfyError
from nodes.inputs.widgets import widget_names
from nodes.spec.model import node_id_for
from simulator import Simulator

from test_prices import SAME
from conftest import FAST

SHIPPED_NODE = "RunComfy_Wan22_ImageToVideo"


def library(rt) -> NodeLibrary:
    """The node library as ComfyUI's start builds it, kept in step with the catalog."""
    lib = NodeLibrary(rt, *build_mappings(rt, tools=True))
    lib.mappings()
    rt.catalog.subscribe(lib.on_change)
    return lib


def catalog_ids(sim) -> set:
    """Every model id the simulator's catalog lists."""
    import requests
    found, offset = set(), 0
    while True:
        page = requests.get(f"{sim.base_url}/v1/models", params={"limit": 100, "offset": offset},
                            headers={"Authorization": f"Bearer {sim.token}"}, timeout=10).json()
        found |= {m["model_id"] for m in page["models"] if isinstance(m, dict)}
        offset += len(page["models"])
        if offset >= page["total"] or not page["models"]:
            return found


def test_after_the_first_refresh_every_catalog_model_is_a_node_without_a_restart(rt, env):
    lib = library(rt)
    before = lib.mappings()[0]
    assert not lib.catalog                                   # a fresh user folder: no snapshot yet
    change = rt.catalog.refresh()
    assert len(env.listing_requests()) == 1                   # 16 models: one page
    ids = catalog_ids(env)
    shipped = {c.MODEL_ID for c in lib.fixed.values() if hasattr(c, "MODEL_ID")}
    assert set(change.added) == ids and len(ids) == 16
    for model_id in ids - shipped:                            # each one a node, added at run time
        cls = lib.get(node_id_for(model_id))
        assert cls is not None and cls.MODEL_ID == model_id
    assert set(lib.mappings()[0]) - set(before) == {node_id_for(m) for m in ids - shipped}


def test_restarted_offline_the_same_nodes_come_from_the_snapshot(rt, env, monkeypatch, clock):
    rt.catalog.refresh()
    online = set(library(rt).mappings()[0])
    calls = len(env.log)
    monkeypatch.delenv("RUNCOMFY_API_TOKEN")                  # offline: no token, no service
    again = Runtime(PlainHost(), clock=clock)
    assert set(library(again).mappings()[0]) == online
    assert again.catalog.refresh_in_background() is None and len(env.log) == calls


def test_a_model_added_to_the_catalog_appears_after_refresh_models(rt, env):
    lib = library(rt)
    rt.catalog.refresh()
    doc = json.loads(json.dumps(env.catalog.models["acme/text-to-video"]))
    doc["model_id"], doc["display_name"] = "newco/spark-1/text-to-video", "Newco Spark"
    env.add_model(doc)
    [(code, data, _)] = call(rt, ("POST", "/runcomfy/catalog/refresh", {"headers": SAME, "json": {}}))
    assert code == 202 and data["refreshing"]
    rt.catalog.refresh()                                      # (waits for the one the route started)
    cls = lib.get("RunComfy_newco_spark_1_text_to_video")
    assert cls is not None and cls.DISPLAY_NAME == "RunComfy Newco Spark"
    assert cls.CATEGORY == "RunComfy/Video/Newco" and "newco/spark-1/text-to-video" in cls.DESCRIPTION
    assert "newco/spark-1/text-to-video" in cls.SEARCH_ALIASES


def test_a_removed_model_keeps_its_node_under_unavailable_and_says_nothing_was_billed(rt, env):
    lib = library(rt)
    rt.catalog.refresh()
    node_id = node_id_for("acme/text-to-video")
    widgets = list(lib.get(node_id).INPUT_TYPES()["required"])
    env.remove_model("acme/text-to-video")
    change = rt.catalog.refresh()
    assert change.removed == ("acme/text-to-video",)
    cls = lib.get(node_id)
    assert cls.CATEGORY == "RunComfy/Unavailable" and cls.DISPLAY_NAME.endswith("(no longer in the catalog)")
    assert list(cls.INPUT_TYPES()["required"]) == widgets     # its workflows still open
    with pytest.raises(RunComfyError, match="no longer offers model acme/text-to-video") as info:
        import asyncio
        asyncio.run(cls().run(**{k: [v] for k, v in default_values(cls).items()}))
    assert info.value.billing is Billing.NOT_SENT and "not run" in str(info.value)
    assert env.calls("submit") == []


def test_a_schema_change_keeps_the_widget_names_workflows_were_saved_with(rt, env):
    library(rt)
    rt.catalog.refresh()
    old = widget_names(build_node(rt, "acme/text-to-video").SPEC)          # as a workflow saved them
    env.insert_property("acme/text-to-video", "style_strength",
                        {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5})
    change = rt.catalog.refresh()
    assert change.changed == ("acme/text-to-video",)
    kept = rt.catalog.snapshot().previous_widgets["acme/text-to-video"]
    assert kept == old and "seed:control_after_generate" in kept
    now = list(build_node(rt, "acme/text-to-video").INPUT_TYPES()["required"])
    assert "style_strength" in now and "style_strength" not in kept


def build_node(rt, model_id):
    return NodeLibrary(rt, {}, {}).mappings()[0][node_id_for(model_id)]


def test_a_catalog_node_runs_end_to_end_its_schema_read_on_first_use(rt, env):
    rt.catalog.refresh()
    cls = build_node(rt, "acme/text-to-video")
    values = {**default_values(cls), "prompt": "a lighthouse"}
    out = run_model(rt, cls.SPEC, values, Reporter())
    assert len(env.calls("submit")) == 1 and out["result"][1] > 0


# -- precedence, ids ------------------------------------------------------------------------------

def test_the_shipped_file_wins_over_the_catalog_and_a_users_file_over_both(rt, env, user_dirs):
    from nodes.app.catalog import add_model
    rt.catalog.refresh()
    lib = library(rt)
    shipped = lib.get(SHIPPED_NODE)
    assert shipped.SPEC.path.endswith("wan-2-2-image-to-video.json")     # not the catalog's copy
    add_model("acme/video-to-video", client=rt.client, models_dir=rt.models_dir())
    pinned = library(rt).get(node_id_for("acme/video-to-video"))
    assert pinned.SPEC.path.startswith(str(user_dirs / "user" / "models"))


def test_a_node_id_depends_on_the_model_id_alone(clock, monkeypatch, user_dirs):
    ids = []
    for size in (16, 400):
        with Simulator("test-token", catalog_size=size, clock=clock) as s:
            monkeypatch.setenv("RUNCOMFY_BASE_URL", s.base_url)
            monkeypatch.setenv("RUNCOMFY_API_TOKEN", s.token)
            monkeypatch.setenv("RUNCOMFY_USER_DIR", str(user_dirs / f"user-{size}"))
            rt = Runtime(PlainHost(), clock=clock)
            rt.catalog.refresh()
            classes = NodeLibrary(rt, {}, {}).mappings()[0]
            ids.append({c.MODEL_ID: n for n, c in classes.items()})
    small, large = ids
    assert len(large) == 400 and all(large[m] == n == node_id_for(m) for m, n in small.items())


# -- bad data and bounds --------------------------------------------------------------------------

def test_each_broken_entry_is_skipped_with_a_line_naming_it_and_the_rest_load(clock, user_dirs,
                                                                              monkeypatch, caplog):
    with Simulator("test-token", broken_entries=True, clock=clock) as s:
        monkeypatch.setenv("RUNCOMFY_BASE_URL", s.base_url)
        monkeypatch.setenv("RUNCOMFY_API_TOKEN", s.token)
        rt = Runtime(PlainHost(), clock=clock)
        with caplog.at_level(logging.WARNING, logger="runcomfy"):
            rt.catalog.refresh()
    snapshot = rt.catalog.snapshot()
    # every good one, and the $ref cycle: cut where it closes (spec/refs.py), a usable model
    assert len(snapshot.models) == 17 and "broken/ref-cycle" in snapshot.models
    lines = [r.getMessage() for r in caplog.records if "skipping catalog model" in r.getMessage()]
    assert len(lines) == 6
    for name, why in (("not-an-object", "not an object"), ("schema-not-object", "'input_schema'"),
                      ("escape/model", "cannot name a node"), ("my model #2", "cannot name a node"),
                      ("many-properties", "5,000 fields"), ("huge-description", "characters long")):
        assert any(name in line and why in line for line in lines), name


def test_a_refresh_that_fails_half_way_keeps_the_last_snapshot_whole(clock, user_dirs, monkeypatch):
    with Simulator("test-token", catalog_size=450, clock=clock) as s:
        monkeypatch.setenv("RUNCOMFY_BASE_URL", s.base_url)
        monkeypatch.setenv("RUNCOMFY_API_TOKEN", s.token)
        rt = Runtime(PlainHost(), clock=clock, policy=FAST)
        rt.catalog.refresh()
        path = rt.catalog.store.path
        kept = path.read_bytes()
        s.remove_model("acme/text-to-video")
        s.fault("500", "models", times=-1, min_offset=200)
        with pytest.raises(RefreshFailed, match="page 3 could not be read"):
            rt.catalog.refresh()
    assert path.read_bytes() == kept and "acme/text-to-video" in rt.catalog.snapshot().models
    assert "page 3" in rt.catalog.state()["error"]


@pytest.mark.parametrize("bound,why", [
    (Bounds(pages=2), "pages"), (Bounds(models=150), "models"),
])
def test_a_listing_cut_by_a_bound_adds_what_it_read_and_removes_nothing(clock, user_dirs, monkeypatch,
                                                                        bound, why):
    with Simulator("test-token", catalog_size=450, clock=clock) as s:
        monkeypatch.setenv("RUNCOMFY_BASE_URL", s.base_url)
        monkeypatch.setenv("RUNCOMFY_API_TOKEN", s.token)
        full = Runtime(PlainHost(), clock=clock)
        full.catalog.refresh()
        cut = Runtime(PlainHost(), clock=clock)
        cut.catalog.bounds = bound
        asked = len(s.listing_requests())
        change = cut.catalog.refresh()
        assert change.removed == () and len(cut.catalog.snapshot().models) == 450   # none removed
        assert len(s.listing_requests()) - asked <= bound.pages                      # one per page


def test_the_bytes_and_the_time_of_a_refresh_are_bounded(clock, user_dirs, monkeypatch):
    with Simulator("test-token", catalog_size=450, clock=clock) as s:
        monkeypatch.setenv("RUNCOMFY_BASE_URL", s.base_url)
        monkeypatch.setenv("RUNCOMFY_API_TOKEN", s.token)
        rt = Runtime(PlainHost(), clock=clock)
        rt.catalog.bounds = Bounds(total_bytes=200_000)
        with pytest.raises(RefreshFailed, match="larger than 0 MiB"):
            rt.catalog.refresh()
        rt.catalog.bounds = Bounds(seconds=0.0, page_size=50)
        s.fault("slow", "models", times=-1, delay=0.01)
        with pytest.raises(RefreshFailed, match="still not fetched"):
            rt.catalog.refresh()
    assert rt.catalog.snapshot().models == {}                 # neither wrote a snapshot


def test_a_damaged_snapshot_is_set_aside_and_replaced_by_the_next_refresh(rt, env, caplog):
    path = rt.catalog.store.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"version": 1, "models": [}')
    assert SnapshotStore(path).load().models == {}
    (kept,) = path.parent.glob("catalog.json.damaged-*")
    assert kept.read_text() == '{"version": 1, "models": [}'
    assert any("could not be read" in r.getMessage() for r in caplog.records)
    rt.catalog.refresh()
    assert len(SnapshotStore(path).load().models) == 16


# -- a shared workflow's model, and the tab's routes -------------------------------------------------

def test_a_model_this_snapshot_lacks_is_fetched_for_a_shared_workflow(rt, env):
    lib = library(rt)
    rt.catalog.refresh()
    doc = json.loads(json.dumps(env.catalog.models["acme/text-to-video"]))
    doc["model_id"] = "colleague/newer-1/text-to-video"
    env.add_model(doc)                                        # in the catalog, not in our snapshot
    [(code, data, _)] = call(rt, ("POST", "/runcomfy/catalog/resolve", {
        "headers": SAME, "json": {"model_ids": ["colleague/newer-1/text-to-video", "gone/never/here"]}}))
    assert code == 200 and data == {"found": ["colleague/newer-1/text-to-video"], "missing": ["gone/never/here"]}
    assert lib.get("RunComfy_colleague_newer_1_text_to_video") is not None


def test_the_catalog_routes_say_what_the_tab_shows(rt, env, monkeypatch):
    rt.catalog.refresh()
    [(code, data, _)] = call(rt, ("GET", "/runcomfy/catalog", {"headers": SAME}))
    assert code == 200 and data["models"] == 16 and data["fetched_at"] and data["token"]
    monkeypatch.delenv("RUNCOMFY_API_TOKEN")
    [(code, data, _)] = call(rt, ("POST", "/runcomfy/catalog/refresh", {"headers": SAME, "json": {}}))
    assert code == 409 and "token" in data["error"]


def call(rt, *steps):
    import asyncio
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    async def go():
        routes = web.RouteTableDef()
        catalog_routes.register(routes, rt)
        app = web.Application()
        app.add_routes(routes)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            out = []
            for method, path, kw in steps:
                resp = await client.request(method, path, **kw)
                text = await resp.text()
                out.append((resp.status, json.loads(text), text))
            return out
    return asyncio.run(go())


def test_the_page_learns_the_widget_names_a_changed_model_had(rt, env):
    rt.catalog.refresh()
    before = widget_names(build_node(rt, "acme/text-to-video").SPEC)
    env.insert_property("acme/text-to-video", "style_strength", {"type": "number", "default": 0.5})
    rt.catalog.refresh()
    [(code, data, _)] = call(rt, ("GET", "/runcomfy/catalog/previous", {"headers": SAME}))
    assert code == 200 and data["previous"] == {"RunComfy_acme_text_to_video": before}


def test_inside_comfyui_changed_and_removed_models_get_their_rebuilt_classes(rt, env, monkeypatch):
    """ComfyUI's node mappings hold every class the pack registered: those ids are the
    catalog's own, not taken by another pack (else a change or a removal never reaches it)."""
    from nodes.comfy import library as library_module
    comfy_mappings = {"KSampler": object}                       # ComfyUI's, as it runs
    monkeypatch.setattr(library_module, "existing_node_ids", lambda: set(comfy_mappings))
    monkeypatch.setattr(library_module, "register_nodes",
                        lambda classes, names, like: comfy_mappings.update(classes) or True)
    lib = library(rt)
    comfy_mappings.update(lib.mappings()[0])                    # loaded at start
    rt.catalog.refresh()
    assert node_id_for("acme/text-to-video") in comfy_mappings
    env.insert_property("acme/text-to-video", "style_strength",
                        {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5})
    env.remove_model("acme/inpaint")
    rt.catalog.refresh()
    changed = comfy_mappings[node_id_for("acme/text-to-video")]
    assert "style_strength" in changed.INPUT_TYPES()["required"]
    assert comfy_mappings[node_id_for("acme/inpaint")].CATEGORY == "RunComfy/Unavailable"
