"""Money you can see: the estimator for every unit, the daily limit, the price cache, the
panel's routes and failures that say whether they were billed (all against the simulator)."""
import asyncio
import json
import threading
import time

import pytest
import torch
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from nodes.app.pipeline import run_model
from nodes.app.refresh import refresh_prices_in_background
from nodes.app.status import StatusReporter as Reporter
from nodes.comfy import panel_routes, token_route
from nodes.comfy.factory import default_values
from nodes.comfy.registry import build_mappings
from nodes.core.errors import JobFailed, RunComfyError, SpendLimitReached
from nodes.remote.client import RunComfyClient
from nodes.spec.estimate import estimate
from nodes.spec.prices import Price, PriceBook
from nodes.spec.schema import parse_model

from conftest import FAST

WAN22 = "RunComfy_Wan22_ImageToVideo"
WAN26 = "RunComfy_Wan26_ImageToImage"
TOKEN = "rc-Pr1ceT0ken-Zq8Xw3"


def spec_of(props: dict):
    return parse_model({"model_id": "acme/est", "input_schema": {"properties": props}})


# -- the estimator -----------------------------------------------------------------------------

@pytest.mark.parametrize("unit,props,values,usd", [
    ("request", {}, {}, 0.30),
    ("per_request", {}, {}, 0.30),
    ("second", {"duration": {"type": "integer"}}, {"duration": 5}, 1.50),
    ("second", {"duration": {"type": "string", "enum": ["5", "10"]}}, {"duration": "10"}, 3.00),
    ("second", {"600_duration": {"type": "string"}}, {"600_duration": "4s"}, 1.20),
    ("second", {"num_frames": {"type": "integer"}, "fps": {"type": "integer"}},
     {"num_frames": 81, "fps": 16}, 0.30 * 81 / 16),
    ("second", {"25_value": {"type": "integer"}, "length": {"type": "integer"}}, {"length": 48}, 0.30 * 3),
    ("minute", {"duration": {"type": "number"}}, {"duration": 90}, 0.45),
    ("image", {"num_images": {"type": "string", "enum": ["1", "2", "4"]}}, {"num_images": "4"}, 1.20),
    ("output", {}, {}, 0.30),
    ("megapixel", {"image_size": {"type": "string"}}, {"image_size": "1280*720 (16:9)"}, 0.30 * 0.9216),
    ("megapixel", {"width": {"type": "integer"}, "height": {"type": "integer"}},
     {"width": 1000, "height": 500}, 0.15),
    ("megapixel", {"resolution": {"type": "string"}}, {"resolution": "720p"}, 0.30 * 0.9216),
])
def test_the_estimate_for_each_unit_and_each_way_a_duration_is_given(unit, props, values, usd):
    est = estimate(spec_of(props or {"prompt": {"type": "string"}}), values,
                   Price(0.30, unit, "", "catalog", time.time()))
    assert est.known and est.usd == pytest.approx(usd, abs=1e-4)
    assert est.text == f"≈ ${usd:.2f}"


def test_workflow_style_keys_count_by_their_widget_names(rt):
    """VACE Fun's frame count and fps are '25_value' and '38_value', titled as what they are."""
    spec = build_mappings(rt)[0]["RunComfy_Wan22_VaceFun"].SPEC
    est = estimate(spec, {"25_value": 141, "38_value": 16}, Price(0.07, "second", "", "catalog"))
    assert est.usd == pytest.approx(0.07 * 141 / 16, abs=1e-4) and "141 frames ÷ 16 fps" in est.detail


