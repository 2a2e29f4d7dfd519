"""The node's run path against the simulator: concurrency, Cancel, and never paying twice."""
import asyncio
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import torch

from nodes.app.pipeline import run_model
from nodes.core.errors import Interrupted, RunComfyError, SubmitUncertain
from nodes.comfy.factory import default_values
from nodes.remote.journal_sqlite import SqliteJournal
from nodes.app.pipeline import execute
from nodes.comfy.load_result import request_plan
from nodes.app.status import StatusReporter as Reporter

from conftest import node_class

ROOT = Path(__file__).resolve().parents[1]


def node(node_id="RunComfy_Wan26_ImageToImage", rt=None):
    return node_class(node_id, rt)


def load(rt, request_id, reporter, **options):
    """RunComfy Load Result's run, as the pipeline runs it."""
    return execute(rt, request_plan, {"request_id": request_id, **options}, reporter)


def values(cls, **extra):
    vals = default_values(cls)
    torch.manual_seed(0)
    vals["image_1" if "image_urls" in vals else "image"] = torch.rand(1, 400, 400, 3)
    vals.update(extra)
    return vals


def test_two_nodes_run_their_jobs_at_the_same_time(rt, env):
    env.queue_s, env.run_s = 0.5, 3.0     # wide enough to overlap on a loaded machine
    cls = node(rt=rt)

    async def both():
        return await asyncio.gather(cls().run(unique_id="1", **values(cls, seed=1)),
                                    cls().run(unique_id="2", **values(cls, seed=2)))
    first, second = asyncio.run(both())
    assert first["result"][2] != second["result"][2]        # two request ids
    jobs = sorted(env.jobs.values(), key=lambda j: j.submitted_at)
    # the second job was submitted before the first one finished: they overlapped
    assert jobs[1].submitted_at < jobs[0].finishes_at
    assert len(env.calls("submit")) == 2


def test_interrupt_while_queued_sends_exactly_one_cancel(rt, env):
    env.queue_s = 30
    cls = node(rt=rt)
    with pytest.raises(Interrupted):
        run_model(rt, cls.SPEC, values(cls), Reporter(), should_cancel=lambda: True)
    assert len(env.calls("cancel")) == 1 and len(env.calls("submit")) == 1
    (entry,) = rt.journal.recent()
    assert entry.status == "cancelled"


def test_cancel_while_running_keeps_fetching_the_paid_result(rt, env):
    env.queue_s, env.run_s = 0, 1.0
    cls = node(rt=rt)
    polls = {"n": 0}

    def cancel_after_first_poll():
        polls["n"] += 1
        return polls["n"] > 1
    reporter = Reporter()
    with pytest.raises(Interrupted):
        run_model(rt, cls.SPEC, values(cls), reporter, should_cancel=cancel_after_first_poll)
    assert "not cancellable, still billed — result kept" in [t for _, t in reporter.lines]
    assert rt.background.join(timeout=20)
    (entry,) = rt.journal.recent()
    assert entry.status == "completed" and entry.local_files()
    again = Reporter()
    out = run_model(rt, cls.SPEC, values(cls), again)
    assert len(env.calls("submit")) == 1                    # the re-run paid nothing
    assert out["result"][2] == entry.request_id
    assert any("no new charge" in t for _, t in again.lines)


CHILD = textwrap.dedent("""
    import os, sys, torch
    sys.path.insert(0, {root!r})
    from nodes.app.pipeline import run_model
    from nodes.app.plain_host import PlainHost
    from nodes.app.runtime import Runtime
    from nodes.app.status import StatusReporter as Reporter
    from nodes.comfy.factory import default_values
    from nodes.comfy.registry import build_mappings
    rt = Runtime(PlainHost())
    cls = build_mappings(rt)[0]["RunComfy_Wan26_ImageToImage"]
    vals = default_values(cls)
    torch.manual_seed(0)
    vals["image_1"] = torch.rand(1, 400, 400, 3)
    crash_at = sys.argv[1]
    def sink(stage, text):
        if stage == crash_at:
            os._exit(3)          # a crash: no cleanup, no goodbye
    run_model(rt, cls.SPEC, vals, Reporter(sink=sink))
""")


