"""The job client against the running simulator: every fault ends in success or in the
error it should, with the number of requests it should take, and never a second submit."""
import io

import time

import pytest

from nodes.remote.client import RunComfyClient, output_urls
from nodes.core.errors import ApiError, ConfigError, JobFailed, JobTimeout, RunComfyError, SubmitUncertain
from nodes.remote.job import JobCancelled, JobRunner
from nodes.remote.transport import RetryPolicy


class Waits:
    """A clock whose waits are recorded, not slept."""

    def __init__(self, delays: list):
        self.sleep = delays.append
        self.monotonic = time.monotonic

from conftest import FAST

WAN22 = "wan-ai/wan-2-2/image-to-video"
BODY = {"prompt": "a lighthouse at dusk", "img_url": "https://example.com/in.png"}


def submit_one(client):
    return client.submit(WAN22, dict(BODY)).request_id


# -- retries on reads ------------------------------------------------------------------------
def test_three_429_then_success_takes_four_calls(sim, client):
    rid = submit_one(client)
    sim.fault("429", "status", times=3)
    assert client.status(rid)["request_id"] == rid
    assert len(sim.calls("status")) == 4


def test_retry_after_is_honoured(sim):
    delays = []
    client = RunComfyClient(sim.base_url, sim.token, clock=Waits(delays),
                            policy=RetryPolicy(max_retry_after=30))
    rid = submit_one(client)
    sim.fault("429", "result", times=2, retry_after=7)
    client.result(rid)
    assert delays == [7.0, 7.0]


def test_429s_do_not_use_up_the_tries_of_a_read(sim):
    delays = []
    client = RunComfyClient(sim.base_url, sim.token, clock=Waits(delays),
                            policy=RetryPolicy(attempts=3, base_delay=0.01))
    rid = submit_one(client)
    sim.fault("429", "status", times=5, retry_after=1)
    assert client.status(rid)["request_id"] == rid               # 5 waits, although only 3 tries
    assert len(sim.calls("status")) == 6 and delays == [1.0] * 5


def test_a_rate_limit_longer_than_its_budget_ends_with_the_service_sentence(sim):
    delays = []
    client = RunComfyClient(sim.base_url, sim.token, clock=Waits(delays),
                            policy=RetryPolicy(rate_limit_budget_s=0.5))
    rid = submit_one(client)
    sim.fault("429", "status", times=-1, retry_after=2)
    with pytest.raises(ApiError, match="rate limiting"):
        client.status(rid)
    assert len(sim.calls("status")) == 1 and delays == []       # a 2 s wait would pass the budget


def test_a_retry_after_of_zero_cannot_spin_forever(sim):
    client = RunComfyClient(sim.base_url, sim.token, clock=Waits([]),
                            policy=RetryPolicy(rate_limited_tries=7))
    rid = submit_one(client)
    sim.fault("429", "status", times=-1, retry_after=0)
    with pytest.raises(ApiError, match="rate limiting"):
        client.status(rid)
    assert len(sim.calls("status")) == 7


def test_500s_and_dropped_connections_on_reads_are_retried(sim, client):
    rid = submit_one(client)
    sim.fault("500", "result", times=2)
    sim.fault("drop", "result", times=1)
    assert client.result(rid)["request_id"] == rid
    assert [e["status"] for e in sim.calls("result")] == [500, 500, "dropped", 200]


def test_reads_give_up_after_the_policy_and_say_what_happened(sim):
    client = RunComfyClient(sim.base_url, sim.token, policy=RetryPolicy(attempts=3, base_delay=0.01))
    rid = submit_one(client)
    sim.fault("500", "status", times=-1)
    with pytest.raises(ApiError, match="internal error"):
        client.status(rid)
    assert len(sim.calls("status")) == 3


# -- submit: never twice by accident -----------------------------------------------------------
def test_insufficient_balance_is_one_submit_and_a_clear_sentence(sim, client):
    sim.fault("error", "submit", status=400, code=400002, message="Insufficient balance")
    with pytest.raises(ApiError, match="balance is too low.*nothing was charged"):
        submit_one(client)
    assert len(sim.calls("submit")) == 1 and not sim.jobs


