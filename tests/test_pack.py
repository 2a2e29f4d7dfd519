"""The pack as ComfyUI sees it: five nodes generated from schemas, exact request bodies,
clear errors before paying, and a sixth model added by dropping a file."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from nodes.core.errors import InputError
from nodes.comfy.factory import default_values, make_node_class
from nodes.inputs.widgets import widget_names
from nodes.app.plain_host import PlainHost
from nodes.app.runtime import Runtime
from nodes.comfy.registry import build_mappings, load_specs
from nodes.spec.models import PACK_MODELS
from nodes.inputs.request import build_request
from nodes.spec.schema import parse_model
from simulator.validate import check_body

ROOT = Path(__file__).resolve().parents[1]
URL = "https://example.com/input.png"
SEEDS = {
    "RunComfy_Wan21_ImageToVideo": "wan-ai/wan-2-1/image-to-video",
    "RunComfy_Wan21_FusionX_ImageToVideo": "community/wan-2-1/fusionx/image-to-video",
    "RunComfy_Wan22_ImageToVideo": "wan-ai/wan-2-2/image-to-video",
    "RunComfy_Wan26_ImageToImage": "wan-ai/wan-2-6/image-to-image",
    "RunComfy_Wan22_VaceFun": "community/wan-2-2/vace-fun",
}


def import_like_comfyui(folder: Path, name: str):
    """What ComfyUI's loader does: import the folder's __init__.py under the folder's name."""
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_comfyui_style_import_under_a_hyphenated_name_finds_the_five_nodes():
    pack = import_like_comfyui(ROOT, "comfyui-runcomfy-model-api")
    assert set(SEEDS) | {"RunComfy_Model", "RunComfy_LoadResult"} == set(pack.NODE_CLASS_MAPPINGS)
    assert pack.WEB_DIRECTORY == "./web"
    for node_id, cls in pack.NODE_CLASS_MAPPINGS.items():
        assert node_id.startswith("RunComfy_")
        assert cls.CATEGORY == "RunComfy" or cls.CATEGORY.startswith("RunComfy/")
        assert pack.NODE_DISPLAY_NAME_MAPPINGS[node_id].startswith("RunComfy ")
    for node_id, model_id in SEEDS.items():
        assert model_id in pack.NODE_CLASS_MAPPINGS[node_id].DESCRIPTION


def classes():
    mapping, _ = build_mappings(Runtime(PlainHost()), [PACK_MODELS])
    return mapping


defaults = default_values


# -- every schema field, with type, range, default and choices --------------------------------
def test_wan21_fields():
    req = classes()["RunComfy_Wan21_ImageToVideo"].INPUT_TYPES()["required"]
    assert req["prompt"] == ("STRING", req["prompt"][1]) and req["prompt"][1]["multiline"]
    assert req["number_of_frames"][0] == "INT"
    assert (req["number_of_frames"][1]["min"], req["number_of_frames"][1]["max"],
            req["number_of_frames"][1]["default"]) == (81, 100, 81)
    assert (req["frame_rate"][1]["min"], req["frame_rate"][1]["max"], req["frame_rate"][1]["default"]) == (5, 24, 16)
    assert req["seed"][0] == "INT" and req["seed"][1]["control_after_generate"] == "fixed"
    assert (req["seed"][1]["min"], req["seed"][1]["max"]) == (0, 2147483647)
    assert req["resolution"][0] == ["480p", "720p"] and req["resolution"][1]["default"] == "720p"
    assert req["magic_prompt"] == ("BOOLEAN", req["magic_prompt"][1]) and req["magic_prompt"][1]["default"] is True
    assert "image_url" in req
    assert classes()["RunComfy_Wan21_ImageToVideo"].INPUT_TYPES()["optional"]["image"][0] == "IMAGE"


def test_fusionx_fields():
    req = classes()["RunComfy_Wan21_FusionX_ImageToVideo"].INPUT_TYPES()["required"]
    assert req["resolution"][0][0] == "480x480 (1:1)" and len(req["resolution"][0]) == 10
    assert req["resolution"][1]["default"] == "720x480 (3:2)"
    assert req["number_of_frames"][0] == ["81", "141"]
    assert req["seed"][1]["default"] == 96860978
    assert (req["steps"][1]["min"], req["steps"][1]["max"], req["steps"][1]["default"]) == (6, 20, 10)
    cfg = req["guidance_scale"]
    assert cfg[0] == "FLOAT" and (cfg[1]["min"], cfg[1]["max"], cfg[1]["default"]) == (0.6, 2.0, 1.0)
    assert cfg[1]["step"] == 0.01
    shift = req["shift"]
    assert shift[0] == "FLOAT" and (shift[1]["min"], shift[1]["max"]) == (1.0, 15.0) and shift[1]["step"] == 0.05
    assert "denoising iterations" in req["steps"][1]["tooltip"]