def run_child(crash_at: str) -> int:
    return subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT)), crash_at],
                          env=os.environ.copy(), timeout=60).returncode


def test_a_job_survives_a_crash_and_is_resumed_after_restart(rt, env):
    env.queue_s, env.run_s = 1.0, 1.0
    assert run_child("queued") == 3                     # died while polling
    assert len(env.calls("submit")) == 1
    cls = node(rt=rt)
    reporter = Reporter()
    out = run_model(rt, cls.SPEC, values(cls), reporter)
    assert len(env.calls("submit")) == 1                # resumed, not paid again
    assert any(t.startswith("Resuming request") for _, t in reporter.lines)
    assert out["result"][0].shape[0] == 1


def test_a_finished_job_is_reused_after_restart_without_network(rt, env):
    assert run_child("never") == 0                      # a full run in another process
    calls_before = len(env.log)
    cls = node(rt=rt)
    reporter = Reporter()
    out = run_model(rt, cls.SPEC, values(cls), reporter)
    assert len(env.log) == calls_before                 # no submit, no poll, no download
    assert tuple(out["result"][0].shape) == (1, 320, 320, 3)   # 1024² shrunk by the test simulator
    assert any(t.startswith("Reusing request") for _, t in reporter.lines)


def test_changing_one_pixel_or_the_seed_is_a_new_job(rt, env):
    cls = node(rt=rt)
    run_model(rt, cls.SPEC, values(cls), Reporter())
    vals = values(cls)
    vals["image_1"][0, 0, 0, 0] = 1.0 - vals["image_1"][0, 0, 0, 0]
    run_model(rt, cls.SPEC, vals, Reporter())
    run_model(rt, cls.SPEC, values(cls, seed=5), Reporter())
    assert len(env.calls("submit")) == 3


