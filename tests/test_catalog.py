"""Adding models by id (catalog → model file → node) and the generic "RunComfy Model" node,
end to end against the simulator's extra catalog models (simulator/catalog/*.json)."""
import asyncio
import base64
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import av
import pytest
import torch
from PIL import Image

import nodes.catalog as catalog
from nodes.app.catalog import CatalogError, add_model, mapping_report, model_file_from_entry
from nodes.app.pipeline import execute, run_model
from nodes.app import plain_host
from nodes.app.plain_host import PlainHost
from nodes.app.status import StatusReporter as Reporter
from nodes.comfy import generic, registry
from nodes.comfy.factory import default_values
from nodes.comfy.generic import generic_plan
from nodes.core.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
SIM_CATALOG = ROOT / "simulator" / "catalog"
EXTRA = {"acme/text-to-video": "RunComfy_acme_text_to_video",
         "acme/two-image-blend": "RunComfy_acme_two_image_blend",
         "acme/camera-motion": "RunComfy_acme_camera_motion"}


@pytest.fixture
def quick(sim):
    """Jobs complete at once: the first poll sees the result (keeps the file fast)."""
    sim.queue_s = sim.run_s = 0.0
    return sim


defaults = default_values


def added_class(rt, model_id):
    path, report = add_model(model_id, client=rt.client, models_dir=rt.models_dir())
    classes, _ = registry.build_mappings(rt)
    return classes[EXTRA[model_id]], path, report


def image(h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, h, w, 3, generator=g)


def smooth(h, w):
    """A gradient image: compresses to a few KB however large it is."""
    ramp = torch.linspace(0, 1, w).expand(h, w)
    return torch.stack([ramp, ramp.T[:h, :w] if h == w else ramp, ramp * 0.5], -1).unsqueeze(0)


def decoded(uri: str) -> Image.Image:
    head, b64 = uri.split(",", 1)
    assert head == "data:image/png;base64"
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def sim_video_frames(sim, request_id) -> int:
    """Frames in the MP4 the simulator actually served for this job."""
    path = sim.file_for(sim.jobs[request_id], "output_0.mp4")
    with av.open(str(path)) as box:
        return sum(1 for _ in box.decode(video=0))


def only_body(sim, model_id):
    bodies = sim.submitted_bodies(model_id)
    assert len(bodies) == 1
    return bodies[0]


# -- catalog entry → model file ------------------------------------------------------------------
def test_simulator_serves_the_three_extra_models(client):
    for model_id in EXTRA:
        entry = client.model(model_id)
        assert entry["model_id"] == model_id and entry["input_schema"]["properties"]
    assert client.model("acme/text-to-video")["kind"] == "text-to-video"


@pytest.mark.parametrize("entry,output", [
    ({"kind": "text-to-video"}, "video"),
    ({"kind": "text-to-image"}, "image"),
    ({"kind": "image-to-image", "description": "makes a video-like look"}, "image"),
    ({"categories": ["Image Generation"]}, "image"),
    ({"model_id": "x/flux/text-to-image"}, "image"),
    ({"description": "Turns a photo into a short video."}, "video"),
    ({}, "video"),
    ({"kind": "text-to-image", "output": "video"}, "video"),     # a model file's own word wins
    ({"model_id": "x/seedream-4/edit"}, "image"),                # an image task's word
    ({"model_id": "x/clarity/upscaler"}, "image"),
    ({"model_id": "x/topaz/video-upscale"}, "video"),            # the kind named wins
])
def test_output_is_inferred_from_kind_categories_and_text(entry, output):
    doc = model_file_from_entry({"model_id": "x/y", "input_schema": {"properties": {"a": {}}},
                                 **entry})
    assert doc["output"] == output


def test_model_file_from_entry_keeps_the_schema_verbatim_and_sets_no_node_id(client):
    entry = client.model("acme/camera-motion")
    doc = model_file_from_entry(entry)
    assert doc["input_schema"] == entry["input_schema"]
    assert (doc["model_id"], doc["display_name"], doc["category"], doc["output"]) == (
        "acme/camera-motion", "Acme Camera Motion", "Acme", "video")
    assert "node_id" not in doc
    assert model_file_from_entry({**entry, "categories": []})["category"] == "Models"
    assert model_file_from_entry({**entry, "categories": ["Video", "Motion"]})["category"] == "Video"


def json_lines(report):
    return [line for line in report if "JSON text" in line]


