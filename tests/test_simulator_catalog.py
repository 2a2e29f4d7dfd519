"""The simulator's catalog as the pack's catalog snapshot will meet it: paged listing with
and without schemas, a large generated catalog whose models run like the others, changes
while running (added, removed, re-shaped models), unusable entries, faults on the listing
from a given page on, and one log entry per listing request with its offset and limit."""
import io
import json
import re
import subprocess
import sys
import threading
import wave
from pathlib import Path
from urllib.parse import quote

import av
import pytest
import requests
from PIL import Image

from simulator import Simulator
from simulator.__main__ import fault_spec
from simulator.broken import HUGE_BYTES, MANY, NAMES
from simulator.catalog import Catalog
from simulator.generated import TASKS, generated_model
from simulator.pricing import charge

TOKEN = "catalog-token"
OWN = 16                      # the seeds and simulator/catalog/*.json
ENTRY_KEYS = {"model_id", "display_name", "description", "categories", "kind", "base_price_usd",
              "price_unit"}
ROOT = Path(__file__).resolve().parents[1]


# -- driving the simulator ---------------------------------------------------------------------------
def make(**kw) -> Simulator:
    return Simulator(TOKEN, queue_s=0.0, run_s=0.0, max_side=256, **kw).start()


@pytest.fixture
def big():
    s = make(catalog_size=250)
    yield s
    s.stop()


def headers():
    return {"Authorization": f"Bearer {TOKEN}"}


def get(sim, path, status=200, **params):
    r = requests.get(f"{sim.base_url}{path}", params=params, headers=headers(), timeout=20)
    assert r.status_code == status, r.text[:500]
    return r.json()


def page(sim, offset=0, limit=100, **params) -> dict:
    return get(sim, "/v1/models", offset=str(offset), limit=str(limit), **params)


def walk(sim, limit=100, **params) -> list:
    """Every listed item, one request per page, as a client pages through."""
    items, offset = [], 0
    while True:
        answer = page(sim, offset, limit, **params)
        items += answer["models"]
        offset += len(answer["models"])
        if not answer["models"] or offset >= answer["total"]:
            return items


def model_url(sim, model_id):
    """The model's address; ".." segments written %2E%2E (a client would resolve them away)."""
    path = "/".join("%2E%2E" if part == ".." else quote(part, safe="") for part in model_id.split("/"))
    return f"{sim.base_url}/v1/models/{path}"


def submit(sim, model_id, body):
    return requests.post(model_url(sim, model_id), json=body, headers=headers(), timeout=20)


def result(sim, model_id, body) -> dict:
    r = submit(sim, model_id, body)
    assert r.status_code == 200, r.text
    return get(sim, f"/v1/requests/{r.json()['request_id']}/result", include_cost="true")


def minimal_body(schema: dict) -> dict:
    """The required inputs the schema defines (a leftover required key it lacks is left out)."""
    body = {}
    for key in schema.get("required", []):
        prop = schema["properties"].get(key)
        if prop is not None:
            body[key] = "https://example.com/in.png" if "image" in key else "a red fox in the snow"
    return body


def first(sim: Simulator, task: str) -> dict:
    """The first generated model (by id) of the task."""
    return next(d for _, d in sorted(sim.catalog.models.items())
                if d.get("kind") == task and d.get("source", "").startswith("simulator generated"))


# -- listing ----------------------------------------------------------------------------------------
def test_default_catalog_lists_the_own_models_in_the_documented_shape():
    with make() as sim:
        answer = page(sim, 0, 100)
        assert (answer["total"], answer["limit"], answer["offset"], len(answer["models"])) == (OWN, 100, 0, OWN)
        for entry in answer["models"]:
            assert ENTRY_KEYS <= set(entry) <= ENTRY_KEYS | {"pricing_note"}, entry.keys()
            assert isinstance(entry["categories"], list) and "output" not in entry
        with_schema = page(sim, 0, 100, include_schema="true")["models"]
        assert all(isinstance(e["input_schema"], dict) for e in with_schema)
        assert [e["model_id"] for e in with_schema] == sorted(e["model_id"] for e in answer["models"])
        assert page(sim, 0, 3)["models"] == answer["models"][:3]
        assert page(sim, 14, 5)["models"] == answer["models"][14:]
        assert page(sim, 40, 5) == {"models": [], "total": OWN, "limit": 5, "offset": 40}