@pytest.mark.parametrize("price,props,values,why", [
    (Price(), {"duration": {"type": "integer"}}, {"duration": 5}, "not known"),
    (Price(0.1, "token", "", "catalog"), {}, {}, "'token' cannot be estimated"),
    (Price(0.1, "second", "", "catalog"), {"prompt": {"type": "string"}}, {}, "no duration"),
    (Price(0.1, "megapixel", "", "catalog"), {"prompt": {"type": "string"}}, {}, "no size"),
])
def test_what_cannot_be_estimated_says_price_unknown_and_why(price, props, values, why):
    est = estimate(spec_of(props or {"prompt": {"type": "string"}}), values, price)
    assert not est.known and est.text == "price unknown" and why in est.detail


def test_an_old_price_is_labelled_with_its_age():
    old = Price(0.30, "request", "", "catalog", time.time() - 3 * 86400)
    assert estimate(spec_of({"p": {"type": "string"}}), {}, old).text == "≈ $0.30 (price from 3 days ago)"
    assert "3 days ago" in old.label()


# -- the price cache -----------------------------------------------------------------------------

def test_prices_are_fetched_cached_with_their_time_and_kept_offline(rt, sim, client, user_dirs):
    book = PriceBook(user_dirs / "user" / "prices.json")
    spec = build_mappings(rt)[0][WAN22].SPEC
    assert not book.get(spec).known                               # nothing known yet
    before = time.time()
    assert book.refresh([spec.model_id], client) == 1
    fresh = book.get(spec)
    assert (fresh.rate, fresh.unit, fresh.source) == (0.05, "second", "catalog")
    assert before <= fresh.fetched_at <= time.time() and fresh.age_text() == ""   # stamped now
    offline = RunComfyClient("http://127.0.0.1:9", "test-token-123", policy=FAST, timeout=(0.5, 0.5))
    assert PriceBook(book.path).refresh([spec.model_id], offline) == 0
    again = PriceBook(book.path).get(spec)                        # a new process, offline
    assert (again.rate, again.fetched_at) == (0.05, fresh.fetched_at)
    doc = json.loads(book.path.read_text())
    doc["models"][spec.model_id]["fetched_at"] -= 2 * 86400
    book.path.write_text(json.dumps(doc))
    assert PriceBook(book.path).get(spec).age_text() == "price from 2 days ago"


def test_a_model_files_own_price_is_used_until_the_catalog_says_otherwise(user_dirs):
    spec = parse_model({"model_id": "acme/own", "base_price_usd": 0.2, "price_unit": "request",
                        "input_schema": {"properties": {"prompt": {"type": "string"}}}})
    price = PriceBook(user_dirs / "prices.json").get(spec)
    assert (price.rate, price.source) == (0.2, "model file")


@pytest.mark.parametrize("damaged", [
    {"models": []}, {"models": "x"}, [1, 2], "{not json",
    {"models": {"wan-ai/wan-2-2/image-to-video": {"base_price_usd": 0.05, "price_unit": "second",
                                                  "fetched_at": "yesterday"}}},
    {"models": {"wan-ai/wan-2-2/image-to-video": ["not", "a", "price"]}},
])
def test_a_damaged_price_cache_is_set_aside_the_nodes_work_and_a_refresh_repairs_it(
        rt, sim, client, monkeypatch, caplog, damaged):
    monkeypatch.setenv("RUNCOMFY_BASE_URL", sim.base_url)
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", sim.token)
    path = rt.prices.path
    path.parent.mkdir(parents=True, exist_ok=True)
    text = damaged if isinstance(damaged, str) else json.dumps(damaged)
    path.write_text(text)
    spec = build_mappings(rt)[0][WAN22].SPEC
    assert not PriceBook(path).get(spec).known                     # unknown, no exception
    (kept,) = path.parent.glob("prices.json.damaged-*")
    assert kept.read_text() == text and not path.exists()
    assert any(str(path) in r.getMessage() and kept.name in r.getMessage() for r in caplog.records)
    run_model(rt, *wan22(rt), Reporter())                          # the node works: price unknown
    assert len(sim.calls("submit")) == 1
    book = PriceBook(path)
    assert book.refresh([spec.model_id], client) == 1              # the next refresh writes a good one
    assert PriceBook(path).get(spec).rate == 0.05