def test_mapping_report_says_what_each_special_field_became(client):
    report = mapping_report(model_file_from_entry(client.model("acme/camera-motion")))
    assert json_lines(report) == ["field 'camera' → 'camera': type 'object' has no widget; give "
                                  "the value as JSON text; checked against its schema before paying"]
    assert "field 'image_url' → 'image': image (from image_uri): 1 IMAGE socket(s) + URL widget " \
           "'image_url'" in report
    assert report[-1] == "outputs (video): frames, fps, frame_count, video, video_url, request_id, audio"
    blend = mapping_report(model_file_from_entry(client.model("acme/two-image-blend")))
    assert json_lines(blend) == [] and len([x for x in blend if "IMAGE socket" in x]) == 2


# -- end to end: add from the catalog, rebuild, run ------------------------------------------------
def test_text_only_model_added_from_the_catalog_runs_end_to_end(quick, env, fast_rt, user_dirs):
    cls, path, report = added_class(fast_rt, "acme/text-to-video")
    assert path == user_dirs / "user" / "models" / "acme-text-to-video.json"
    assert json_lines(report) == [] and not [x for x in report if "not checked" in x]
    assert cls.CATEGORY == "RunComfy/Video/Acme" and "acme/text-to-video" in cls.DESCRIPTION
    assert cls.RETURN_NAMES[:3] == ("frames", "fps", "frame_count")
    assert cls.INPUT_TYPES()["required"]["duration"][0] == ["2", "4"]
    values = {**defaults(cls), "prompt": "a red fox in snow", "duration": "4"}
    out = run_model(fast_rt, cls.SPEC, values, Reporter())
    frames, fps, count, _video, url, rid, _audio = out["result"]
    assert only_body(quick, "acme/text-to-video") == {"prompt": "a red fox in snow",
                                                      "duration": 4, "seed": 0}
    assert count == 4 * 16 + 1 == sim_video_frames(quick, rid)
    assert frames.shape[0] == count and frames.shape[-1] == 3
    assert fps == 16.0
    assert url == f"{quick.base_url}/files/{rid}/output_0.mp4"


def test_two_image_model_gets_both_images_in_their_own_fields(quick, env, fast_rt):
    cls, _, _ = added_class(fast_rt, "acme/two-image-blend")
    assert {"start_image", "end_image"} <= set(cls.INPUT_TYPES()["optional"])
    assert cls.RETURN_NAMES == ("images", "image_urls", "request_id")
    values = {**defaults(cls), "start_image": image(48, 64, 1), "end_image": image(40, 56, 2),
              "blend": 0.25}
    images, urls, rid = run_model(fast_rt, cls.SPEC, values, Reporter())["result"]
    body = only_body(quick, "acme/two-image-blend")
    assert set(body) == {"start_image_url", "end_image_url", "blend"} and body["blend"] == 0.25
    assert decoded(body["start_image_url"]).size == (64, 48)
    assert decoded(body["end_image_url"]).size == (56, 40)
    assert images.shape == (1, 320, 320, 3)        # the simulator's 1024² shrunk to max_side
    assert urls == f"{quick.base_url}/files/{rid}/output_0.png" and rid in quick.jobs


def test_nested_field_given_as_json_text_arrives_as_an_object(quick, env, fast_rt):
    cls, _, report = added_class(fast_rt, "acme/camera-motion")
    assert len(json_lines(report)) == 1 and "'camera'" in json_lines(report)[0]
    assert "JSON text" in cls.INPUT_TYPES()["required"]["camera"][1]["tooltip"]
    values = {**defaults(cls), "image": image(36, 52), "prompt": "slow push in",
              "camera": '{"pan": 0.5, "zoom": 1.25}', "number_of_frames": 17}
    frames, fps, count, _video, _url, rid, _audio = run_model(fast_rt, cls.SPEC, values,
                                                              Reporter())["result"]
    body = only_body(quick, "acme/camera-motion")
    assert body["camera"] == {"pan": 0.5, "zoom": 1.25}
    assert body["num_frames"] == 17 and body["frames_per_second"] == 16
    assert decoded(body["image_url"]).size == (52, 36)
    assert count == 17 == frames.shape[0] == sim_video_frames(quick, rid)


def test_bad_nested_json_stops_before_submitting(sim, env, fast_rt):
    cls, _, _ = added_class(fast_rt, "acme/camera-motion")
    values = {**defaults(cls), "image": image(36, 52), "prompt": "x", "camera": "{pan: 1"}
    with pytest.raises(InputError, match="'camera' must be JSON text"):
        run_model(fast_rt, cls.SPEC, values, Reporter())
    assert sim.calls("submit") == []