def test_pages_of_a_large_catalog_cover_it_once_in_order(big):
    items = walk(big, limit=100)
    ids = [m["model_id"] for m in items]
    assert len(ids) == len(set(ids)) == 250 and ids == sorted(ids)
    assert [(r["offset"], r["limit"]) for r in big.listing_requests()] == [(0, 100), (100, 100), (200, 100)]
    last = page(big, 200, 100)
    assert (last["total"], len(last["models"])) == (250, 50)
    video = page(big, 0, 500, search="text-to-video")
    assert video["total"] == len(video["models"]) > 10
    assert all("text-to-video" in m["model_id"] for m in video["models"])
    globex = page(big, 0, 500, category="Globex")["models"]
    assert globex and all(m["model_id"].startswith("globex/") for m in globex)


def test_include_schema_gives_each_entrys_schema_and_the_model_answer_agrees(big):
    for entry in page(big, 100, 50, include_schema="true")["models"]:
        one = get(big, f"/v1/models/{entry['model_id']}")
        assert one == entry and isinstance(one["input_schema"]["properties"], dict)


def test_bad_paging_parameters_are_refused_and_max_limit_caps_a_page():
    with make(max_limit=5) as sim:
        answer = page(sim, 0, 100)
        assert (len(answer["models"]), answer["limit"], answer["total"]) == (5, 5, OWN)
        for bad in ({"limit": "ten"}, {"offset": "-1"}):
            detail = get(sim, "/v1/models", status=422, **bad)["detail"]
            assert detail[0]["loc"] == ["query", next(iter(bad))]


# -- the generated catalog ----------------------------------------------------------------------------
def test_generated_models_are_deterministic_and_fill_to_the_size():
    small, large = Catalog(size=40), Catalog(size=300)
    assert (len(small.models), len(large.models)) == (40, 300)
    assert all(large.models[m] == doc for m, doc in small.models.items())
    assert Catalog(size=5).models.keys() == Catalog().models.keys()        # smaller than its own
    assert generated_model(7) == generated_model(7)
    assert all(re.fullmatch(r"[a-z]+/[a-z]+-\d+/[a-z0-9-]+", m) for m, d in large.models.items()
               if d.get("source", "").startswith("simulator generated"))


def test_generated_schemas_have_the_real_catalogs_shapes_and_sizes():
    docs = [generated_model(k) for k in range(120)]
    assert {d["kind"] for d in docs} == set(TASKS)
    sizes = [len(json.dumps(d["input_schema"])) for d in docs]
    assert 2048 <= min(sizes) and max(sizes) <= 8192, (min(sizes), max(sizes))
    props = [(k, p) for d in docs for k, p in d["input_schema"]["properties"].items()]
    seen = {
        "seed -1": any(k == "seed" and p["minimum"] == -1 and p["default"] == -1 for k, p in props),
        "string duration enum": any(k == "duration" and p.get("enum") == ["5", "10"] for k, p in props),
        "integer width/height": any(k in ("width", "height") and p["type"] == "integer" for k, p in props),
        "0..600 by 0.1": any(p.get("maximum") == 600 and p.get("multipleOf") == 0.1 for _, p in props),
        "type float": any(p.get("type") == "float" for _, p in props),
        "image_url rules": any(k == "image_url" and len(p["validations"]) >= 4 for k, p in props),
        "lists of 9/12/16": {p.get("maxItems") for _, p in props if p.get("type") == "array"} == {9, 12, 16},
        "default null": any("default" in p and p["default"] is None for _, p in props),
        "required not defined": any(set(d["input_schema"]["required"]) - set(d["input_schema"]["properties"])
                                    for d in docs),
    }
    assert all(seen.values()), [k for k, v in seen.items() if not v]
    for d in docs:
        assert d["base_price_usd"] > 0 and d["price_unit"] in ("second", "image", "request")
        assert d["kind"].endswith("-to-" + TASKS[d["kind"]])       # what a client infers from


