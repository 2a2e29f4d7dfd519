"""Output kinds as records (nodes/spec/kinds.py): adding one is one OutputKind record plus its
decoder (its rows in results/outputs.py's Output table).

  * the "3d" kind: its record alone gives a node its outputs, and a model returning a real
    binary glTF file (the simulator's acme/image-to-3d) runs end to end;
  * a "subtitles" kind that exists only in this file: one record and two Output rows, put
    where the pack keeps its records, and the result reader, the catalog tool, the node
    factory and the decoder all take it up.

The GLB reader here is written from the glTF 2.0 spec, independently of the simulator's
writer (simulator/mesh.py): a file the writer got wrong fails here.
"""
import base64
import dataclasses
import io
import json
import struct
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from nodes.app.catalog import add_model, infer_output, mapping_report, model_file_from_entry
from nodes.app.pipeline import run_model
from nodes.app.status import StatusReporter as Reporter
from nodes.comfy import registry
from nodes.comfy.factory import default_values
from nodes.remote.client import output_urls
from nodes.remote.journal import Entry
from nodes.results import outputs
from nodes.results.outputs import Output, return_names, return_types
from nodes.spec import kinds
from nodes.spec.kinds import OutputKind, output_kind_of_link

MODEL = "acme/image-to-3d"
NODE = "RunComfy_acme_image_to_3d"
COLOUR = (0.2, 0.6, 0.8)          # the input picture's colour; the mesh's material follows it


@pytest.fixture
def quick(sim):
    """Jobs complete at once: the first poll sees the result."""
    sim.queue_s = sim.run_s = 0.0
    return sim


def solid(h: int, w: int, rgb) -> torch.Tensor:
    """A one-colour IMAGE batch of one (ComfyUI's B×H×W×C floats)."""
    return torch.tensor(rgb, dtype=torch.float32).expand(1, h, w, 3).clone()


def linear(c: float) -> float:
    """sRGB → linear (glTF's baseColorFactor is linear), from the sRGB definition."""
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


# -- a GLB reader, from the glTF 2.0 spec --------------------------------------------------------
COMPONENTS = {5120: "b", 5121: "B", 5122: "h", 5123: "H", 5125: "I", 5126: "f"}
WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def read_accessor(doc: dict, binary: bytes, index: int) -> list:
    """An accessor's values (tuples for VECn), checked against its buffer view's bounds."""
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    fmt, width = COMPONENTS[acc["componentType"]], WIDTHS[acc["type"]]
    size = struct.calcsize("<" + fmt)
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    assert start % size == 0, "accessor not aligned to its component size"
    assert acc.get("byteOffset", 0) + acc["count"] * width * size <= view["byteLength"]
    assert view.get("byteOffset", 0) + view["byteLength"] <= doc["buffers"][view["buffer"]]["byteLength"]
    flat = struct.unpack_from(f"<{acc['count'] * width}{fmt}", binary, start)
    return [flat[i:i + width] for i in range(0, len(flat), width)] if width > 1 else list(flat)


