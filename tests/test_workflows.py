"""Saved workflows keep loading: the shipped examples and frozen v1 copies of them.

ComfyUI's frontend stores a node's widget values by position (``widgets_values``), so a
widget inserted, removed or reordered in nodes/comfy/factory.py silently shifts every value of
every workflow users already saved.  tests/fixtures/workflows/ holds the example workflows
exactly as first shipped ("v1"); they are never edited (their content is pinned below), so
such a change fails here.  example_workflows/ is what ComfyUI serves in its Templates
dialog (/api/workflow_templates); it must load too, and must carry no secrets.

Each check returns a list of problems; the self-tests at the end feed broken copies to the
checks to show that each one can fail.
"""
import copy
import hashlib
import json
import re
from pathlib import Path

import pytest

from nodes.inputs.widgets import widget_names
from nodes.app.plain_host import PlainHost
from nodes.app.runtime import Runtime
from nodes.comfy.registry import build_mappings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "example_workflows"
FIXTURES = ROOT / "tests" / "fixtures" / "workflows"

# file stem -> the RunComfy node it demonstrates (the same five in both folders)
WORKFLOWS = {
    "wan21_image_to_video": "RunComfy_Wan21_ImageToVideo",
    "wan21_fusionx_image_to_video": "RunComfy_Wan21_FusionX_ImageToVideo",
    "wan22_image_to_video": "RunComfy_Wan22_ImageToVideo",
    "wan22_vace_fun": "RunComfy_Wan22_VaceFun",
    "wan26_image_to_image": "RunComfy_Wan26_ImageToImage",
}

# Canonical-JSON sha256 of each v1 fixture.  Never update these: add a new fixture instead.
FROZEN_V1 = {
    "wan21_fusionx_image_to_video": "c5ac0234d976cf875e50e6c8640ae92e59092e4e20525f4fe4f8adb82f74e992",
    "wan21_image_to_video": "9f75801a6bc8c1b8cdf2744492ebeee85c7e410b537e573ef0922c75951ad40e",
    "wan22_image_to_video": "5de3b498184f0c965fb9017f44c803d31f5ba0fb38d9383b034302709c40e57c",
    "wan22_vace_fun": "09289c21beae93b2358fab1deb27897d0300de1871806234c23190ff977264e1",
    "wan26_image_to_image": "1a9872a8caa8b6fb559049678fef38cd9279aab5feb66eaff037550b3c297298",
}

CONTROL_VALUES = ("fixed", "increment", "decrement", "randomize")

# Core node types the workflows may use, checked against ComfyUI (upstream, August 2026):
#   LoadImage, SaveImage, PreviewImage: nodes.py.  LoadImage's only input is the `image` combo
#     with image_upload=True, for which the frontend adds an "upload" widget, so it saves
#     [filename, "image"]; outputs IMAGE, MASK.  SaveImage: `images` IMAGE + `filename_prefix`;
#     RETURN_TYPES ("IMAGE",) named "images".  PreviewImage(SaveImage): `images` only, same output.
#   SaveVideo: comfy_extras/nodes_video.py (V3 schema).  `video` VIDEO, `filename_prefix`, and the
#     `format` DynamicCombo whose options each nest a `codec` DynamicCombo: the frontend saves
#     [filename_prefix, format, codec], e.g. ["video/ComfyUI", "auto", "auto"]; one output
#     `video` VIDEO (the input, unchanged).
CORE = {
    "LoadImage": {"widgets": ["image", "upload"], "inputs": {},
                  "outputs": [("IMAGE", "IMAGE"), ("MASK", "MASK")]},
    "SaveImage": {"widgets": ["filename_prefix"], "inputs": {"images": "IMAGE"},
                  "outputs": [("images", "IMAGE")]},
    "PreviewImage": {"widgets": [], "inputs": {"images": "IMAGE"},
                     "outputs": [("images", "IMAGE")]},
    "SaveVideo": {"widgets": ["filename_prefix", "format", "codec"], "inputs": {"video": "VIDEO"},
                  "outputs": [("video", "VIDEO")]},
    #   PrimitiveStringMultiline: comfy_extras/nodes_primitive.py, one multiline `value`, output
    #     STRING.  CreateList: comfy_extras/nodes_toolkit.py (V3, is_input_list), an Autogrow of
    #     `inputs.input0` … `inputs.input9` whose type follows what is connected (here STRING);
    #     one output `list`, a list of that type.
    "PrimitiveStringMultiline": {"widgets": ["value"], "inputs": {}, "outputs": [("STRING", "STRING")]},
    "CreateList": {"widgets": [], "inputs": {f"inputs.input{i}": "STRING" for i in range(10)},
                   "outputs": [("list", "STRING")]},
}
LIST_WORKFLOWS = {"wan22_prompt_list": "RunComfy_Wan22_ImageToVideo"}   # a list of prompts, one image
SAVEVIDEO_FORMATS = ("auto", "mp4", "mkv", "webm")      # nodes_video.py SaveVideo `format` options
SAVEVIDEO_CODECS = ("auto", "h264", "av1")              # _save_video_codec_input(...) options