@pytest.mark.parametrize("task", list(TASKS))
def test_a_generated_model_of_each_task_runs_and_gives_its_kind(big, task):
    doc = first(big, task)
    answer = result(big, doc["model_id"], minimal_body(doc["input_schema"]))
    assert answer["status"] == "completed", answer
    out = answer["output"]
    want = {"video": ("video", "video/mp4"), "image": ("images", "image/png"),
            "audio": ("audio", "audio/wav"), "3d": ("model_mesh", "model/gltf-binary")}[TASKS[task]]
    value = out[want[0]]
    url = value["url"] if isinstance(value, dict) else value[0] if isinstance(value, list) else value
    r = requests.get(url, timeout=20)
    assert r.status_code == 200 and r.headers["Content-Type"] == want[1] and len(r.content) > 0


def test_generated_inputs_shape_the_outputs_and_the_price():
    with make(catalog_size=60) as sim:
        video = first(sim, "text-to-video")
        answer = result(sim, video["model_id"], {"prompt": "x", "duration": "5", "seed": -1})
        with av.open(io.BytesIO(requests.get(answer["output"]["video"]).content)) as box:
            s = box.streams.video[0]
            assert sum(1 for p in box.demux(s) if p.size) == 81 and float(s.average_rate) == 16
        plan = next(iter(sim.jobs.values())).plan
        assert answer["cost"] == pytest.approx(charge(video["base_price_usd"], video["price_unit"], plan))
        image = first(sim, "text-to-image")
        urls = result(sim, image["model_id"], {"prompt": "x", "width": 512, "height": 256,
                                               "num_images": 2})["output"]["images"]
        sizes = [Image.open(io.BytesIO(requests.get(u).content)).size for u in urls]
        assert sizes == [(256, 128), (256, 128)]            # 512×256 asked, shrunk to max_side
        audio = first(sim, "text-to-audio")
        out = result(sim, audio["model_id"], {"prompt": "x", "duration": 1.5})["output"]["audio"]
        with wave.open(io.BytesIO(requests.get(out).content)) as w:
            assert w.getnframes() == round(1.5 * w.getframerate())
        for bad in ({"prompt": "x", "duration": 5}, {"prompt": "x", "seed": -2}):   # "5" is not 5
            r = submit(sim, video["model_id"], bad)
            assert r.status_code == 422 and r.json()["detail"][0]["loc"][1] in bad, r.text


