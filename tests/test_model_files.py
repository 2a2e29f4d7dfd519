"""Model files from users' folders: a bad one never harms the pack, names never clash.

The pack is imported the way ComfyUI imports it (a hyphenated module name), in a child
process whose ``server`` and ``nodes``/``folder_paths`` modules are minimal stand-ins for
ComfyUI's own (ComfyUI is not installable here): enough to see the token route being
added and the node ids ComfyUI already has.
"""
import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nodes.comfy.factory import default_values, make_node_class
from nodes.inputs.widgets import widget_names
from nodes.spec.kinds import MEDIA_KIND
from nodes.inputs.rules import read_limits
from nodes.comfy.registry import build_mappings, load_specs
from nodes.spec.models import PACK_MODELS
from nodes.spec.model import SchemaError
from nodes.spec.schema import parse_model

ROOT = Path(__file__).resolve().parents[1]

GOOD = {"model_id": "acme/fine", "display_name": "Acme Fine", "output": "image",
        "input_schema": {"type": "object", "properties": {"prompt": {"type": "string"}}}}
BAD_FILES = {
    "five.json": 5,
    "null.json": None,
    "schema-list.json": {"model_id": "a", "input_schema": [1]},
    "empty-enum.json": {"model_id": "acme/e", "input_schema": {"properties": {
        "style": {"type": "string", "enum": []}}}},
    "title-number.json": {"model_id": "acme/t", "input_schema": {"properties": {
        "prompt": {"type": "string", "title": 5}}}},
    "node-id-number.json": {**GOOD, "model_id": "acme/n", "node_id": 7},
    "minimum-text.json": {"model_id": "acme/m", "input_schema": {"properties": {
        "steps": {"type": "integer", "minimum": "abc"}}}},
    "core-node-id.json": {**GOOD, "model_id": "acme/k", "node_id": "KSampler"},
    "taken-node-id.json": {**GOOD, "model_id": "acme/taken", "node_id": "RunComfy_TakenElsewhere"},
    "not-json.json": "{not json",
}

IMPORT_LIKE_COMFYUI = textwrap.dedent("""
    import importlib.util, json, logging, sys, types
    from aiohttp import web
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    server = types.ModuleType("server")               # stand-in for ComfyUI's PromptServer
    server.PromptServer = type("PromptServer", (), {{"instance": type("I", (), {{"routes": web.RouteTableDef()}})()}})
    sys.modules["server"] = server
    folder_paths = types.ModuleType("folder_paths")    # stand-in: ComfyUI is "present"
    folder_paths.get_user_directory = lambda: {user!r}
    folder_paths.get_output_directory = lambda: {user!r}
    sys.modules["folder_paths"] = folder_paths
    core = types.ModuleType("nodes")                   # stand-in for ComfyUI's nodes.py
    core.NODE_CLASS_MAPPINGS = {{"KSampler": object, "RunComfy_TakenElsewhere": object}}
    sys.modules["nodes"] = core
    spec = importlib.util.spec_from_file_location("pack-x", {init!r}, submodule_search_locations=[{root!r}])
    m = importlib.util.module_from_spec(spec); sys.modules["pack-x"] = m
    spec.loader.exec_module(m)
    routes = [r.path for r in server.PromptServer.instance.routes]
    print(json.dumps({{"nodes": sorted(m.NODE_CLASS_MAPPINGS), "routes": routes}}))
""")