def parse_glb(raw: bytes) -> tuple[dict, list, list]:
    """(the JSON document, the positions of mesh 0, its triangle indices); asserts the
    container and the document are what the glTF 2.0 spec requires."""
    magic, version, length = struct.unpack_from("<4sII", raw, 0)
    assert (magic, version) == (b"glTF", 2)
    assert length == len(raw), "the header's length is not the file's size"
    chunks, offset = [], 12
    while offset < length:
        size, kind = struct.unpack_from("<I4s", raw, offset)
        assert size % 4 == 0 and offset + 8 + size <= length, "chunk not padded or overruns the file"
        chunks.append((kind, raw[offset + 8: offset + 8 + size]))
        offset += 8 + size
    assert [k for k, _ in chunks] == [b"JSON", b"BIN\0"]
    text, binary = chunks[0][1], chunks[1][1]
    assert text == text.rstrip(b" ").ljust(len(text), b" ")        # padded with spaces only
    doc = json.loads(text.decode("utf-8"))
    assert doc["asset"]["version"] == "2.0"
    (buffer,) = doc["buffers"]
    assert "uri" not in buffer and 0 <= len(binary) - buffer["byteLength"] < 4   # the BIN chunk, padded
    scene = doc["scenes"][doc.get("scene", 0)]
    assert all(0 <= n < len(doc["nodes"]) for n in scene["nodes"])
    (primitive,) = doc["meshes"][0]["primitives"]
    assert primitive.get("mode", 4) == 4                                   # triangles
    pos_acc = doc["accessors"][primitive["attributes"]["POSITION"]]
    assert (pos_acc["componentType"], pos_acc["type"]) == (5126, "VEC3")
    positions = read_accessor(doc, binary, primitive["attributes"]["POSITION"])
    for axis in range(3):                             # POSITION must state its true bounds
        assert pos_acc["min"][axis] == min(p[axis] for p in positions)
        assert pos_acc["max"][axis] == max(p[axis] for p in positions)
    indices = read_accessor(doc, binary, primitive["indices"])
    assert len(indices) % 3 == 0 and all(0 <= i < len(positions) for i in indices)
    return doc, positions, [tuple(indices[i:i + 3]) for i in range(0, len(indices), 3)]


def area(a, b, c) -> float:
    u = [b[i] - a[i] for i in range(3)]
    v = [c[i] - a[i] for i in range(3)]
    n = (u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0])
    return 0.5 * sum(x * x for x in n) ** 0.5


# -- the "3d" record --------------------------------------------------------------------------------
def node_for(rt, model_id=MODEL):
    add_model(model_id, client=rt.client, models_dir=rt.models_dir())
    return registry.build_mappings(rt)[0][NODE]


def test_the_3d_record_alone_gives_the_node_its_outputs(env, rt, client, monkeypatch):
    record = kinds.OUTPUT_KIND["3d"]
    assert record.outputs == ("model_file", "model_url", "request_id")
    cls = node_for(rt)
    assert cls.SPEC.output == "3d"
    assert cls.RETURN_NAMES == ("model_file", "model_url", "request_id")
    assert cls.RETURN_TYPES == tuple(outputs.OUTPUTS[n].type for n in record.outputs) \
        == ("STRING", "STRING", "STRING")
    assert mapping_report(model_file_from_entry(client.model(MODEL)))[-1] == \
        "outputs (3d): model_file, model_url, request_id"
    # change the record and nothing else: the node follows it
    fewer = dataclasses.replace(record, outputs=("model_url", "request_id"))
    monkeypatch.setitem(kinds.OUTPUT_KIND, "3d", fewer)
    again = registry.build_mappings(rt)[0][NODE]
    assert (again.RETURN_NAMES, again.RETURN_TYPES) == (("model_url", "request_id"), ("STRING", "STRING"))


def test_the_catalog_tool_infers_3d_from_the_entry(client):
    entry = client.model(MODEL)
    assert "output" not in entry and entry["kind"] == "image-to-3d"
    assert infer_output(entry) == "3d" and model_file_from_entry(entry)["output"] == "3d"
    assert infer_output({"model_id": MODEL}) == "3d"                       # the id alone
    assert infer_output({"description": entry["description"]}) == "3d"     # the description alone
    assert infer_output({"model_id": "x/hunyuan3d-v2"}) == "3d"
    assert infer_output({"description": "Turns a photo into a textured mesh."}) == "3d"
    assert infer_output({"model_id": "x/image-to-video"}) == "video"      # the control