def test_wan22_fields_and_validation_tooltip():
    t = classes()["RunComfy_Wan22_ImageToVideo"].INPUT_TYPES()
    req = t["required"]
    assert req["prompt"][1]["multiline"] and "800" in req["prompt"][1]["tooltip"]
    assert "500" in req["negative_prompt"][1]["tooltip"]
    assert req["resolution"][0] == ["480P", "1080P"] and req["duration"][0] == ["5"]
    tip = t["optional"]["image"][1]["tooltip"]
    assert "must not exceed 2000 pixels" in tip and "at least 360 pixels" in tip
    assert "less than 10 MB" in tip and "image wins" in tip


def test_wan26_has_three_image_sockets_and_chinese_titles_fall_back_to_keys():
    t = classes()["RunComfy_Wan26_ImageToImage"].INPUT_TYPES()
    assert list(t["optional"]) == ["image_1", "image_2", "image_3"]
    assert t["required"]["image_urls"][1]["multiline"]
    assert t["required"]["image_size"][0][0] == "1024*1024 (1:1)"
    assert t["required"]["negative_prompt"][1]["default"].startswith("low resolution")
    assert classes()["RunComfy_Wan26_ImageToImage"].RETURN_TYPES == ("IMAGE", "STRING", "STRING")


def test_vace_fun_untyped_prompt_is_a_multiline_string():
    req = classes()["RunComfy_Wan22_VaceFun"].INPUT_TYPES()["required"]
    assert req["prompt"][0] == "STRING" and req["prompt"][1]["multiline"]
    assert req["prompt"][1]["default"].startswith("A dramatic, wide-angle")
    assert (req["guidance_scale"][1]["min"], req["guidance_scale"][1]["max"]) == (0.0, 10.0)
    assert req["resolution"][1]["default"] == "1024x576 (16:9)"


# -- default widget values build exactly the expected bodies ----------------------------------
EXPECTED = {
    "RunComfy_Wan21_ImageToVideo": {
        "prompt": "a calm lake", "image_url": URL, "num_frames": 81, "frames_per_second": 16,
        "seed": 0, "resolution": "720p", "enable_prompt_expansion": True},
    "RunComfy_Wan21_FusionX_ImageToVideo": {
        "608_image": URL, "600_prompt": "a calm lake", "602_widthx602_height": "720x480 (3:2)",
        "602_num_frames": 81, "609_frame_rate": 16, "598_seed": 96860978, "598_steps": 10,
        "598_cfg": 1.0, "598_shift": 5.0},
    "RunComfy_Wan22_ImageToVideo": {
        "prompt": "a calm lake", "img_url": URL, "resolution": "480P", "duration": 5,
        "prompt_extend": True, "seed": 0},
    "RunComfy_Wan26_ImageToImage": {
        "prompt": "a calm lake", "image_urls": [URL],
        "negative_prompt": "low resolution, error, worst quality, low quality, deformed, extra fingers",
        "image_size": "1024*1024 (1:1)", "seed": 0, "prompt_extend": True},
    "RunComfy_Wan22_VaceFun": {
        "56_text": "a calm lake", "118_image": URL, "4_valuex3_value": "1024x576 (16:9)",
        "25_value": 81, "38_value": 16, "98_seed": 96860978, "47_value": 12, "108_cfg": 3.5,
        "41_value": 8.0},
}


@pytest.mark.parametrize("node_id", sorted(EXPECTED))
def test_default_values_build_the_exact_body(node_id):
    cls = classes()[node_id]
    spec = cls.SPEC
    values = defaults(cls)
    values["prompt"] = "a calm lake"
    image = spec.image_fields[0]
    body = build_request(spec, values, {image.key: [URL] if image.kind == "media_list" else URL})
    assert body == EXPECTED[node_id]
    assert list(body) == list(EXPECTED[node_id])     # schema order, too
    for key, value in body.items():                  # int stays int, float stays float
        assert type(value) is type(EXPECTED[node_id][key]), key
    catalog_schema = json.loads((PACK_MODELS / Path(spec.path).name).read_text())["input_schema"]
    assert check_body(catalog_schema, body) == []    # the simulator's own check agrees


# -- bad values are refused before anything is sent ---------------------------------------------
def wan22():
    cls = classes()["RunComfy_Wan22_ImageToVideo"]
    values = defaults(cls)
    values["prompt"] = "ok"
    return cls.SPEC, values