# -- saved schema files ----------------------------------------------------------------------------
def saved(tmp_path, name, doc) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def test_add_from_a_saved_catalog_entry(rt, client, tmp_path, user_dirs):
    entry = client.model("acme/camera-motion")
    path, report = add_model(schema_file=saved(tmp_path, "entry.json", entry),
                             models_dir=rt.models_dir())
    doc = json.loads(path.read_text())
    assert path.parent == user_dirs / "user" / "models"
    assert (doc["model_id"], doc["output"], doc["category"]) == ("acme/camera-motion", "video", "Acme")
    assert doc["input_schema"] == entry["input_schema"] and len(json_lines(report)) == 1
    assert (doc["base_price_usd"], doc["price_unit"]) == (entry["base_price_usd"], entry["price_unit"])


@pytest.mark.parametrize("wrap", ["data", "text-schema"])
def test_a_wrapped_answer_or_a_schema_sent_as_text_is_read(client, wrap):
    entry = client.model("acme/camera-motion")
    answer = ({"data": entry} if wrap == "data"
              else {**entry, "input_schema": json.dumps(entry["input_schema"])})
    from nodes.app.catalog import unwrap
    assert model_file_from_entry(unwrap(answer))["input_schema"] == entry["input_schema"]


def test_add_from_a_saved_model_file_keeps_its_output(rt, tmp_path):
    model_file = json.loads((SIM_CATALOG / "acme-two-image-blend.json").read_text())
    path, report = add_model(schema_file=saved(tmp_path, "m.json", model_file),
                             models_dir=tmp_path / "models")
    doc = json.loads(path.read_text())
    assert path == tmp_path / "models" / "acme-two-image-blend.json"
    assert doc["output"] == "image" and doc["input_schema"] == model_file["input_schema"]
    assert json_lines(report) == []
    cls = registry.build_mappings(rt, [tmp_path / "models"])[0]["RunComfy_acme_two_image_blend"]
    assert cls.RETURN_NAMES[0] == "images"


def test_add_from_a_bare_input_schema_needs_the_model_id(tmp_path):
    schema = json.loads((SIM_CATALOG / "acme-camera-motion.json").read_text())["input_schema"]
    file = saved(tmp_path, "schema.json", schema)
    with pytest.raises(CatalogError, match="give the model id"):
        add_model(schema_file=file, models_dir=tmp_path / "m")
    assert not (tmp_path / "m").exists()
    path, report = add_model("acme/camera-motion", schema_file=file, models_dir=tmp_path / "m")
    doc = json.loads(path.read_text())
    assert doc["model_id"] == "acme/camera-motion" and doc["input_schema"] == schema
    assert doc["output"] == "video" and "schema.json" in doc["source"]
    assert [line.split(":")[0] for line in json_lines(report)] == ["field 'camera' → 'camera'"]