# -- end to end: a .glb from the simulator ------------------------------------------------------------
def test_image_to_3d_runs_end_to_end_and_saves_a_valid_glb(quick, env, fast_rt, user_dirs):
    cls = node_for(fast_rt)
    values = {**default_values(cls), "image": solid(96, 128, COLOUR)}
    model_file, model_url, rid = run_model(fast_rt, cls.SPEC, values, Reporter())["result"]

    assert len(quick.calls("submit")) == 1
    body = quick.submitted_bodies(MODEL)[0]
    assert set(body) == {"image_url", "seed", "texture_size", "mesh_simplify"}
    assert body["texture_size"] == 1024 and body["mesh_simplify"] == 0.95
    head, b64 = body["image_url"].split(",", 1)
    assert head == "data:image/png;base64"
    assert Image.open(io.BytesIO(base64.b64decode(b64))).size == (128, 96)

    served = quick.jobs[rid]
    answer = fast_rt.client().result(rid)["output"]                      # the shape it came in
    assert answer == {"model_mesh": {"url": model_url, "content_type": "model/gltf-binary",
                                     "file_name": "output_0.glb"}}
    assert model_url == f"{quick.base_url}/files/{rid}/output_0.glb" and model_url.endswith(".glb")

    path = Path(model_file)
    assert path.parent == user_dirs / "output" / "runcomfy" == fast_rt.output_folder()
    assert path.suffix == ".glb" and path.is_file()
    raw = path.read_bytes()
    assert raw[:4] == b"glTF"
    assert raw == quick.file_for(served, "output_0.glb").read_bytes()    # downloaded whole
    doc, positions, triangles = parse_glb(raw)
    assert len(doc["meshes"]) == 1 and doc["nodes"][doc["scenes"][0]["nodes"][0]]["mesh"] == 0
    assert triangles and all(area(*(positions[i] for i in t)) > 0 for t in triangles)
    factor = doc["materials"][doc["meshes"][0]["primitives"][0]["material"]]["pbrMetallicRoughness"][
        "baseColorFactor"]
    assert factor == pytest.approx([*(linear(c) for c in COLOUR), 1.0], abs=0.01)   # made from our picture

    entry = fast_rt.journal.get(rid)
    assert entry.outputs == {"3d": [model_url]} and entry.files == [model_file]
    assert entry.cost == pytest.approx(0.15)

    # queued again: the journal's job and file, no second submit
    assert run_model(fast_rt, cls.SPEC, values, Reporter())["result"] == (model_file, model_url, rid)
    assert len(quick.calls("submit")) == 1


def test_a_picture_of_another_colour_gives_another_mesh(quick, env, fast_rt):
    cls = node_for(fast_rt)
    values = {**default_values(cls), "image": solid(80, 80, (0.9, 0.1, 0.1))}
    model_file, _, _ = run_model(fast_rt, cls.SPEC, values, Reporter())["result"]
    doc, _, _ = parse_glb(Path(model_file).read_bytes())
    factor = doc["materials"][0]["pbrMetallicRoughness"]["baseColorFactor"]
    assert factor == pytest.approx([linear(0.9), linear(0.1), linear(0.1), 1.0], abs=0.01)


# -- a kind added at test time: one record plus its Output rows ----------------------------------------
SUBTITLES = OutputKind("subtitles", ("subtitles", "subtitle_files"), (".srt", ".vtt"),
                       r"subtitles?|captions?", ("subtitle_file", "subtitle_url", "request_id"),
                       what="subtitles")
SUBTITLE_ROWS = (
    Output("subtitle_file", "STRING", lambda r: r.path_of("subtitles"), "The saved subtitle file."),
    Output("subtitle_url", "STRING", lambda r: "\n".join(r.entry.urls), "Every result link."),
)
SRT = "https://cdn.example/r/1/captions.srt"
VTT = "https://cdn.example/r/1/captions.vtt?sig=abc"
MP4 = "https://cdn.example/r/1/clip.mp4"
MIXED = {"subtitles": {"url": SRT, "content_type": "application/x-subrip"},
         "subtitle_files": [VTT, {"url": SRT}], "video": {"url": MP4}}


def rebound_in(name: str) -> list[str]:
    """The pack's modules that hold kinds.py's table ``name`` (imported by name)."""
    table = getattr(kinds, name)
    return sorted(m for m, mod in list(sys.modules.items())
                  if (m == "nodes" or m.startswith("nodes.")) and getattr(mod, name, None) is table)