def test_too_long_prompt_names_widget_and_limit():
    spec, values = wan22()
    values["prompt"] = "x" * 801
    with pytest.raises(InputError, match=r"widget 'prompt' is 801 characters long; the model allows at most 800"):
        build_request(spec, values, {"img_url": URL})


def test_wrong_choice_lists_the_allowed_ones():
    spec, values = wan22()
    values["resolution"] = "720P"
    with pytest.raises(InputError, match=r"'resolution' is '720P'.*'480P', '1080P'"):
        build_request(spec, values, {"img_url": URL})


def test_out_of_range_names_the_range():
    cls = classes()["RunComfy_Wan21_FusionX_ImageToVideo"]
    values = defaults(cls)
    values["guidance_scale"] = 2.5
    with pytest.raises(InputError, match=r"'guidance_scale' is 2.5, outside the allowed range 0.6 to 2"):
        build_request(cls.SPEC, values, {"608_image": URL})


def test_missing_image_says_how_to_give_one():
    spec, values = wan22()
    with pytest.raises(InputError, match=r"input 'image' is required: connect an IMAGE.*'image_url'"):
        build_request(spec, values, {})


def test_empty_required_prompt_and_too_many_images():
    spec, values = wan22()
    values["prompt"] = "  "
    with pytest.raises(InputError, match="'prompt' is required"):
        build_request(spec, values, {"img_url": URL})
    cls = classes()["RunComfy_Wan26_ImageToImage"]
    with pytest.raises(InputError, match="at most 3 images; got 4"):
        build_request(cls.SPEC, defaults(cls), {"image_urls": [URL] * 4})
    with pytest.raises(InputError, match="needs at least 1 image"):
        build_request(cls.SPEC, defaults(cls), {})


# -- widget order is pinned: saved workflows store widget values by position ------------------
WIDGET_ORDER = {
    "RunComfy_Wan21_ImageToVideo": [
        "prompt", "image_url", "number_of_frames", "frame_rate", "seed", "seed:control_after_generate",
        "resolution", "magic_prompt", "fit_image_to_limits", "start_frame", "every_nth_frame", "frame_cap"],
    "RunComfy_Wan21_FusionX_ImageToVideo": [
        "image_url", "prompt", "resolution", "number_of_frames", "frames_per_second", "seed",
        "seed:control_after_generate", "steps", "guidance_scale", "shift", "fit_image_to_limits",
        "start_frame", "every_nth_frame", "frame_cap"],
    "RunComfy_Wan22_ImageToVideo": [
        "prompt", "negative_prompt", "image_url", "template", "resolution", "duration", "magic_prompt",
        "seed", "seed:control_after_generate", "fit_image_to_limits", "start_frame", "every_nth_frame",
        "frame_cap"],
    "RunComfy_Wan26_ImageToImage": [
        "prompt", "image_urls", "negative_prompt", "image_size", "seed", "seed:control_after_generate",
        "prompt_extend", "fit_image_to_limits"],
    "RunComfy_Wan22_VaceFun": [
        "prompt", "image_url", "resolution", "number_of_frames", "frames_per_second", "seed",
        "seed:control_after_generate", "steps", "guidance_scale", "shift", "fit_image_to_limits",
        "start_frame", "every_nth_frame", "frame_cap"],
}


@pytest.mark.parametrize("node_id", sorted(WIDGET_ORDER))
def test_widget_order_is_pinned(node_id):
    assert widget_names(classes()[node_id].SPEC) == WIDGET_ORDER[node_id]