def test_error_code_inside_a_200_answer_is_an_error(sim, client):
    sim.fault("error200", "submit", code=400004, message="Token disabled")
    with pytest.raises(ApiError, match="account or token.*Token disabled"):
        submit_one(client)
    assert len(sim.calls("submit")) == 1


def test_500_on_submit_is_uncertain_and_not_retried(sim, client):
    """The body reached the service: a 5xx does not tell whether a job was created."""
    sim.fault("500", "submit")
    with pytest.raises(SubmitUncertain, match="may have been created and billed"):
        submit_one(client)
    assert len(sim.calls("submit")) == 1


def test_429_on_submit_is_retried_because_nothing_was_submitted(sim, client):
    sim.fault("429", "submit", times=2)
    submit_one(client)
    assert len(sim.calls("submit")) == 3 and len(sim.jobs) == 1


def test_dropped_submit_says_the_job_may_exist_and_is_not_retried(sim, client):
    sim.fault("drop", "submit")
    with pytest.raises(SubmitUncertain, match="may have been created"):
        submit_one(client)
    assert len(sim.calls("submit")) == 1
    assert len(sim.jobs) == 1          # it did exist: retrying would have billed twice


def test_submit_timeout_is_uncertain_not_retried(sim):
    client = RunComfyClient(sim.base_url, sim.token, policy=FAST, timeout=(2, 0.3))
    sim.fault("slow", "submit", delay=1.0)
    with pytest.raises(SubmitUncertain):
        submit_one(client)
    assert len(sim.calls("submit")) == 1


def test_refused_connection_on_submit_is_retried_then_explained():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]          # closed again: nothing listens there
    client = RunComfyClient(f"http://127.0.0.1:{port}", "tok-refused", policy=FAST)
    with pytest.raises(RunComfyError, match="Could not reach RunComfy") as info:
        client.submit(WAN22, dict(BODY))
    assert client.transport.calls == FAST.submit_attempts
    assert "tok-refused" not in str(info.value)


# -- errors as sentences -------------------------------------------------------------------------
def test_wrong_token_is_named_and_never_echoed(sim):
    client = RunComfyClient(sim.base_url, "wrong-secret-123", policy=FAST)
    with pytest.raises(ApiError, match="rejected the API token") as info:
        submit_one(client)
    assert "wrong-secret-123" not in str(info.value)
    assert len(sim.calls("submit")) == 1


def test_missing_token_fails_before_any_request(sim, rt, monkeypatch):
    monkeypatch.setenv("RUNCOMFY_BASE_URL", sim.base_url)
    with pytest.raises(ConfigError, match="RUNCOMFY_API_TOKEN"):
        rt.client()
    assert sim.log == []


def test_token_from_env_and_key_alias(sim, fast_rt, monkeypatch):
    monkeypatch.setenv("RUNCOMFY_API_KEY", sim.token)
    monkeypatch.setenv("RUNCOMFY_BASE_URL", sim.base_url)
    assert fast_rt.client().submit(WAN22, dict(BODY)).request_id


def test_validation_error_names_the_field(sim, client):
    with pytest.raises(ApiError, match="field 'resolution'.*not one of") as info:
        client.submit(WAN22, {**BODY, "resolution": "4K"})
    assert info.value.code == 422001 and not sim.jobs


def test_unknown_model_and_expired_request(sim, client):
    with pytest.raises(ApiError, match="does not know this model id"):
        client.submit("nobody/nothing", dict(BODY))
    with pytest.raises(ApiError, match="not found or expired"):
        client.status("no-such-request")
    assert len(sim.calls("status")) == 1   # a 404 is final


# -- the job runner ------------------------------------------------------------------------------
def run(client, body=None, **kw):
    """A job submitted and its runner, on the client's clock (the simulator's)."""
    events = []
    kw = {"clock": client.transport.clock, "sleep": client.transport.sleep, **kw}   # its time
    runner = JobRunner(client, on_event=events.append, **kw)
    rid = runner.submit(WAN22, body or dict(BODY))
    return runner, rid, events