def paths(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json"))


ALL = [pytest.param(p, id=f"{p.parent.name}/{p.name}") for p in paths(EXAMPLES) + paths(FIXTURES)]


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def classes() -> dict:
    return build_mappings(Runtime(PlainHost()))[0]


def ui_name(widget: str) -> str:
    """The frontend's name for a widget (a seed's control widget is 'control_after_generate')."""
    return "control_after_generate" if widget.endswith(":control_after_generate") else widget


def fits(shape: tuple, value) -> str | None:
    """Why `value` does not fit the widget of this INPUT_TYPES entry (None when it fits)."""
    typ, opts = shape[0], (shape[1] if len(shape) > 1 else {})
    if isinstance(typ, list):
        return None if value in typ else f"{value!r} is not one of {typ}"
    if typ in ("INT", "FLOAT"):
        ok = int if typ == "INT" else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok):
            return f"{value!r} is not {typ}"
        if value < opts.get("min", value) or value > opts.get("max", value):
            return f"{value!r} is outside {opts.get('min')}..{opts.get('max')}"
        return None
    if typ == "BOOLEAN":
        return None if isinstance(value, bool) else f"{value!r} is not a bool"
    if typ == "STRING":
        return None if isinstance(value, str) else f"{value!r} is not a string"
    return f"widget of unexpected type {typ!r}"


# -- the checks ------------------------------------------------------------------------------
def check_runcomfy_widgets(node: dict, cls) -> list[str]:
    names = widget_names(cls.SPEC)
    required = cls.INPUT_TYPES()["required"]
    values = node.get("widgets_values")
    where = f"node {node['id']} ({node['type']})"
    if not isinstance(values, list) or len(values) != len(names):
        return [f"{where}: {len(values or [])} widget values, the node has {len(names)} widgets"]
    problems = []
    for name, value in zip(names, values):
        if name.endswith(":control_after_generate"):
            why = None if value in CONTROL_VALUES else f"{value!r} is not one of {CONTROL_VALUES}"
        else:
            why = fits(required[name], value)
        if why:
            problems.append(f"{where}: widget '{name}': {why}")
    named = node.get("widgets_values_named")
    if named is not None:        # frontend >= 1.49 also saves them by name: they must agree
        for name, value in zip(names, values):
            if ui_name(name) not in named or named[ui_name(name)] != value:
                problems.append(f"{where}: position of '{name}' holds {value!r}, saved by name as "
                                f"{named.get(ui_name(name), '<missing>')!r}")
    return problems


def check_core_node(node: dict) -> list[str]:
    where = f"node {node['id']} ({node['type']})"
    known = CORE.get(node["type"])
    if known is None:
        return [f"{where}: node type not in the allowed core list {sorted(CORE)}"]
    values = node.get("widgets_values", [])
    if len(values) != len(known["widgets"]):
        return [f"{where}: {len(values)} widget values, ComfyUI's node has {len(known['widgets'])}"]
    v = dict(zip(known["widgets"], values))
    problems = []
    if node["type"] == "LoadImage" and (v["upload"] != "image" or not isinstance(v["image"], str)
                                        or not v["image"]):
        problems.append(f"{where}: LoadImage saves [filename, 'image'], got {values}")
    if node["type"] == "SaveVideo" and (v["format"] not in SAVEVIDEO_FORMATS
                                        or v["codec"] not in SAVEVIDEO_CODECS):
        problems.append(f"{where}: format/codec {v['format']!r}/{v['codec']!r} not offered")
    if "filename_prefix" in v and not isinstance(v["filename_prefix"], str):
        problems.append(f"{where}: filename_prefix is not a string")
    outs = [(o["name"], o["type"]) for o in node.get("outputs", [])]
    if outs != known["outputs"]:
        problems.append(f"{where}: outputs {outs}, ComfyUI's node has {known['outputs']}")
    for inp in node.get("inputs", []):
        if known["inputs"].get(inp["name"]) != inp["type"]:
            problems.append(f"{where}: no input '{inp['name']}' of type {inp['type']}")
    return problems