# -- a sixth model is a file, not code ----------------------------------------------------------
SIXTH = {
    "model_id": "acme/tiny/text-to-video",
    "display_name": "Acme Tiny",
    "category": "Acme",
    "output": "video",
    "input_schema": {
        "type": "object", "required": ["prompt"],
        "properties": {
            "prompt": {"title": "Prompt", "type": "string", "maxLength": 100},
            "style": {"title": "Style", "type": "string", "enum": ["ink", "oil"], "default": "oil"},
            "strength": {"title": "Strength", "type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
            "camera": {"title": "Camera", "type": "object", "description": "pan and zoom"},
        },
    },
}


def test_a_dropped_in_model_file_becomes_a_node(rt, user_dirs):
    folder = user_dirs / "user" / "models"
    folder.mkdir(parents=True)
    (folder / "acme-tiny.json").write_text(json.dumps(SIXTH))
    mapping, names = build_mappings(rt)
    cls = mapping["RunComfy_acme_tiny_text_to_video"]
    assert names["RunComfy_acme_tiny_text_to_video"] == "RunComfy Acme Tiny"
    assert cls.CATEGORY == "RunComfy/Video/Acme"                    # what it makes, who makes it
    req = cls.INPUT_TYPES()["required"]
    assert req["style"][0] == ["ink", "oil"] and req["strength"][0] == "FLOAT"
    assert "give the value as JSON text" in req["camera"][1]["tooltip"]
    body = build_request(cls.SPEC, {**defaults(cls), "prompt": "hi", "camera": '{"pan": 1}'})
    assert body == {"prompt": "hi", "style": "oil", "strength": 0.5, "camera": {"pan": 1}}
    with pytest.raises(InputError, match="'camera' must be JSON text"):
        build_request(cls.SPEC, {**defaults(cls), "prompt": "hi", "camera": "{pan"})
    assert len(mapping) == 6


def test_a_broken_model_file_is_skipped_not_fatal(user_dirs):
    folder = user_dirs / "user" / "models"
    folder.mkdir(parents=True)
    (folder / "broken.json").write_text("{not json")
    (folder / "noprops.json").write_text(json.dumps({"model_id": "a/b", "input_schema": {}}))
    assert len(load_specs([PACK_MODELS, folder])) == 5


def test_widget_names_are_unique_even_when_titles_clash():
    doc = {"model_id": "x/y", "input_schema": {"properties": {
        "a": {"title": "Seed", "type": "integer"}, "b": {"title": "Seed", "type": "integer"}}}}
    spec = parse_model(doc)
    assert [f.name for f in spec.fields] == ["seed", "seed_2"]
    assert make_node_class(spec, None).INPUT_TYPES()["required"]["seed_2"][1]["control_after_generate"]


def test_loading_the_pack_leaves_the_heavy_parts_for_the_first_run():
    """ComfyUI imports every pack at start-up: decoding and image encoding load on first use."""
    import subprocess
    code = ("import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('pack-x', {str(ROOT / '__init__.py')!r}, "
            f"submodule_search_locations=[{str(ROOT)!r}])\n"
            "m = importlib.util.module_from_spec(spec); sys.modules['pack-x'] = m\n"
            "spec.loader.exec_module(m)\n"
            "print(sorted(k for k in sys.modules if k.startswith('pack-x.nodes.')))\n"
            "print('heavy libraries:', [m for m in ('torch', 'av', 'PIL') if m in sys.modules])\n")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout
    assert "pack-x.nodes.comfy.registry" in loaded
    assert "heavy libraries: []" in loaded
    for heavy in ("app.pipeline", "results.decode", "inputs.images", "results.images",
                  "inputs.video", "results.audio", "codec.sound", "inputs.fingerprint"):
        assert f"pack-x.nodes.{heavy}'" not in loaded, heavy


def test_nodes_keep_every_widget_socket_and_output_they_had_before_media_kinds():
    """tests/fixtures/nodes_before_media_kinds.json: every node as pack 0.1 defined it (names,
    types, defaults, ranges, order).  Widgets and sockets stay exactly; widgets, sockets,
    outputs and combo choices may only grow at the end."""
    before = json.loads((Path(__file__).parent / "fixtures" / "nodes_before_media_kinds.json").read_text())
    now = build_mappings(Runtime(PlainHost()), tools=True)[0]
    for node_id, old in before.items():
        cls = now[node_id]
        spec = cls.INPUT_TYPES()

        def shape(entry):
            typ, opts = entry[0], (entry[1] if len(entry) > 1 else {})
            d = {"type": typ if isinstance(typ, str) else "COMBO"}
            if isinstance(typ, list):
                d["choices"] = typ
            d.update({k: opts[k] for k in ("default", "min", "max", "multiline", "control_after_generate")
                      if k in opts})
            return d
        required = [[n, shape(s)] for n, s in spec["required"].items()]
        assert [n for n, _ in required][:len(old["required"])] == [n for n, _ in old["required"]], node_id
        for (name, new), (_, was) in zip(required, old["required"]):
            if "choices" in was:                        # choices may grow at the end only
                assert new.pop("choices")[:len(was["choices"])] == was["choices"], (node_id, name)
                was = {k: v for k, v in was.items() if k != "choices"}
            assert new == was, (node_id, name)
        optional = [[n, shape(s)] for n, s in spec.get("optional", {}).items()]
        assert optional[:len(old["optional"])] == old["optional"], node_id
        assert list(cls.RETURN_NAMES[:len(old["return_names"])]) == old["return_names"], node_id
        assert list(cls.RETURN_TYPES[:len(old["return_types"])]) == old["return_types"], node_id