def test_a_file_for_another_model_or_without_properties_is_refused(tmp_path):
    entry = json.loads((SIM_CATALOG / "acme-text-to-video.json").read_text())
    with pytest.raises(CatalogError, match="is for model 'acme/text-to-video'"):
        add_model("acme/other", schema_file=saved(tmp_path, "a.json", entry),
                  models_dir=tmp_path / "m")
    broken = {**entry, "input_schema": {"type": "object", "properties": {}}}
    with pytest.raises(CatalogError, match="cannot become a node.*no 'properties'"):
        add_model(schema_file=saved(tmp_path, "b.json", broken), models_dir=tmp_path / "m")
    (tmp_path / "c.json").write_text("{nope")
    with pytest.raises(CatalogError, match="not JSON"):
        add_model("acme/x", schema_file=str(tmp_path / "c.json"), models_dir=tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_a_saved_file_nested_too_deeply_is_refused_with_a_sentence(tmp_path):
    (tmp_path / "deep.json").write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    with pytest.raises(CatalogError, match="deep.json is nested too deeply to read as JSON"):
        add_model("acme/x", schema_file=str(tmp_path / "deep.json"), models_dir=tmp_path / "m")
    assert not (tmp_path / "m").exists()


# -- overwriting and where files go ------------------------------------------------------------------
def test_overwrite_of_another_model_is_refused_same_model_is_an_update(client, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    other = {"model_id": "acme-text/to-video", "input_schema": {"properties": {"p": {}}}}
    target = models / "acme-text-to-video.json"          # same slug, different model
    target.write_text(json.dumps(other))
    with pytest.raises(CatalogError, match="already holds model 'acme-text/to-video'"):
        add_model("acme/text-to-video", client=client, models_dir=models)
    assert json.loads(target.read_text()) == other        # untouched
    target.unlink()
    path, _ = add_model("acme/text-to-video", client=client, models_dir=models)
    doc = json.loads(path.read_text())
    doc["display_name"] = "old name"
    path.write_text(json.dumps(doc))
    path2, _ = add_model("acme/text-to-video", client=client, models_dir=models)   # update
    assert path2 == path and json.loads(path.read_text())["display_name"] == "Acme Text to Video"
    path.write_text(json.dumps(other))
    add_model("acme/text-to-video", client=client, models_dir=models, force=True)
    assert json.loads(path.read_text())["model_id"] == "acme/text-to-video"


def test_add_never_writes_through_a_link_planted_at_the_temporary_file(tmp_path):
    models = tmp_path / "models"
    models.mkdir(mode=0o755)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    planted = models / "acme-two-image-blend.json.tmp"            # the old predictable temp path
    planted.symlink_to(victim)
    model_file = json.loads((SIM_CATALOG / "acme-two-image-blend.json").read_text())
    old_umask = os.umask(0o022)
    try:
        path, _ = add_model(schema_file=saved(tmp_path, "m.json", model_file), models_dir=models)
    finally:
        os.umask(old_umask)
    assert victim.read_text() == "precious"
    assert not path.is_symlink() and json.loads(path.read_text())["model_id"] == "acme/two-image-blend"
    assert sorted(p.name for p in models.iterdir()) == [path.name, planted.name]   # no temp file left
    assert stat.S_IMODE(path.stat().st_mode) == 0o644          # as any new file (umask), not 0600
    assert stat.S_IMODE(models.stat().st_mode) == 0o755        # the user's folder is left as it was


def test_pack_models_and_the_pack_folder_are_refused(client, tmp_path):
    with pytest.raises(CatalogError, match="already ships with the pack"):
        add_model("wan-ai/wan-2-2/image-to-video", client=client, models_dir=tmp_path)
    with pytest.raises(CatalogError, match="inside the pack folder"):
        add_model("acme/text-to-video", client=client, models_dir=ROOT / "nodes" / "models")
    assert not (ROOT / "nodes" / "models" / "acme-text-to-video.json").exists()
    with pytest.raises(CatalogError, match="does not know model 'acme/nope'"):
        add_model("acme/nope", client=client, models_dir=tmp_path)


def test_comfyui_user_folder_is_found_next_to_the_pack(tmp_path, monkeypatch):
    comfy = tmp_path / "ComfyUI"
    pack = comfy / "custom_nodes" / "comfyui-runcomfy"
    pack.mkdir(parents=True)
    assert plain_host.comfyui_user_dir(pack) is None           # no main.py: not ComfyUI
    (comfy / "main.py").write_text("")
    assert plain_host.comfyui_user_dir(pack) == comfy / "user" / "runcomfy"
    monkeypatch.delenv("RUNCOMFY_USER_DIR")
    if plain_host.comfyui_user_dir() is None:            # this checkout is not in a ComfyUI
        assert plain_host.cli_user_dir(None) == PlainHost().user_dir()
    monkeypatch.setattr(plain_host, "PACK_ROOT", pack)
    assert plain_host.cli_user_dir(None) == comfy / "user" / "runcomfy"
    assert plain_host.cli_user_dir(str(tmp_path / "x")) == tmp_path / "x"
    monkeypatch.setenv("RUNCOMFY_USER_DIR", str(tmp_path / "env"))
    assert plain_host.cli_user_dir(None) == tmp_path / "env"


# -- command line ------------------------------------------------------------------------------------
def cli(sim, *args):
    env = {**os.environ, "RUNCOMFY_BASE_URL": sim.base_url, "RUNCOMFY_API_TOKEN": sim.token}
    return subprocess.run([sys.executable, "-m", "nodes.catalog", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_add_and_list(sim, tmp_path):
    done = cli(sim, "add", "acme/camera-motion", "--user-dir", str(tmp_path / "u"))
    assert done.returncode == 0, done.stderr
    path = tmp_path / "u" / "models" / "acme-camera-motion.json"
    assert json.loads(path.read_text())["model_id"] == "acme/camera-motion"
    assert str(path) in done.stdout
    assert "field 'camera' → 'camera': type 'object' has no widget" in done.stdout
    assert "Restart ComfyUI to see the node" in done.stdout
    listed = cli(sim, "list", "--search", "acme")
    assert listed.returncode == 0, listed.stderr
    assert all(m in listed.stdout for m in EXTRA) and "wan-ai" not in listed.stdout
    bad = cli(sim, "add", "acme/nope", "--user-dir", str(tmp_path / "u"))
    assert bad.returncode == 1 and "does not know model 'acme/nope'" in bad.stderr


def test_cli_user_dir_may_be_comfyuis_own_user_folder(sim, tmp_path):
    """--user-dir given what ComfyUI's --user-directory names still lands where the pack reads."""
    comfy_user = tmp_path / "comfy-user"
    (comfy_user / "default").mkdir(parents=True)               # ComfyUI's own settings folder
    done = cli(sim, "add", "acme/camera-motion", "--user-dir", str(comfy_user))
    assert done.returncode == 0, done.stderr
    assert (comfy_user / "runcomfy" / "models" / "acme-camera-motion.json").is_file()
    assert not (comfy_user / "models").exists()


# -- the generic node ----------------------------------------------------------------------------------
def test_generic_node_shape_and_registration(rt):
    cls = generic.generic_node(rt)
    spec = cls.INPUT_TYPES()
    assert list(spec["required"]) == ["model_id", "arguments", "image_field", "output",
                                      "start_frame", "every_nth_frame", "frame_cap",
                                      "video_field", "audio_field"]      # appended only
    assert spec["required"]["arguments"][1]["default"] == "{}"
    assert spec["required"]["image_field"][1]["default"] == "image_url"
    assert spec["required"]["output"][0] == ["video", "image", "audio", "3d"]   # kinds, appended
    assert list(spec["optional"]) == ["image_1", "image_2", "image_3", "video", "audio"]
    assert (spec["optional"]["video"][0], spec["optional"]["audio"][0]) == ("VIDEO,IMAGE", "AUDIO")
    assert spec["hidden"] == {"unique_id": "UNIQUE_ID"}
    assert cls.RETURN_NAMES == ("frames", "fps", "frame_count", "video", "video_url", "request_id",
                                "audio", "model_file")          # outputs only ever appended
    assert cls.CATEGORY == "RunComfy" and cls.FUNCTION == "run"
    classes, names = registry.build_mappings(rt, tools=True)
    registered = classes["RunComfy_Model"]        # a class of its own for each runtime
    assert registered.__qualname__ == cls.__qualname__ and registered.__module__ == generic.__name__
    assert registered.INPUT_TYPES() == spec and registered.RETURN_NAMES == cls.RETURN_NAMES
    assert names["RunComfy_Model"] == "RunComfy Model (any model id)"
    assert "RunComfy_Model" not in registry.build_mappings(rt)[0]


def generic_values(**kw):
    return {**defaults(generic.generic_node(None)), **kw}   # the widgets do not need a runtime


def run_generic(rt, values, reporter):
    """RunComfy Model's run, as the pipeline runs it for one item."""
    return execute(rt, generic_plan, values, reporter)


def test_generic_text_only_model_with_arguments_json(quick, env, fast_rt):
    values = generic_values(model_id="acme/text-to-video",
                            arguments='{"prompt": "a cat on a roof", "duration": 2, "seed": 7}')
    frames, fps, count, _video, url, rid, _audio, _model = run_generic(fast_rt, values,
                                                               Reporter())["result"]
    assert only_body(quick, "acme/text-to-video") == {"prompt": "a cat on a roof",
                                                      "duration": 2, "seed": 7}
    assert count == 33 == frames.shape[0] == sim_video_frames(quick, rid)
    assert fps == 16.0 and url.endswith(f"/{rid}/output_0.mp4")


def test_generic_image_model_with_one_connected_image(quick, env, fast_rt):
    values = generic_values(model_id="wan-ai/wan-2-6/image-to-image", output="image",
                            image_field="image_urls", image_1=smooth(400, 400),
                            arguments=json.dumps({"prompt": "make it blue",
                                                  "image_size": "1280*720 (16:9)"}))
    frames, fps, count, video, urls, rid, _audio, _model = run_generic(fast_rt, values,
                                                               Reporter())["result"]
    body = only_body(quick, "wan-ai/wan-2-6/image-to-image")
    assert isinstance(body["image_urls"], list) and len(body["image_urls"]) == 1  # "…s": a list
    assert decoded(body["image_urls"][0]).size == (400, 400)
    assert body["prompt"] == "make it blue"
    assert frames.shape == (1, 180, 320, 3) and count == 1 and fps == 0.0 and video is None
    assert urls == f"{quick.base_url}/files/{rid}/output_0.png"


def test_generic_node_sends_a_connected_audio_and_video_under_their_keys(quick, env, fast_rt):
    import torch
    t = torch.arange(22050 * 2) / 22050
    audio = {"waveform": (0.3 * torch.sin(2 * torch.pi * 330 * t)).reshape(1, 1, -1), "sample_rate": 22050}
    values = generic_values(model_id="acme/audio-to-video", audio=audio,
                            arguments='{"prompt": "a singer"}')
    frames, fps, count, *_ = run_generic(fast_rt, values, Reporter())["result"]
    body = only_body(quick, "acme/audio-to-video")
    assert body["audio_url"].startswith("data:audio/wav;base64,") and body["prompt"] == "a singer"
    assert abs(count / fps - 2.0) < 0.2                     # the simulator made a clip of its length
    clip = torch.rand(9, 32, 48, 3)                          # an IMAGE batch on the video socket
    run_generic(fast_rt, generic_values(model_id="acme/video-to-video", video=clip,
                                        arguments='{"prompt": "p"}'), Reporter())
    assert only_body(quick, "acme/video-to-video")["video_url"].startswith("data:video/mp4;base64,")


def test_generic_image_field_single_or_list():
    spec = generic.minimal_spec("a/b", "video")
    one, _ = generic.build_body(spec, {"arguments": '{"p": 1}', "image_field": "image_url",
                                       "image_1": image(8, 8)})
    assert isinstance(one["image_url"], str) and one["p"] == 1
    two, notes = generic.build_body(spec, {"arguments": '{"image_url": "https://x/y.png"}',
                                           "image_field": "image_url", "image_1": image(8, 8),
                                           "image_3": image(9, 9)})
    assert [decoded(u).size for u in two["image_url"]] == [(8, 8), (9, 9)]
    assert notes and "replaced" in notes[0]
    assert generic.build_body(spec, {"arguments": "{}", "image_field": "image_url"})[0] == {}
    with pytest.raises(InputError, match="'image_field' is empty"):
        generic.build_body(spec, {"arguments": "{}", "image_field": " ", "image_1": image(8, 8)})


@pytest.mark.parametrize("args,match", [
    ('{"prompt": "x",}', r"'arguments' is not valid JSON: .* line 1 column"),
    ('["prompt"]', r"'arguments' must be a JSON object .*not a JSON list"),
])
def test_generic_bad_arguments_stop_before_any_submit(sim, env, fast_rt, args, match):
    with pytest.raises(InputError, match=match):
        run_generic(fast_rt, generic_values(model_id="acme/text-to-video", arguments=args),
                    Reporter())
    assert sim.calls("submit") == []


def test_generic_model_id_is_checked_before_any_submit(sim, env, fast_rt):
    for bad, match in (("", "'model_id' is empty"),
                       ("https://www.runcomfy.com/models/acme", "not a model id")):
        with pytest.raises(InputError, match=match):
            run_generic(fast_rt, generic_values(model_id=bad, arguments='{"prompt": "x"}'),
                        Reporter())
    assert sim.calls("submit") == []


def test_generic_node_run_is_async_and_uses_the_configured_service(rt, quick, monkeypatch):
    monkeypatch.setenv("RUNCOMFY_BASE_URL", quick.base_url)
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", quick.token)
    values = generic_values(model_id="acme/two-image-blend", output="image",
                            arguments='{"end_image_url": "https://example.com/b.png"}',
                            image_field="start_image_url", image_1=image(33, 33))
    out = asyncio.run(generic.generic_node(rt)().run(unique_id="7", **values))
    assert all(len(each) == 1 for each in out["result"])     # a list node: one item, lists of one
    frames, fps, count, video, urls, rid, _audio, _model = (each[0] for each in out["result"])
    body = only_body(quick, "acme/two-image-blend")
    assert body["end_image_url"] == "https://example.com/b.png"
    assert decoded(body["start_image_url"]).size == (33, 33)
    assert frames.shape == (1, 320, 320, 3) and rid in quick.jobs and urls.endswith(".png")