def socket_types(cls) -> dict:
    t = cls.INPUT_TYPES()
    return {name: shape[0] for section in ("required", "optional") for name, shape in
            t.get(section, {}).items() if isinstance(shape[0], str)}


def check_links(wf: dict, mapping: dict) -> list[str]:
    nodes = {n["id"]: n for n in wf["nodes"]}
    links = {}
    problems = []
    for link in wf["links"]:
        lid, src, src_slot, dst, dst_slot, typ = link
        links[lid] = link
        if src not in nodes or dst not in nodes:
            problems.append(f"link {lid}: node {src if src not in nodes else dst} does not exist")
            continue
        a, b = nodes[src], nodes[dst]
        outs, ins = a.get("outputs", []), b.get("inputs", [])
        if src_slot >= len(outs) or lid not in (outs[src_slot].get("links") or []):
            problems.append(f"link {lid}: not listed on output {src_slot} of node {src}")
        elif outs[src_slot]["type"] != typ:
            problems.append(f"link {lid}: output {src_slot} of node {src} is {outs[src_slot]['type']}, "
                            f"the link says {typ}")
        if dst_slot >= len(ins) or ins[dst_slot].get("link") != lid:
            problems.append(f"link {lid}: not the link of input {dst_slot} of node {dst}")
        elif ins[dst_slot]["type"] != typ:
            problems.append(f"link {lid}: input {dst_slot} of node {dst} is {ins[dst_slot]['type']}, "
                            f"the link says {typ}")
        cls = mapping.get(a["type"])
        if cls is not None:       # out of a RunComfy node: slot and type as the class returns them
            if src_slot >= len(cls.RETURN_TYPES) or cls.RETURN_TYPES[src_slot] != typ:
                problems.append(f"link {lid}: {a['type']} has no {typ} output at slot {src_slot}")
        cls = mapping.get(b["type"])
        if cls is not None and dst_slot < len(ins):   # into a RunComfy node: a socket by name
            name = ins[dst_slot]["name"]
            if socket_types(cls).get(name) != typ:
                problems.append(f"link {lid}: {b['type']} has no {typ} input '{name}'")
    for n in wf["nodes"]:      # nothing points at a link that does not exist
        for inp in n.get("inputs", []):
            if inp.get("link") is not None and inp["link"] not in links:
                problems.append(f"node {n['id']} input '{inp['name']}': unknown link {inp['link']}")
        for out in n.get("outputs", []):
            for lid in out.get("links") or []:
                if lid not in links:
                    problems.append(f"node {n['id']} output '{out['name']}': unknown link {lid}")
    return problems


def check_runcomfy_slots(node: dict, cls) -> list[str]:
    """The saved slots of a RunComfy node are the class's sockets and outputs, in order.

    Outputs are only ever appended, so a file saved earlier holds a prefix of today's."""
    where = f"node {node['id']} ({node['type']})"
    problems = []
    outs = [(o["name"], o["type"]) for o in node.get("outputs", [])]
    today = list(zip(cls.RETURN_NAMES, cls.RETURN_TYPES))
    if not outs or outs != today[:len(outs)]:
        problems.append(f"{where}: outputs {outs} are not the first of {today}")
    sockets = socket_types(cls)
    for inp in node.get("inputs", []):
        if sockets.get(inp["name"]) != inp["type"]:
            problems.append(f"{where}: no {inp['type']} input '{inp['name']}'")
    return problems