# -- changes while running ------------------------------------------------------------------------
def test_add_change_and_remove_models_while_running(big):
    doc = {"model_id": "hooli/late/text-to-audio", "kind": "text-to-audio", "display_name": "Late",
           "description": "added later", "categories": ["Hooli"], "base_price_usd": 0.01,
           "price_unit": "request",
           "input_schema": {"type": "object", "required": ["prompt"],
                            "properties": {"prompt": {"type": "string"}, "seed": {"type": "integer"}}}}
    big.add_model(doc)
    assert page(big, 0, 1)["total"] == 251
    assert "output" not in get(big, "/v1/models/hooli/late/text-to-audio")
    assert "audio" in result(big, doc["model_id"], {"prompt": "hum"})["output"]

    schema = big.insert_property(doc["model_id"], "style", {"type": "string", "enum": ["a", "b"]},
                                 required=True)
    assert list(schema["properties"]) == ["prompt", "style", "seed"]
    one = get(big, "/v1/models/hooli/late/text-to-audio")
    assert list(one["input_schema"]["properties"]) == ["prompt", "style", "seed"]
    r = submit(big, doc["model_id"], {"prompt": "hum"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "style"]
    big.change_schema(doc["model_id"], {"type": "object", "properties": {"text": {"type": "string"}}})
    assert submit(big, doc["model_id"], {"text": "hum"}).status_code == 200

    victim = first(big, "text-to-image")["model_id"]
    rid = submit(big, victim, {"prompt": "x [sim:queue=0.5]"}).json()["request_id"]
    assert big.remove_model(victim) and not big.remove_model(victim)
    ids = [m["model_id"] for m in walk(big)]
    assert victim not in ids and len(ids) == 250
    for answer in (requests.get(model_url(big, victim), headers=headers()), submit(big, victim, {"prompt": "x"})):
        assert answer.status_code == 404 and answer.json()["error_code"] == 400001
    assert get(big, f"/v1/requests/{rid}/status")["request_id"] == rid     # jobs already made go on


def test_listing_stays_consistent_while_models_come_and_go(big):
    stop = threading.Event()

    def churn():
        k = 0
        while not stop.is_set():
            mid = f"wonka/churn-{k % 7}/text-to-video"
            big.add_model({**generated_model(0), "model_id": mid})
            big.remove_model(f"wonka/churn-{(k + 3) % 7}/text-to-video")
            k += 1

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for _ in range(5):
            for offset in (0, 100, 200):
                answer = page(big, offset, 100, include_schema="true")
                assert len(answer["models"]) == max(0, min(100, answer["total"] - offset))
                assert all(isinstance(m["input_schema"], dict) for m in answer["models"])
    finally:
        stop.set()
        worker.join()
    assert all(e["status"] == 200 for e in big.listing_requests())


# -- unusable entries ---------------------------------------------------------------------------------
def test_broken_entries_are_listed_after_the_good_ones_without_spoiling_them():
    with make(broken_entries=True) as sim:
        good = page(sim, 0, OWN)
        assert good["total"] == OWN + len(NAMES) and len(json.dumps(good)) < 100_000
        items = walk(sim, limit=5)
        assert [m["model_id"] for m in items[:OWN]] == [m["model_id"] for m in good["models"]]
        tail = dict(zip(NAMES, items[OWN:]))
        assert tail["not_object"] == "broken/not-an-object"
        assert "input_schema" not in tail["schema_not_object"]
        assert ".." in tail["dotdot_id"]["model_id"].split("/")
        assert " " in tail["bad_chars_id"]["model_id"] and "#" in tail["bad_chars_id"]["model_id"]
        assert len(tail["huge_description"]["description"]) == HUGE_BYTES and items[-1] is tail["huge_description"]
        full = dict(zip(NAMES, walk(sim, limit=100, include_schema="true")[OWN:]))
        assert isinstance(full["schema_not_object"]["input_schema"], list)
        assert len(full["many_properties"]["input_schema"]["properties"]) == MANY
        refs = json.dumps(full["ref_cycle"]["input_schema"])
        assert '"#/definitions/A"' in refs and '"#/definitions/B"' in refs
        sizes = [len(requests.get(f"{sim.base_url}/v1/models", headers=headers(),
                                  params={"offset": o, "limit": 10, "include_schema": "true"}).content)
                 for o in (0, 10, 20)]
        assert sizes[0] < 100_000 and sizes[1] < 1_000_000 and 8 << 20 < sizes[2] < 12 << 20, sizes
        for name in NAMES[1:]:
            mid = tail[name]["model_id"]
            assert requests.get(model_url(sim, mid), headers=headers()).json()["model_id"] == mid
        assert submit(sim, tail["ref_cycle"]["model_id"], {"prompt": "x"}).status_code == 200
        assert submit(sim, tail["schema_not_object"]["model_id"], {"prompt": "x"}).status_code == 404


def test_a_chosen_few_broken_entries():
    with make(broken_entries={"ref_cycle", "dotdot_id"}) as sim:
        ids = [m["model_id"] for m in walk(sim)[OWN:]]
        assert ids == ["broken/../../escape/model", "broken/ref-cycle"]
    with pytest.raises(ValueError, match="unknown broken"):
        Catalog(broken={"nope"})


# -- faults on the listing and the request log -----------------------------------------------------------
def test_a_fault_from_an_offset_on_fails_that_page_and_leaves_the_others(big):
    big.fault("500", "models", min_offset=200)
    assert len(page(big, 0)["models"]) == 100 and len(page(big, 100)["models"]) == 100
    assert get(big, "/v1/models/" + page(big, 0, 1)["models"][0]["model_id"])      # not "model"
    get(big, "/v1/models", status=500, offset="200", limit="100")
    assert len(page(big, 200)["models"]) == 50                                     # times=1: used up
    assert [(r["offset"], r["status"]) for r in big.listing_requests()] == [
        (0, 200), (100, 200), (0, 200), (200, 500), (200, 200)]


def test_a_fault_after_some_requests_drops_or_cuts_the_third_page(big):
    big.fault("drop", "models", after=2)
    page(big, 0), page(big, 100)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{big.base_url}/v1/models", params={"offset": 200, "limit": 100},
                     headers=headers(), timeout=5)
    big.fault("truncate", "models", min_offset=100)
    assert page(big, 0)["total"] == 250
    with pytest.raises(requests.RequestException):
        requests.get(f"{big.base_url}/v1/models", params={"offset": 100, "limit": 100},
                     headers=headers(), timeout=5).json()
    assert len(page(big, 100)["models"]) == 100
    log = big.listing_requests()
    assert [(r["offset"], r["limit"], r["status"]) for r in log] == [
        (0, 100, 200), (100, 100, 200), (200, 100, "dropped"), (0, 100, 200), (100, 100, "truncated"),
        (100, 100, 200)]