def test_same_inputs_in_two_nodes_at_once_pay_once(rt, env):
    env.queue_s, env.run_s = 0.3, 0.6
    cls = node(rt=rt)
    results = []
    same = values(cls)          # built once: torch's global RNG is not per thread
    threads = [threading.Thread(target=lambda: results.append(
        run_model(rt, cls.SPEC, same, Reporter()))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(env.calls("submit")) == 1
    assert results[0]["result"][2] == results[1]["result"][2]


def test_an_unanswered_submit_is_not_silently_repeated(rt, env):
    cls = node(rt=rt)
    env.fault("drop", "submit")
    with pytest.raises(SubmitUncertain):
        run_model(rt, cls.SPEC, values(cls), Reporter())
    with pytest.raises(RunComfyError, match="a paid job may exist"):
        run_model(rt, cls.SPEC, values(cls), Reporter())
    assert len(env.calls("submit")) == 1                # the second run did not submit
    run_model(rt, cls.SPEC, values(cls), Reporter())   # the user pressed Queue again
    assert len(env.calls("submit")) == 2


def test_bad_input_fails_before_any_request(rt, env):
    cls = node(rt=rt)
    with pytest.raises(RunComfyError, match="'negative_prompt' is 501 characters"):
        run_model(rt, cls.SPEC, values(cls, negative_prompt="x" * 501), Reporter())
    assert env.log == []


def test_load_result_reads_the_journal_without_any_request(rt, env):
    cls = node(rt=rt)
    first = run_model(rt, cls.SPEC, values(cls), Reporter())
    request_id = first["result"][2]
    calls_before = len(env.log)
    frames, fps, count, video, urls, rid, _audio, model = load(rt, request_id, Reporter())["result"]
    assert len(env.log) == calls_before                   # from the journal's local file
    assert rid == request_id and count == 1 and torch.equal(frames, first["result"][0])
    assert model is None                                # an image result has no 3D file


def test_load_result_fetches_a_request_this_machine_never_saw(rt, env, client):
    from nodes.core.errors import InputError
    rid = client.submit("wan-ai/wan-2-6/image-to-image",
                        {"prompt": "x", "image_urls": ["https://example.com/a.png"]}).request_id
    reporter = Reporter()
    out = load(rt, rid, reporter)
    assert out["result"][5] == rid and out["result"][0].shape[0] == 1
    assert len(env.calls("submit")) == 1 and len(env.calls("file")) == 1
    assert rt.journal.get(rid).local_files()
    with pytest.raises(InputError, match="'request_id' is empty"):
        load(rt, "  ", Reporter())


def test_load_result_from_disk_needs_no_token(rt, env, monkeypatch):
    cls = node(rt=rt)
    request_id = run_model(rt, cls.SPEC, values(cls), Reporter())["result"][2]
    monkeypatch.delenv("RUNCOMFY_API_TOKEN")
    assert load(rt, request_id, Reporter())["result"][5] == request_id


def test_video_node_status_walks_every_stage_in_order(rt, env):
    env.queue_s, env.run_s = 1.2, 1.5
    cls = node("RunComfy_Wan22_ImageToVideo", rt)
    reporter = Reporter()
    frames, fps, count, video, url, rid, _audio = run_model(rt, cls.SPEC, values(cls, prompt="x"), reporter)["result"]
    order = []
    for stage in reporter.stages:
        if stage in ("queued", "running", "downloading", "decoding", "done") and stage not in order:
            order.append(stage)
    assert order == ["queued", "running", "downloading", "decoding", "done"]
    assert count == frames.shape[0] == 81 and fps == 16.0 and url.endswith(".mp4")
    saved = list((Path(os.environ["RUNCOMFY_OUTPUT_DIR"]) / "runcomfy").glob("*.mp4"))
    assert len(saved) == 1 and saved[0].name.startswith("wan-2-2-image-to-video_")


def test_a_corrupt_result_is_kept_and_fetched_again_without_paying(rt, env):
    from nodes.core.errors import DecodeError
    cls = node("RunComfy_Wan22_ImageToVideo", rt)
    env.fault("corrupt", "file")
    with pytest.raises(DecodeError) as info:
        run_model(rt, cls.SPEC, values(cls, prompt="x"), Reporter())
    assert ".mp4" in str(info.value)                    # the message names the kept file
    out = run_model(rt, cls.SPEC, values(cls, prompt="x"), Reporter())
    assert out["result"][2] == 81
    assert len(env.calls("submit")) == 1 and len(env.calls("file")) == 2
    assert len(list((Path(os.environ["RUNCOMFY_OUTPUT_DIR"]) / "runcomfy").glob("*.mp4"))) == 2


def test_a_bad_image_fails_before_any_request(rt, env):
    cls = node("RunComfy_Wan22_ImageToVideo", rt)
    with pytest.raises(RunComfyError, match="batch of 3"):
        run_model(rt, cls.SPEC, values(cls, prompt="x", image=torch.rand(3, 400, 400, 3)), Reporter())
    with pytest.raises(RunComfyError, match="2400x1350 px"):
        run_model(rt, cls.SPEC, values(cls, prompt="x", image=torch.rand(1, 1350, 2400, 3),
                                        fit_image_to_limits=False), Reporter())
    assert env.log == []


def test_result_names_never_overwrite_an_existing_file(tmp_path):
    from nodes.results.files import free_path
    target = tmp_path / "wan_20261121-101500_1a2b3c4d.mp4"
    assert free_path(target) == target
    target.write_bytes(b"kept")
    assert free_path(target).name == "wan_20261121-101500_1a2b3c4d-2.mp4"
    (tmp_path / "wan_20261121-101500_1a2b3c4d-2.mp4").write_bytes(b"kept too")
    assert free_path(target).name == "wan_20261121-101500_1a2b3c4d-3.mp4"


def test_a_fresh_journal_opened_by_several_nodes_at_once_never_says_locked(tmp_path):
    """Nodes starting together each open the journal; the first opening sets WAL mode.
    (Switching the mode on every connection failed with 'database is locked' in ~5% of rounds.)"""
    errors = []
    for round_ in range(150):
        path = tmp_path / f"journal-{round_}.sqlite3"
        barrier = threading.Barrier(6)

        def node_run(k):
            try:
                barrier.wait()
                journal = SqliteJournal(path)
                journal.claim([f"fp{k}"], "m", "owner", 0)
                journal.find([f"fp{k}"])
            except Exception as e:           # noqa: BLE001 - collected for the assert
                errors.append(repr(e))
        threads = [threading.Thread(target=node_run, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert len(SqliteJournal(tmp_path / "journal-0.sqlite3").recent()) == 6