SECRET_KEY = re.compile(r"api[_-]?key|api[_-]?token|token|secret|password|authorization", re.I)
SECRET_TEXT = [re.compile(r"\bbearer\b", re.I), re.compile(r"sim-token"),
               re.compile(r"RUNCOMFY_API_(TOKEN|KEY)", re.I),
               # an opaque key-like run: 32+ characters without spaces, 6+ of them digits
               re.compile(r"\b(?=(?:[A-Za-z_\-]*\d){6})[A-Za-z0-9_\-]{32,}")]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def check_secrets(wf) -> list[str]:
    problems = []

    def walk(x, path):
        if isinstance(x, dict):
            for k, v in x.items():
                if SECRET_KEY.search(str(k)):
                    problems.append(f"{path}.{k}: a credential-like key")
                walk(v, f"{path}.{k}")
        elif isinstance(x, list):
            for i, v in enumerate(x):
                walk(v, f"{path}[{i}]")
        elif isinstance(x, str) and not UUID.fullmatch(x):
            for pattern in SECRET_TEXT:
                if pattern.search(x):
                    problems.append(f"{path}: looks like a secret ({pattern.pattern})")
    walk(wf, "$")
    return problems


def check_workflow(wf: dict, mapping: dict) -> list[str]:
    problems = []
    for key in ("last_node_id", "last_link_id", "nodes", "links", "groups", "config", "extra"):
        if key not in wf:
            problems.append(f"missing top-level '{key}'")
    if wf.get("version") != 0.4:
        problems.append(f"version {wf.get('version')!r}, the frontend saves 0.4")
    if problems:
        return problems
    ids = [n["id"] for n in wf["nodes"]]
    if len(set(ids)) != len(ids) or max(ids) > wf["last_node_id"]:
        problems.append("node ids repeat or exceed last_node_id")
    if wf["links"] and max(link[0] for link in wf["links"]) > wf["last_link_id"]:
        problems.append("link ids exceed last_link_id")
    for node in wf["nodes"]:
        for key in ("type", "pos", "size", "flags", "order", "mode", "inputs", "outputs",
                    "properties", "widgets_values"):
            if key not in node:
                problems.append(f"node {node['id']}: missing '{key}'")
        if node["type"].startswith("RunComfy_"):
            cls = mapping.get(node["type"])
            if cls is None:
                problems.append(f"node {node['id']}: no node class {node['type']}")
                continue
            problems += check_runcomfy_widgets(node, cls)
            problems += check_runcomfy_slots(node, cls)
        else:
            problems += check_core_node(node)
    problems += check_links(wf, mapping)
    problems += check_secrets(wf)
    return problems


# -- the tests -------------------------------------------------------------------------------
def test_both_folders_hold_the_five_seed_workflows():
    for folder in (EXAMPLES, FIXTURES):
        assert {p.stem for p in paths(folder)} >= set(WORKFLOWS), folder
    mapping = classes()
    for stem, node_type in WORKFLOWS.items():
        assert node_type in mapping
        for folder in (EXAMPLES, FIXTURES):
            types = [n["type"] for n in load(folder / f"{stem}.json")["nodes"]]
            assert types.count(node_type) == 1, (folder, stem, types)


@pytest.mark.parametrize("path", ALL)
def test_workflow_loads_into_todays_nodes(path):
    assert check_workflow(load(path), classes()) == []


SEEDS = [p for p in ALL if p.values[0].stem in WORKFLOWS]


@pytest.mark.parametrize("path", SEEDS)
def test_runcomfy_node_is_wired_image_in_result_out(path):
    """LoadImage → the model's image socket; a video model's VIDEO → SaveVideo and frames →
    PreviewImage; the image model's images → SaveImage."""
    wf, mapping = load(path), classes()
    nodes = {n["id"]: n for n in wf["nodes"]}
    edges = {(nodes[s]["type"], nodes[s]["outputs"][ss]["name"], nodes[d]["type"],
              nodes[d]["inputs"][ds]["name"]) for _, s, ss, d, ds, _ in wf["links"]}
    node_type = WORKFLOWS[path.stem]
    socket = "image_1" if mapping[node_type].SPEC.output == "image" else "image"
    assert ("LoadImage", "IMAGE", node_type, socket) in edges
    if mapping[node_type].SPEC.output == "video":
        assert (node_type, "video", "SaveVideo", "video") in edges
        assert (node_type, "frames", "PreviewImage", "images") in edges
    else:
        assert (node_type, "images", "SaveImage", "images") in edges