def test_job_walks_queue_running_completed(sim, client):
    sim.queue_s, sim.run_s = 1.2, 1.2
    runner, rid, events = run(client)
    result = runner.wait(rid)
    stages = [e.stage for e in events]
    assert stages[:2] == ["submitting", "submitted"]
    assert "queued" in stages and "running" in stages and stages[-1] == "completed"
    assert stages.index("queued") < stages.index("running")
    assert any(e.position for e in events if e.stage == "queued")
    assert result.outputs["video"][0].endswith(".mp4") and result.cost == 0.25
    assert len(sim.calls("submit")) == 1


def test_failed_job_reports_the_service_reason(sim, client):
    runner, rid, _ = run(client, {**BODY, "prompt": "x [sim:fail]"})
    with pytest.raises(JobFailed, match="could not generate a video"):
        runner.wait(rid)


def test_job_cancelled_by_the_service(sim, client):
    runner, rid, _ = run(client, {**BODY, "prompt": "x [sim:cancelled]"})
    with pytest.raises(JobFailed, match="cancelled on the service"):
        runner.wait(rid)


def test_completed_without_outputs_is_an_error_not_a_hang(sim, client):
    runner, rid, _ = run(client, {**BODY, "prompt": "x [sim:empty]"}, interval=lambda r: 0.05)
    with pytest.raises(JobFailed, match="sent no output"):
        runner.wait(rid)


def test_a_result_of_a_kind_no_node_reads_names_its_links_and_says_it_is_billed():
    from nodes.remote.job import no_outputs_text
    text = no_outputs_text("r-1", {"subtitles": "https://cdn.example/r-1/captions.srt", "n": 3})
    assert "subtitles: https://cdn.example/r-1/captions.srt" in text and "billed" in text
    assert output_urls({"subtitles": "https://cdn.example/r-1/captions.srt"}) == {}
    assert output_urls({"mesh": "https://cdn.example/r-1/model.glb"}) == {"3d": ["https://cdn.example/r-1/model.glb"]}
    assert "sent no output files" in no_outputs_text("r-1", {}) and "billed" in no_outputs_text("r-1", {})


def test_unknown_status_is_tolerated(sim, client):
    sim.fault("status", "result", times=3, message="warming_up")
    runner, rid, events = run(client, interval=lambda r: 0.05)
    assert runner.wait(rid).outputs["video"]
    assert any(e.raw_status == "warming_up" for e in events)


@pytest.mark.parametrize("shape", ["video", "videos", "image", "images", "video_url", "result_files"])
def test_all_output_shapes(sim, client, shape):
    runner, rid, _ = run(client, {**BODY, "prompt": f"x [sim:shape={shape}] [sim:n=2]"})
    result = runner.wait(rid)
    urls = [u for kind in result.outputs.values() for u in kind]
    assert len(urls) == (2 if shape.endswith("s") else 1)
    if shape in ("video_url", "result_files"):      # undocumented keys: told by the extension
        assert list(result.outputs) == ["video"]


def test_output_urls_accepts_every_shape():
    assert output_urls({"video": "a", "videos": ["b", "a"], "image": "c", "images": [{"url": "d"}]}) \
        == {"video": ["a", "b"], "image": ["c", "d"]}


def test_output_urls_without_the_documented_keys_go_by_extension_then_key():
    got = output_urls({"video_url": "https://cdn.example/r?sig=1",            # by its key
                       "result": {"files": ["https://cdn.example/a.PNG", "https://cdn.example/b.mp3"]},
                       "thumbnail": "https://cdn.example/t",                   # neither: left out
                       "log": "ftp://elsewhere.example/x.mp4"})                # not a web link
    assert got == {"video": ["https://cdn.example/r?sig=1"], "image": ["https://cdn.example/a.PNG"],
                   "audio": ["https://cdn.example/b.mp3"]}
    assert output_urls({"video": "https://cdn.example/v", "extra_url": "https://cdn.example/x.png"}) \
        == {"video": ["https://cdn.example/v"]}                             # documented keys win
    deep = {"a": [{"b": [f"https://x.example/{i}.png" for i in range(500)]}]}
    assert len(output_urls(deep).get("image", [])) <= 64                       # bounded