def test_the_background_refresh_never_blocks_and_needs_a_token(rt, sim, monkeypatch, user_dirs):
    book = rt.prices
    assert book.path == user_dirs / "user" / "prices.json"
    assert refresh_prices_in_background(rt, ["wan-ai/wan-2-2/image-to-video"]) is None   # no token
    monkeypatch.setenv("RUNCOMFY_BASE_URL", sim.base_url)
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", sim.token)
    sim.fault("slow", "model", times=-1, delay=1.5)                # the catalog answers after 1.5 s
    thread = refresh_prices_in_background(rt, ["wan-ai/wan-2-2/image-to-video"])
    assert thread.is_alive()                                       # returned before the answer came
    thread.join(15)
    assert book.get(build_mappings(rt)[0][WAN22].SPEC).rate == 0.05


# -- the daily limit -------------------------------------------------------------------------------

@pytest.fixture
def priced(rt, sim, client, monkeypatch):
    """The simulator as the service, its prices fetched into the user folder."""
    monkeypatch.setenv("RUNCOMFY_BASE_URL", sim.base_url)
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", sim.token)
    sim.queue_s, sim.run_s = 0.0, 0.1
    rt.prices.refresh(["wan-ai/wan-2-2/image-to-video", "wan-ai/wan-2-6/image-to-image"], client)
    return sim


def wan22(rt, seed=1, **extra):
    cls = build_mappings(rt)[0][WAN22]
    values = {**default_values(cls), "prompt": "a lake", "seed": seed, **extra}
    torch.manual_seed(0)
    values["image"] = torch.rand(1, 400, 400, 3)
    return cls.SPEC, values


def test_the_status_says_the_estimate_when_it_submits_and_the_cost_after(rt, priced):
    reporter = Reporter()
    run_model(rt, *wan22(rt), reporter)
    texts = [t for _, t in reporter.lines]
    assert "Submitting to RunComfy… ≈ $0.25" in texts              # 5 s × $0.05 per second
    assert texts[-1].startswith("Done in") and "$0.25" in texts[-1]
    (entry,) = rt.journal.recent()
    assert (entry.estimate, entry.cost) == (0.25, 0.25)


def test_a_job_over_the_daily_limit_is_refused_before_submitting_and_reuse_passes(rt, priced, monkeypatch):
    monkeypatch.setenv("RUNCOMFY_DAILY_LIMIT_USD", "0.40")
    run_model(rt, *wan22(rt, seed=1), Reporter())                   # $0.25 of $0.40
    with pytest.raises(SpendLimitReached) as info:
        run_model(rt, *wan22(rt, seed=2), Reporter())              # would be $0.50
    text = str(info.value)
    assert "Today's RunComfy spend is $0.25" in text and "≈ $0.25" in text
    assert "daily limit of $0.40 (RUNCOMFY_DAILY_LIMIT_USD)" in text and "Nothing was submitted" in text
    assert len(priced.calls("submit")) == 1
    reporter = Reporter()
    run_model(rt, *wan22(rt, seed=1), reporter)                     # the same inputs: reused
    assert len(priced.calls("submit")) == 1 and "reused, no new charge" in reporter.lines[-1][1]
    assert [e.status for e in rt.journal.recent()] == ["completed"]  # the refusal left no row


@pytest.mark.parametrize("stated", ["-100", "nan", "-0.01"])
def test_a_negative_or_broken_cost_counts_as_unknown_so_the_limit_still_holds(rt, priced, monkeypatch,
                                                                             caplog, stated):
    monkeypatch.setenv("RUNCOMFY_DAILY_LIMIT_USD", "0.40")
    reporter = Reporter()
    run_model(rt, *wan22(rt, seed=1, prompt=f"a lake [sim:cost={stated}]"), reporter)
    (entry,) = rt.journal.recent()
    assert (entry.cost, entry.estimate) == (None, 0.25)               # the estimate counts
    assert "RunComfy did not report the cost" in reporter.lines[-1][1]
    assert any("not an amount" in r.getMessage() for r in caplog.records)
    with pytest.raises(SpendLimitReached, match=r"Today's RunComfy spend is \$0.25"):
        run_model(rt, *wan22(rt, seed=2), Reporter())                # 0.25 + 0.25 > 0.40
    assert len(priced.calls("submit")) == 1