# What the values at each widget's current position must be in the shipped v1 files: if a
# widget moves, another widget's value lands here and this fails.
V1_VALUES = {
    "wan21_image_to_video": {"image_url": "", "number_of_frames": 81, "frame_rate": 16, "seed": 0,
                             "seed:control_after_generate": "fixed", "resolution": "720p",
                             "magic_prompt": True, "fit_image_to_limits": True, "start_frame": 0,
                             "every_nth_frame": 1, "frame_cap": 0},
    "wan21_fusionx_image_to_video": {"image_url": "", "resolution": "720x480 (3:2)",
                                     "number_of_frames": "81", "frames_per_second": 16,
                                     "seed": 96860978, "seed:control_after_generate": "fixed",
                                     "steps": 10, "guidance_scale": 1, "shift": 5,
                                     "fit_image_to_limits": True, "every_nth_frame": 1},
    "wan22_image_to_video": {"image_url": "", "template": "", "resolution": "480P", "duration": "5",
                             "magic_prompt": True, "seed": 0, "seed:control_after_generate": "fixed",
                             "fit_image_to_limits": True, "start_frame": 0, "every_nth_frame": 1,
                             "frame_cap": 0},
    "wan22_vace_fun": {"image_url": "", "resolution": "1024x576 (16:9)", "number_of_frames": "81",
                       "frames_per_second": 16, "seed": 96860978,
                       "seed:control_after_generate": "fixed", "steps": 12, "guidance_scale": 3.5,
                       "shift": 8, "fit_image_to_limits": True},
    "wan26_image_to_image": {"image_urls": "", "image_size": "1024*1024 (1:1)", "seed": 0,
                             "seed:control_after_generate": "fixed", "prompt_extend": True,
                             "fit_image_to_limits": True},
}
PROMPT_WORDS = {   # the prompt position holds the prompt (not the URL or another text widget)
    "wan21_image_to_video": "sun rises", "wan21_fusionx_image_to_video": "dolly-in",
    "wan22_image_to_video": "camera orbit", "wan22_vace_fun": "establishing shot",
    "wan26_image_to_image": "watercolor",
}


def values_by_name(wf: dict, node_type: str) -> dict:
    node = next(n for n in wf["nodes"] if n["type"] == node_type)
    names = widget_names(classes()[node_type].SPEC)
    assert len(node["widgets_values"]) == len(names)
    return dict(zip(names, node["widgets_values"]))


@pytest.mark.parametrize("stem", sorted(WORKFLOWS))
def test_v1_values_sit_under_the_right_widget_names(stem):
    got = values_by_name(load(FIXTURES / f"{stem}.json"), WORKFLOWS[stem])
    for name, value in V1_VALUES[stem].items():
        assert got[name] == value and type(got[name]) is type(value), name
    assert PROMPT_WORDS[stem] in got["prompt"]
    if "negative_prompt" in got:
        assert "low quality" in got["negative_prompt"]


def test_wan22_resolution_position():
    """The plain form of the check above, for the case users hit first."""
    values = load(FIXTURES / "wan22_image_to_video.json")["nodes"][1]["widgets_values"]
    at = widget_names(classes()["RunComfy_Wan22_ImageToVideo"].SPEC).index("resolution")
    assert values[at] in ("480P", "1080P")
    assert values[at + 1] == "5"                       # duration follows resolution
    assert values[at + 4] in CONTROL_VALUES            # magic_prompt, seed, then its control