def test_cancel_while_queued_is_cancelled_and_not_billed(sim, client):
    sim.queue_s = 30
    flag = {"on": False}
    runner, rid, events = run(client, should_cancel=lambda: flag["on"])
    flag["on"] = True
    with pytest.raises(JobCancelled) as info:
        runner.wait(rid)
    assert info.value.billed is False
    assert len(sim.calls("cancel")) == 1
    assert events[-1].stage == "cancelled"


def test_cancel_while_running_is_not_cancellable_and_billed(sim, client):
    sim.queue_s, sim.run_s = 0, 30
    polls = {"n": 0}

    def cancel_after_first_poll():
        polls["n"] += 1
        return polls["n"] > 1
    runner, rid, events = run(client, should_cancel=cancel_after_first_poll)
    with pytest.raises(JobCancelled, match="not cancellable, still billed") as info:
        runner.wait(rid)
    assert info.value.billed is True and len(sim.calls("cancel")) == 1
    assert events[-1].stage == "not_cancellable"


def test_run_timeout_does_not_count_queue_time(sim, client, clock):
    sim.queue_s, sim.run_s = 1.0, 30
    t0 = clock.monotonic()
    runner, rid, events = run(client, run_timeout_s=0.5, interval=lambda r: 0.1)
    with pytest.raises(JobTimeout, match="over the 0 s limit .RUNCOMFY_TIMEOUT_MIN"):
        runner.wait(rid)
    assert clock.monotonic() - t0 >= 1.0 + 0.5  # the queued (simulated) second did not count
    assert any(e.stage == "queued" for e in events)


def test_a_job_queued_past_the_queue_limit_is_cancelled_and_not_billed(sim, client):
    sim.queue_s, sim.run_s = 30, 1
    runner, rid, events = run(client, queue_timeout_s=0.4, interval=lambda r: 0.1)
    with pytest.raises(JobFailed, match="in RunComfy's queue.*RUNCOMFY_QUEUE_TIMEOUT_MIN.*not billed") as info:
        runner.wait(rid)
    assert (info.value.status, info.value.cost) == ("cancelled", 0.0)
    assert len(sim.calls("cancel")) == 1 and sim.jobs[rid].state(sim.clock.now()) == "cancelled"


def test_a_queued_job_that_will_not_cancel_is_waited_on_then_time_is_bounded(sim, client):
    sim.queue_s, sim.run_s = 30, 1
    sim.fault("error", "cancel", times=-1, status=400, code=400004, message="no")
    runner, rid, events = run(client, queue_timeout_s=0.4, interval=lambda r: 0.1)
    with pytest.raises(JobTimeout, match="still queued .* could not be cancelled; stopped waiting"):
        runner.wait(rid)
    assert len(sim.calls("cancel")) == 1                 # tried once, not at every poll
    assert any("did not cancel" in (e.message or "") for e in events)


def test_no_redirect_is_followed_with_the_token(sim, client):
    import requests as rq
    # a status answer that redirects elsewhere must not be followed
    rid = submit_one(client)
    session = client.transport.session
    original = session.send

    def redirecting(prepared, **kw):
        resp = rq.models.Response()
        resp.status_code, resp._content, resp.raw = 302, b"", io.BytesIO(b"")
        resp.headers["Location"] = sim.second_url + "/steal"
        return resp
    session.send = redirecting
    with pytest.raises(ApiError, match="redirect"):
        client.status(rid)
    session.send = original
    assert sim.calls(role="second") == []


def test_queue_position_counts_the_jobs_ahead(sim, client):
    sim.queue_s = 30
    first, second = submit_one(client), submit_one(client)
    assert client.status(first)["queue_position"] == 1
    assert client.status(second)["queue_position"] == 2
    client.cancel(first)
    assert client.status(second)["queue_position"] == 1