def test_a_negative_cost_already_in_the_journal_is_not_summed(rt, user_dirs):
    journal = rt.journal
    for rid, cost in (("old-row", -100.0), ("good-row", 0.30)):      # as an older version wrote them
        journal.add_loaded(rid)
        journal.record_outputs(rid, {}, cost)
    today = journal.spend_today()
    assert (today.spent, today.running) == (pytest.approx(0.30), 0.0)


def test_the_limit_counts_jobs_still_running_and_holds_across_threads(rt, priced, monkeypatch):
    monkeypatch.setenv("RUNCOMFY_DAILY_LIMIT_USD", "0.30")         # room for exactly one
    priced.run_s = 1.0
    results, barrier = [], threading.Barrier(3)

    def go(seed):
        barrier.wait()
        try:
            run_model(rt, *wan22(rt, seed=seed), Reporter())
            results.append("ran")
        except SpendLimitReached:
            results.append("refused")
    threads = [threading.Thread(target=go, args=(s,)) for s in (11, 12, 13)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ran", "refused", "refused"]
    assert len(priced.calls("submit")) == 1


def test_a_job_whose_price_is_unknown_is_refused_while_a_limit_is_set(rt, sim, monkeypatch):
    monkeypatch.setenv("RUNCOMFY_BASE_URL", sim.base_url)
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", sim.token)
    rt.settings.set_daily_limit(5)                                 # Settings → RunComfy
    with pytest.raises(SpendLimitReached, match=r"\$5.00 is set \(Settings → RunComfy → daily "
                                                r"limit\).*cannot be estimated"):
        run_model(rt, *wan22(rt), Reporter())
    assert sim.calls("submit") == []
    rt.settings.set_daily_limit(None)
    run_model(rt, *wan22(rt), Reporter())
    assert len(sim.calls("submit")) == 1


def test_the_environment_wins_over_settings_and_a_bad_value_is_an_error(rt, monkeypatch):
    rt.settings.set_daily_limit(5)
    assert rt.settings.daily_limit() == (5.0, "settings")
    monkeypatch.setenv("RUNCOMFY_DAILY_LIMIT_USD", "12.5")
    assert rt.settings.daily_limit() == (12.5, "environment")
    monkeypatch.setenv("RUNCOMFY_DAILY_LIMIT_USD", "a lot")
    with pytest.raises(RunComfyError, match="'a lot', not an amount"):
        rt.settings.daily_limit()


# -- failures that say whether they were billed ----------------------------------------------------

@pytest.mark.parametrize("magic,kind,billed", [
    ("[sim:moderation]", "content moderation rejected", "Not billed."),
    ("[sim:fail]", "a fault of the model or the service", "Not billed."),
    ("[sim:fail_billed]", "a fault of the model or the service", "RunComfy billed it ($0.25)"),
])
def test_every_failure_says_what_it_was_and_whether_it_was_billed(rt, priced, magic, kind, billed):
    with pytest.raises(JobFailed) as info:
        run_model(rt, *wan22(rt, prompt=f"x {magic}"), Reporter())
    assert kind in str(info.value) and billed in str(info.value)
    (entry,) = rt.journal.recent()
    assert entry.status == "failed" and entry.cost == (0.25 if "billed it" in billed else 0.0)


def test_a_refused_submit_says_it_was_not_billed(rt, priced):
    priced.fault("error", "submit", status=422, code=422001, message="Validation failed")
    with pytest.raises(RunComfyError, match="Not billed: RunComfy did not create the job"):
        run_model(rt, *wan22(rt), Reporter())


# -- the panel's routes ---------------------------------------------------------------------------

SAME = {"Sec-Fetch-Site": "same-origin"}


def call(rt, *steps, classes=None):
    """Requests against the panel and token routes on a real loopback server: [(status, json, text)]."""
    async def go():
        routes = web.RouteTableDef()
        panel_routes.register(routes, (classes or build_mappings(rt)[0]).get, rt)
        token_route.register(routes, rt.settings)
        app = web.Application()
        app.add_routes(routes)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            own = str(client.make_url("/")).rstrip("/")
            out = []
            for method, path, kw in steps:
                kw = dict(kw)
                headers = {k: own if v == "SELF" else v for k, v in kw.pop("headers", {}).items()}
                resp = await client.request(method, path, headers=headers, **kw)
                text = await resp.text()
                out.append((resp.status, json.loads(text), text))
                assert resp.headers.get("Cache-Control") == "no-store"
            return out
    return asyncio.run(go())


def test_the_jobs_route_lists_finished_jobs_and_todays_spend_without_the_token(rt, priced, monkeypatch):
    rt.settings.set_token(TOKEN)
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", TOKEN)
    priced.token = TOKEN
    monkeypatch.setenv("RUNCOMFY_DAILY_LIMIT_USD", "10")
    rid = run_model(rt, *wan22(rt), Reporter())["result"][5]
    [(code, data, text)] = call(rt, ("GET", "/runcomfy/jobs", {"headers": SAME}))
    assert code == 200 and TOKEN not in text and TOKEN[-8:] not in text
    assert data["today"] == {"spent": 0.25, "charged": 0.25, "running": 0.0, "limit": 10.0,
                             "limit_source": "environment", "limit_problem": "", "shared": False}
    (job,) = data["jobs"]
    assert (job["request_id"], job["status"], job["cost"], job["billed"]) == (rid, "completed", 0.25, "$0.25")
    assert job["files"][0]["url"].startswith("/view?filename=") and job["files"][0]["type"] == "output"
    assert job["can_load"] and not job["can_cancel"]


@pytest.mark.parametrize("headers", [{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                                     {"Sec-Fetch-Site": "same-site"}, {"Origin": "null"}])
def test_other_origins_are_refused_on_every_panel_route(rt, headers):
    steps = [("GET", "/runcomfy/jobs", {"headers": headers}),
             ("POST", "/runcomfy/jobs/cancel", {"headers": headers, "json": {"request_id": "x"}}),
             ("POST", "/runcomfy/estimate", {"headers": headers, "json": {"node_type": WAN22}}),
             ("GET", "/runcomfy/settings", {"headers": headers}),
             ("POST", "/runcomfy/settings", {"headers": headers, "json": {"daily_limit_usd": 1}})]
    assert [code for code, _, _ in call(rt, *steps)] == [403] * 5
    assert "daily_limit_usd" not in rt.settings.read_config()


def test_the_estimate_route_follows_the_widgets(rt, priced):
    body = lambda seconds: {"node_type": WAN22, "widgets": {"duration": seconds, "prompt": "x"}}
    (c1, five, _), (c2, ten, _), (c3, missing, _) = call(
        rt,
        ("POST", "/runcomfy/estimate", {"headers": SAME, "json": body(5)}),
        ("POST", "/runcomfy/estimate", {"headers": SAME, "json": body(10)}),
        ("POST", "/runcomfy/estimate", {"headers": SAME, "json": {"node_type": "KSampler"}}))
    assert (c1, five["text"], c2, ten["text"]) == (200, "≈ $0.25", 200, "≈ $0.50")
    assert "$0.05 per second (catalog" in five["price"]
    assert c3 == 404


def strict(text: str):
    """Standard JSON only: a browser's JSON.parse refuses NaN and Infinity."""
    def refuse(constant):
        raise AssertionError(f"non-standard JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("widgets", ['{"duration": 1e309, "prompt": "x"}', '{"duration": NaN}',
                                     '{"duration": -Infinity}', '{"seed": 1e999}'])
def test_the_estimate_route_answers_400_in_standard_json_for_numbers_that_are_not_finite(rt, priced, widgets):
    body = f'{{"node_type": "{WAN22}", "widgets": {widgets}}}'
    [(code, data, text)] = call(rt, ("POST", "/runcomfy/estimate", {
        "headers": {**SAME, "Content-Type": "application/json"}, "data": body}))
    assert code == 400 and "not finite" in strict(text)["error"]


def test_the_estimate_of_a_huge_count_is_unknown_not_an_error(rt, priced):
    spec = spec_of({"num_images": {"type": "integer"}})
    huge = estimate(spec, {"num_images": 10 ** 400}, Price(0.3, "image", "", "catalog"))
    assert huge.usd == pytest.approx(0.3)                    # a count that is no number counts 1
    wide = estimate(spec, {"num_images": 1e308}, Price(1e10, "image", "", "catalog"))
    assert not wide.known and "no finite price" in wide.detail
    [(code, data, text)] = call(rt, ("POST", "/runcomfy/estimate", {"headers": SAME, "json": {
        "node_type": WAN22, "widgets": {"duration": 10 ** 400}}}))
    assert code == 200 and strict(text)["text"] == "price unknown"


def test_a_route_never_writes_non_standard_json(rt, monkeypatch):
    monkeypatch.setattr(panel_routes, "settings_view", lambda rt: {"daily_limit_usd": float("nan")})
    [(code, data, text)] = call(rt, ("GET", "/runcomfy/settings", {"headers": SAME}))
    assert code == 500 and "not finite" in strict(text)["error"]


def test_the_settings_route_sets_and_clears_the_limit(rt, monkeypatch):
    (c1, set_, _), (c2, got, _), (c3, bad, _), (c4, cleared, _) = call(
        rt,
        ("POST", "/runcomfy/settings", {"headers": SAME, "json": {"daily_limit_usd": 7.5}}),
        ("GET", "/runcomfy/settings", {"headers": SAME}),
        ("POST", "/runcomfy/settings", {"headers": SAME, "json": {"daily_limit_usd": -1}}),
        ("POST", "/runcomfy/settings", {"headers": SAME, "json": {"daily_limit_usd": None}}))
    assert (c1, set_["daily_limit_usd"], set_["source"]) == (200, 7.5, "settings")
    assert got["daily_limit_usd"] == 7.5 and c3 == 400
    assert (c4, cleared["daily_limit_usd"]) == (200, None) and rt.settings.daily_limit() == (None, "")


def test_the_cancel_route_cancels_a_queued_job_and_refuses_a_running_one(rt, priced):
    priced.queue_s = 30
    rid = RunComfyClient(priced.base_url, priced.token).submit(
        "wan-ai/wan-2-6/image-to-image", {"prompt": "x", "image_urls": ["https://example.com/a.png"]}).request_id
    journal = rt.journal
    journal.add_loaded(rid)
    [(code, data, _)] = call(rt, ("POST", "/runcomfy/jobs/cancel", {"headers": SAME, "json": {"request_id": rid}}))
    assert (code, data["outcome"]) == (200, "cancelled") and len(priced.calls("cancel")) == 1
    assert (journal.get(rid).status, journal.get(rid).cost) == ("cancelled", 0.0)
    [(code, data, _)] = call(rt, ("POST", "/runcomfy/jobs/cancel", {"headers": SAME, "json": {"request_id": rid}}))
    assert code == 502 and "still queued" in data["error"] and len(priced.calls("cancel")) == 1