def canonical_sha(path: Path) -> str:
    """sha256 of the JSON content (independent of line endings and indentation)."""
    text = json.dumps(load(path), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.mark.parametrize("stem", sorted(FROZEN_V1))
def test_v1_fixtures_are_never_edited(stem):
    assert canonical_sha(FIXTURES / f"{stem}.json") == FROZEN_V1[stem], (
        "tests/fixtures/workflows/ are the workflows as users saved them in v1: never edit "
        "them; fix the node (append new widgets at the end) or add a new fixture")


# -- the checks can fail -----------------------------------------------------------------------
def runcomfy(wf):
    return next(n for n in wf["nodes"] if n["type"].startswith("RunComfy_"))


def by_type(wf, node_type):
    return next(n for n in wf["nodes"] if n["type"] == node_type)


def drop_value(wf):
    runcomfy(wf)["widgets_values"].pop()


def bad_choice(wf):
    runcomfy(wf)["widgets_values"][4] = "720P"


def out_of_range(wf):
    runcomfy(wf)["widgets_values"][7] = -1


def bad_control(wf):
    runcomfy(wf)["widgets_values"][8] = "again"


def swapped(wf):          # order changed under values that all still "fit"
    node = runcomfy(wf)
    node["widgets_values_named"]["start_frame"] = 5       # saved as start_frame=5, frame_cap=0 …
    node["widgets_values"][10], node["widgets_values"][12] = 0, 5   # … now read the other way


def string_in_bool(wf):
    runcomfy(wf)["widgets_values"][6] = "true"


def wrong_socket(wf):
    runcomfy(wf)["inputs"][0]["name"] = "image_9"


def wrong_output_slot(wf):
    link = next(lk for lk in wf["links"] if lk[5] == "VIDEO")
    runcomfy(wf)["outputs"][3]["links"] = None
    runcomfy(wf)["outputs"][2]["links"] = [link[0]]
    runcomfy(wf)["outputs"][2]["type"] = "VIDEO"
    link[2] = 2


def dangling(wf):
    by_type(wf, "PreviewImage")["inputs"][0]["link"] = 99


def token_key(wf):
    runcomfy(wf)["properties"]["api_token"] = ""


def bearer(wf):
    runcomfy(wf)["widgets_values"][2] = "Bearer abc"


def opaque_key(wf):
    wf["extra"]["note"] = "rc_" + "a1B2c3D4" * 5


def unknown_core(wf):
    by_type(wf, "PreviewImage")["type"] = "KSampler"


def short_savevideo(wf):
    by_type(wf, "SaveVideo")["widgets_values"] = ["video/x", "auto"]


def bad_codec(wf):
    by_type(wf, "SaveVideo")["widgets_values"][2] = "vp9"


def loadimage_without_upload(wf):
    by_type(wf, "LoadImage")["widgets_values"] = ["example.png", ""]


BREAKAGE = {
    drop_value: "13 widgets", bad_choice: "'720P' is not one of", out_of_range: "outside",
    bad_control: "'again' is not one of", swapped: "saved by name", string_in_bool: "not a bool",
    wrong_socket: "input 'image_9'", wrong_output_slot: "no VIDEO output at slot 2",
    dangling: "unknown link 99", token_key: "credential-like key", bearer: "looks like a secret",
    opaque_key: "looks like a secret", unknown_core: "not in the allowed core list",
    short_savevideo: "ComfyUI's node has 3", bad_codec: "not offered",
    loadimage_without_upload: "LoadImage saves",
}


@pytest.mark.parametrize("breakage", list(BREAKAGE), ids=lambda f: f.__name__)
def test_the_checks_catch_a_broken_workflow(breakage):
    wf = copy.deepcopy(load(FIXTURES / "wan22_image_to_video.json"))
    assert check_workflow(wf, classes()) == []
    breakage(wf)
    problems = check_workflow(wf, classes())
    assert any(BREAKAGE[breakage] in p for p in problems), problems


def test_the_prompt_list_example_sends_each_prompt_over_one_image_and_saves_every_result():
    wf = load(EXAMPLES / "wan22_prompt_list.json")
    assert check_workflow(wf, classes()) == []
    nodes = {n["id"]: n for n in wf["nodes"]}
    edges = [(nodes[s]["type"], nodes[s]["outputs"][ss]["name"], nodes[d]["type"],
              nodes[d]["inputs"][ds]["name"]) for _, s, ss, d, ds, _ in wf["links"]]
    node_type = LIST_WORKFLOWS["wan22_prompt_list"]
    prompts = [n["widgets_values"][0] for n in wf["nodes"] if n["type"] == "PrimitiveStringMultiline"]
    assert len(prompts) == 3 and len(set(prompts)) == 3
    assert edges.count(("PrimitiveStringMultiline", "STRING", "CreateList", "inputs.input0")) == 1
    assert ("CreateList", "list", node_type, "prompt") in edges
    assert ("LoadImage", "IMAGE", node_type, "image") in edges
    assert (node_type, "video", "SaveVideo", "video") in edges
    assert (node_type, "frames", "PreviewImage", "images") in edges