def test_bad_model_files_are_skipped_one_log_line_each_and_harm_nothing(tmp_path):
    user = tmp_path / "comfy-user"
    models = user / "runcomfy" / "models"
    models.mkdir(parents=True)
    for name, doc in BAD_FILES.items():
        (models / name).write_text(doc if isinstance(doc, str) else json.dumps(doc))
    (models / "fine.json").write_text(json.dumps(GOOD))
    code = IMPORT_LIKE_COMFYUI.format(user=str(user), init=str(ROOT / "__init__.py"), root=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert "/runcomfy/token" in seen["routes"]
    assert "RunComfy_acme_fine" in seen["nodes"] and "RunComfy_LoadResult" in seen["nodes"]
    assert len([n for n in seen["nodes"] if n.startswith("RunComfy_Wan")]) == 5
    assert "KSampler" not in seen["nodes"] and "RunComfy_TakenElsewhere" not in seen["nodes"]
    log = [line for line in done.stderr.splitlines() if "skipping model file" in line]
    for name in BAD_FILES:
        assert len([line for line in log if name in line]) == 1, (name, log)
    assert len(log) == len(BAD_FILES)
    assert any("already belongs to ComfyUI" in line for line in log if "taken-node-id" in line)
    assert any("'minimum' must be a number" in line for line in log if "minimum-text" in line)


@pytest.mark.parametrize("name", sorted(n for n, d in BAD_FILES.items()
                                        if not isinstance(d, str) and n != "taken-node-id.json"))
def test_each_bad_schema_is_refused_by_the_parser_itself(name):
    with pytest.raises(SchemaError):
        parse_model(BAD_FILES[name], name)


def test_catalog_quirks_are_not_refused():
    """What the real catalog has must load: numeric strings, float type, null default."""
    spec = parse_model({"model_id": "acme/q", "input_schema": {
        "required": ["prompt", "not_a_property"], "properties": {
            "prompt": {"type": "string", "default": None},
            "guidance": {"type": "float", "minimum": "1", "maximum": "20.5", "default": "7.5"},
            "count": {"type": "string", "enum": ["auto", "4", "5"], "default": "auto"}}}})
    by_key = {f.key: f for f in spec.fields}
    assert by_key["guidance"].minimum == 1 and by_key["guidance"].maximum == 20.5
    assert list(by_key["count"].choices) == ["auto", "4", "5"] and by_key["count"].default == "auto"


def test_quirks_with_one_sensible_reading_load_and_say_what_was_done():
    """A real model must not become unusable over a default written as text or bounds that
    contradict each other: each is read the one way it can work, and the add report says so."""
    spec = parse_model({"model_id": "acme/lenient", "input_schema": {"properties": {
        "loop": {"type": "boolean", "default": "true"},
        "steps": {"type": "integer", "default": 2.5, "minimum": 0, "maximum": 10},
        "odd": {"type": "integer", "minimum": 10, "maximum": 1},
        "shift": {"type": "number", "minimum": "-inf", "maximum": "Infinity"},
        "strength": {"type": "double", "default": 9, "maximum": 1},
        "frames": {"type": "integer", "default": "auto"},
        "mode": {"const": "fast"},
        "hint": {"type": "string", "description": {"en": "a hint"}},
        "image_url": {"type": "string", "format": "image_uri",
                      "validations": ["aspect must be square", {"validation_rule": "height/width<=",
                                                                  "validation_value": 2}]}}}})
    by = {f.key: f for f in spec.fields}
    assert by["loop"].default is True and "read as True" in by["loop"].notes[0]
    assert by["steps"].default == 2 and any("rounded" in n for n in by["steps"].notes)
    assert (by["odd"].minimum, by["odd"].maximum) == (None, None) and "ignored" in by["odd"].notes[0]
    assert (by["shift"].minimum, by["shift"].maximum) == (None, None)
    assert by["strength"].kind == "float" and any("nearest allowed" in n for n in by["strength"].notes)
    assert by["frames"].default is None and any("not a number" in n for n in by["frames"].notes)
    assert by["mode"].default == "fast" and '"en"' in by["hint"].description
    limits = read_limits(by["image_url"].validations, MEDIA_KIND["image"].rules)
    assert limits.lo == {"aspect": 0.5}                           # height/width <= 2
    assert limits.unchecked == [("aspect must be square", "")]   # listed, never counted as checked
    node = make_node_class(spec, None)
    json.dumps(node.INPUT_TYPES())
    assert default_values(node)["strength"] == 1.0


CLASHING = {"model_id": "acme/clash", "display_name": "Clash", "output": "video",
            "input_schema": {"type": "object", "required": ["prompt"], "properties": {
                "prompt": {"type": "string"},
                "start_frame": {"type": "integer", "default": 7, "minimum": 0, "maximum": 99},
                "fit_image_to_limits": {"type": "boolean", "default": False},
                "every_nth_frame": {"type": "string", "default": "model's own"},
                "frame_cap": {"type": "integer", "default": 3},
                "unique_id": {"type": "string", "default": "mine"},
                "self": {"type": "string", "default": "me"},
                "image_1": {"type": "string", "default": "a text field called image_1"},
                "image_urls": {"type": "array", "items": {"type": "string", "format": "image_uri"},
                               "maxItems": 2, "minItems": 0}}}}


def test_schema_fields_never_take_the_packs_or_hidden_names(rt, user_dirs):
    spec = parse_model(CLASHING)
    names = {f.key: f.name for f in spec.fields}
    for key in ("start_frame", "fit_image_to_limits", "every_nth_frame", "frame_cap", "unique_id", "self"):
        assert names[key] != key, key
    assert names["image_1"] == "image_1"
    image_list = next(f for f in spec.fields if f.key == "image_urls")
    assert "image_1" not in image_list.socket_names()       # sockets moved out of the way
    folder = user_dirs / "user" / "models"
    folder.mkdir(parents=True)
    (folder / "clash.json").write_text(json.dumps(CLASHING))
    cls = build_mappings(rt)[0]["RunComfy_acme_clash"]
    order = widget_names(cls.SPEC)
    assert order[-3:] == ["start_frame", "every_nth_frame", "frame_cap"]   # the pack's keep theirs
    assert len(order) == len(set(order))


def test_a_clashing_field_is_still_sent_under_its_wire_key(rt, sim, monkeypatch, user_dirs):
    monkeypatch.setenv("RUNCOMFY_BASE_URL", sim.base_url)
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", sim.token)
    schema = CLASHING["input_schema"]
    sim.catalog.models["acme/clash"] = {**CLASHING, "input_schema": schema}
    folder = user_dirs / "user" / "models"
    folder.mkdir(parents=True)
    (folder / "clash.json").write_text(json.dumps(CLASHING))
    cls = build_mappings(rt)[0]["RunComfy_acme_clash"]
    values = {**default_values(cls), "prompt": "hello", "unique_id": "42"}   # ComfyUI's hidden id
    out = asyncio.run(cls().run(**values))
    (body,) = sim.submitted_bodies("acme/clash")
    assert body["start_frame"] == 7 and body["fit_image_to_limits"] is False
    assert body["every_nth_frame"] == "model's own" and body["frame_cap"] == 3
    assert body["unique_id"] == "mine" and body["self"] == "me"
    assert out["result"][2][0] > 0                            # frames decoded (outputs are lists)


def test_the_seed_models_load_with_no_warning(caplog):
    assert len(load_specs([PACK_MODELS])) == 5
    assert not [r for r in caplog.records if "skipping" in r.getMessage()]


def test_media_fields_are_found_by_format_first_then_key_then_title():
    spec = parse_model({"model_id": "acme/shapes", "input_schema": {"properties": {
        "image": {"type": "array", "format": "image_uris", "maxItems": 10},       # no items
        "refs": {"type": "array", "items": {"type": "string", "format": "video_uri"}},
        "image_urls": {"type": "array", "items": {"type": "string", "format": "uri"}},
        "clip": {"type": "string", "title": "Input Video"},                       # by title
        "voice": {"anyOf": [{"type": "string", "format": "audio_uri"}, {"type": "null"}],
                  "title": "Voice", "default": None},                              # a union
        "mask_url": {"type": "string", "format": "mask_uri"},                     # a mask
        "depth_url": {"type": "string", "format": "depth_uri"},                   # not ours
        "style": {"type": "string", "title": "Video", "enum": ["a", "b"]},        # a choice
        "count": {"type": ["integer", "null"], "minimum": 1, "maximum": 4},        # nullable
        "tags": {"type": "array", "items": {"type": "string"}},
        "first_frame_image": {"type": "string"},                                  # by key suffix
        "reference_audio_url": {"type": "string", "format": "uri"},
        "use_image": {"type": "boolean"}}}})
    by_key = {f.key: f for f in spec.fields}
    assert (by_key["image"].media, by_key["image"].kind, by_key["image"].max_items) == ("image", "media_list", 10)
    assert (by_key["refs"].media, by_key["refs"].kind) == ("video", "media_list")
    assert (by_key["image_urls"].media, by_key["image_urls"].kind) == ("image", "media_list")
    assert (by_key["clip"].media, by_key["clip"].kind) == ("video", "media")
    assert (by_key["voice"].media, by_key["voice"].kind, by_key["voice"].name) == ("audio", "media", "voice")
    assert (by_key["mask_url"].media, by_key["mask_url"].kind) == ("mask", "media")
    assert by_key["depth_url"].media == "" and by_key["depth_url"].kind == "string"
    assert by_key["style"].kind == "combo" and by_key["count"].kind == "int"
    assert by_key["tags"].kind == "json"
    assert (by_key["first_frame_image"].media, by_key["reference_audio_url"].media) == ("image", "audio")
    assert by_key["use_image"].kind == "bool"


@pytest.mark.parametrize("key, prop, found", [
    ("last_frame_url", {"type": "string"}, ("image", False)),
    ("mask_url", {"type": "string", "format": "uri"}, ("mask", False)),
    ("mask_image", {"type": "string"}, ("mask", False)),               # not the image kind's "_image"
    ("reference_image_urls", {"type": "array", "items": {"type": "string"}}, ("image", True)),
    ("driving_videos", {"type": "array"}, ("video", True)),
    ("voice_url", {"type": "string"}, ("audio", False)),
    ("audio_file", {"type": "string", "format": "uri"}, ("audio", False)),
    ("num_images", {"type": "array", "items": {"type": "string"}}, None),   # a count's name
    ("voice", {"type": "string"}, None),                                    # a voice's name
    ("image_size", {"type": "string"}, None),
    ("last_frame_url", {"type": "integer"}, None),
])
def test_key_fallback_names_the_catalog_uses_and_names_it_must_leave_alone(key, prop, found):
    from nodes.spec.kinds import recognise
    got = recognise(key, prop)
    assert (got and (got[0].name, got[1])) == (found or None)


def test_generated_schemas_with_refs_and_allof_read_as_their_real_shape():
    """Pydantic/OpenAPI style: an enum behind allOf+$ref is a combo, a list of LoRA objects
    behind $ref is still checked item by item, a cycle or a dangling ref does not hang."""
    from nodes.core.errors import InputError
    from nodes.inputs.request import build_request
    schema = {"$defs": {"Size": {"type": "string", "enum": ["square", "landscape_4_3"]},
                        "Lora": {"type": "object", "required": ["path"],
                                 "properties": {"path": {"type": "string"}, "scale": {"type": "number"}}},
                        "Loop": {"$ref": "#/$defs/Loop"}},
              "required": "prompt",                                         # a string, not a list
              "properties": {"prompt": {"type": "string"},
                             "image_size": {"allOf": [{"$ref": "#/$defs/Size"}], "default": "landscape_4_3"},
                             "loras": {"type": "array", "items": {"$ref": "#/$defs/Lora"}},
                             "loop": {"$ref": "#/$defs/Loop"},
                             "dangling": {"$ref": "#/$defs/Nope", "type": "string"},
                             "anything": True}}
    doc = {"model_id": "acme/refs", "input_schema": schema}
    spec = parse_model(doc)
    by = {f.key: f for f in spec.fields}
    assert (by["image_size"].kind, list(by["image_size"].choices), by["image_size"].default) == \
        ("combo", ["square", "landscape_4_3"], "landscape_4_3")
    assert by["prompt"].required and "anything" not in by and any("'anything'" in n for n in spec.notes)
    assert doc["input_schema"] is schema and "$ref" in schema["properties"]["loras"]["items"]  # kept verbatim
    with pytest.raises(InputError, match="loras"):
        build_request(spec, {"prompt": "x", "image_size": "square", "loras": '[{"scale": 1}]'})
    body = build_request(spec, {"prompt": "x", "image_size": "square", "loras": '[{"path": "a"}]'})
    assert body["loras"] == [{"path": "a"}] and body["image_size"] == "square"


@pytest.mark.parametrize("prop, found", [
    ({"type": "string", "format": "image"}, ("image", False)),
    ({"type": "array", "format": "video"}, ("video", True)),
    ({"type": "string", "format": "uri", "contentMediaType": "audio/mpeg"}, ("audio", False)),
    ({"type": "array", "items": {"type": "string", "contentMediaType": "image/*"}}, ("image", True)),
    ({"type": "string", "contentMediaType": "application/json"}, None),
])
def test_bare_kind_formats_and_content_media_types_name_the_kind(prop, found):
    from nodes.spec.kinds import recognise
    got = recognise("source", prop)
    assert (got and (got[0].name, got[1])) == (found or None)


def test_an_optional_choice_without_a_usable_default_sends_nothing_until_chosen():
    """Sending the first choice would override the model's own default (an aspect ratio left
    unset often means "as the input image"): such a combo starts at '(not set)', added last."""
    from nodes.inputs.request import build_request
    from nodes.spec.model import NOT_SET
    spec = parse_model({"model_id": "acme/choices", "input_schema": {"required": ["mode"], "properties": {
        "aspect_ratio": {"type": "string", "enum": ["16:9", "9:16", None], "default": None},
        "style": {"type": "string", "enum": ["a", "b"], "default": "c"},
        "steps": {"type": "string", "enum": ["5", "10"], "default": 10},      # matched as text
        "mode": {"type": "string", "enum": ["fast", "slow"]}}}})               # required: a choice
    by = {f.key: f for f in spec.fields}
    assert list(by["aspect_ratio"].choices) == ["16:9", "9:16", NOT_SET] and by["aspect_ratio"].default == NOT_SET
    assert by["style"].choices[-1] == NOT_SET and any("not a choice" in n for n in by["style"].notes)
    assert (by["steps"].default, by["mode"].default, list(by["mode"].choices)) == ("10", "fast", ["fast", "slow"])
    node = make_node_class(spec, None)
    assert node.INPUT_TYPES()["required"]["aspect_ratio"][1]["default"] == NOT_SET
    assert build_request(spec, default_values(node)) == {"steps": "10", "mode": "fast"}
    assert build_request(spec, {**default_values(node), "aspect_ratio": "9:16"})["aspect_ratio"] == "9:16"


def test_the_catalogs_shapes_a_seed_of_minus_one_a_wide_decimal_and_a_list_of_sixteen():
    from nodes.inputs.widgets import input_types
    spec = parse_model({"model_id": "acme/shapes", "input_schema": {"properties": {
        "seed": {"type": "integer", "default": -1, "description": "-1 for random"},
        "noise_seed": {"type": "integer", "minimum": -1, "maximum": 99999},
        "length": {"type": "number", "minimum": 0, "maximum": 600, "default": 12.5},
        "refs": {"type": "array", "items": {"type": "string", "format": "image_uri"}, "maxItems": 16},
        "masks": {"type": "array", "items": {"type": "string", "format": "image_uri"}, "maxItems": 3}}}})
    types = input_types(spec)
    seed, noise = types["required"]["seed"][1], types["required"]["noise_seed"][1]
    assert (seed["min"], seed["default"]) == (-1, -1) and noise["min"] == -1
    length = types["required"]["length"][1]
    assert length["step"] < 1 and length["round"] < 1 and length["default"] == 12.5   # 12.5 stays
    sockets = list(types["optional"])
    assert sockets == [f"refs_{i}" for i in range(1, 7)] + ["masks_1", "masks_2", "masks_3"] + \
        [f"refs_{i}" for i in range(7, 17)]         # past 6: after every field's first sockets


def test_tooltips_are_bounded_and_a_lists_rules_are_said_once():
    """/object_info (read on every page load) holds every tooltip of the catalog's 1,500 nodes."""
    from nodes.inputs.widgets import TIP_TEXT, input_types
    long = "Describe the scene in detail, " * 200
    spec = parse_model({"model_id": "acme/long", "input_schema": {"required": ["prompt"], "properties": {
        "prompt": {"type": "string", "description": long},
        "refs": {"type": "array", "description": "Pictures to follow. " * 30,
                 "items": {"type": "string", "format": "image_uri"}, "maxItems": 16}}}})
    types = input_types(spec)
    tip = types["required"]["prompt"][1]["tooltip"]
    assert len(tip) < TIP_TEXT + 80 and "… " in tip               # cut at a word, marked
    assert tip.endswith("Sent to RunComfy as 'prompt' (required).")   # the facts stay whole
    first, later = types["optional"]["refs_1"][1]["tooltip"], types["optional"]["refs_9"][1]["tooltip"]
    assert first.startswith("Pictures to follow.") and "Pictures" not in later
    assert "Item 9 of up to 16" in later and "see 'refs_1'" in later


def test_the_cycle_collector_is_held_only_while_the_nodes_are_built():
    import gc
    from nodes.core.process import collector_paused
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()                                 # a host that keeps it off keeps it off
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