def test_each_listing_request_is_logged_once_with_its_parameters(big):
    walk(big, limit=120, search="", include_schema="true")
    log = big.listing_requests()
    assert [(r["offset"], r["limit"], r["include_schema"]) for r in log] == [
        (0, 120, True), (120, 120, True), (240, 120, True)]
    assert len(big.calls("models")) == 3 and all(e["query"]["limit"] == "120" for e in big.calls("models"))


# -- the command line ---------------------------------------------------------------------------------
def test_fault_specs_with_offsets_and_counts():
    assert fault_spec("500:models:1:offset=200") == {
        "kind": "500", "endpoint": "models", "times": 1, "retry_after": None, "min_offset": 200}
    assert fault_spec("drop:models:2:after=3")["after"] == 3
    assert fault_spec("drop:submit")["times"] == 1 and fault_spec("429")["endpoint"] == "*"


def test_the_command_line_serves_a_large_catalog_with_broken_entries():
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "--port", "0", "--token", TOKEN,
                             "--catalog-size", "40", "--broken-entries", "ref_cycle,not_object",
                             "--fault", "500:models:1:offset=30"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        base = re.search(r"RUNCOMFY_BASE_URL=(\S+)", proc.stdout.readline() + proc.stdout.readline()).group(1)
        listing = lambda offset: requests.get(f"{base}/v1/models", params={"offset": offset, "limit": 30},
                                              headers=headers(), timeout=10)
        first_page = listing(0).json()
        assert first_page["total"] == 42 and len(first_page["models"]) == 30
        assert listing(30).status_code == 500
        rest = listing(30).json()["models"]
        assert len(rest) == 12 and rest[-2] == "broken/not-an-object"
        assert rest[-1]["model_id"] == "broken/ref-cycle"
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_running_simulators_catalog_is_changed_over_http_for_checks_from_outside(sim):
    import requests
    auth = {"Authorization": f"Bearer {sim.token}"}
    doc = {**sim.catalog.models["acme/text-to-video"], "model_id": "outside/new-1/text-to-video"}
    steps = [{"action": "add", "model": doc},
             {"action": "insert_property", "model_id": "outside/new-1/text-to-video", "key": "mood",
              "property": {"type": "string", "default": "calm"}, "index": 1},
             {"action": "remove", "model_id": "acme/text-to-video"}]
    for step in steps:
        assert requests.post(f"{sim.base_url}/sim/catalog", json=step, headers=auth, timeout=5).status_code == 200
    assert requests.post(f"{sim.base_url}/sim/catalog", json={"action": "x"}, headers=auth, timeout=5).status_code == 400
    assert requests.post(f"{sim.base_url}/sim/catalog", json=steps[0], timeout=5).status_code == 401
    props = list(sim.catalog.models["outside/new-1/text-to-video"]["input_schema"]["properties"])
    assert props[1] == "mood" and "acme/text-to-video" not in sim.catalog.models