@pytest.fixture
def subtitles(monkeypatch):
    """SUBTITLES appended to kinds.py's records, as if written there before the pack loaded:
    every module holding a table gets the new one (they import the tables by name), and the
    decoder's two rows go into the Output table."""
    for name, value in (("OUTPUT_KINDS", kinds.OUTPUT_KINDS + (SUBTITLES,)),
                        ("MAIN_OUTPUTS", kinds.MAIN_OUTPUTS + ("subtitles",))):
        for module in rebound_in(name):
            monkeypatch.setattr(sys.modules[module], name, value)
    monkeypatch.setitem(kinds.OUTPUT_KIND, "subtitles", SUBTITLES)     # a dict: shared already
    for row in SUBTITLE_ROWS:
        monkeypatch.setitem(outputs.OUTPUTS, row.name, row)
    return SUBTITLES


def test_without_the_record_subtitle_links_are_not_told_apart():
    assert "subtitles" not in kinds.OUTPUT_KIND
    assert output_urls(MIXED) == {"video": [MP4]}
    assert output_urls({"subtitles": {"url": SRT}}) == {}
    assert output_kind_of_link("result", VTT) is None
    assert infer_output({"model_id": "x/video-to-subtitles"}) == "video"


def test_a_kind_added_as_one_record_classifies_its_links(subtitles):
    found = output_urls(MIXED)
    assert found == {"video": [MP4], "subtitles": [SRT, VTT]}          # keys, strings and objects
    assert list(found) == ["video", "subtitles"]                       # records' order
    # no documented key: told by the file extension, then by a key naming the kind
    assert output_urls({"result": {"file": VTT}, "preview": "https://cdn.example/p.png"}) == {
        "image": ["https://cdn.example/p.png"], "subtitles": [VTT]}
    assert output_urls({"subtitles_link": "https://cdn.example/r/1/download"}) == {
        "subtitles": ["https://cdn.example/r/1/download"]}
    assert infer_output({"model_id": "x/video-to-subtitles"}) == "subtitles"


def test_a_kind_added_as_one_record_gives_a_node_and_fills_its_outputs(subtitles, rt, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "captions.json").write_text(json.dumps({
        "model_id": "acme/video-to-subtitles", "display_name": "Acme Captions", "output": "subtitles",
        "input_schema": {"type": "object", "required": ["video_url"], "properties": {
            "video_url": {"title": "Video", "type": "string", "format": "video_uri"}}}}))
    cls = registry.build_mappings(rt, [folder])[0]["RunComfy_acme_video_to_subtitles"]
    assert cls.RETURN_NAMES == ("subtitle_file", "subtitle_url", "request_id")
    assert cls.RETURN_TYPES == return_types(return_names("subtitles")) == ("STRING", "STRING", "STRING")
    assert return_names("subtitles") == SUBTITLES.outputs

    saved = tmp_path / "out" / "captions.srt"
    saved.parent.mkdir()
    saved.write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    entry = Entry(1, "req-1", "fp", "acme/video-to-subtitles", "completed", 0.0,
                  outputs=output_urls({"subtitles": SRT, "video": MP4}), files=[str(tmp_path / "v.mp4"),
                                                                                 str(saved)])
    built = outputs.build(return_names("subtitles"), entry, [Path(f) for f in entry.files], Reporter(),
                          rt.decoding({"start_frame": 0, "every_nth_frame": 1, "frame_cap": 0}))
    assert built["result"] == (str(saved), f"{MP4}\n{SRT}", "req-1")
    assert built["ui"] == {}                                           # no preview for this kind


def test_load_result_gives_a_3d_jobs_file(fast_rt, env, client):
    """Load Result (and the generic node) take any result: a 3D job's file comes out as
    'model_file', appended after the video node's outputs."""
    from nodes.app.pipeline import execute
    from nodes.comfy.load_result import request_plan
    from nodes.results.outputs import ANY_RESULT
    assert ANY_RESULT[-1] == "model_file"
    rid = client.submit("acme/image-to-3d", {"image_url": "https://example.com/a.png"}).request_id
    out = execute(fast_rt, request_plan, {"request_id": rid}, Reporter())
    values = dict(zip(ANY_RESULT, out["result"]))
    assert values["request_id"] == rid and values["frames"] is None
    assert Path(values["model_file"]).read_bytes()[:4] == b"glTF"
    assert len(env.calls("submit")) == 1
