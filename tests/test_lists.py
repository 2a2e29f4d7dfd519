"""Many jobs at once: list inputs run one job per item, together, checked before paying,
journaled one by one, under one rate limit and one memory budget.  The node is called the
way ComfyUI calls an INPUT_IS_LIST node: every input a list."""
import asyncio
import logging

import pytest
import torch

from nodes.app.board import Board
from nodes.app.pipeline import items_of
from nodes.comfy.factory import default_values
from nodes.core.errors import InputError, RunComfyError
from nodes.comfy.registry import build_mappings

WAN21 = "RunComfy_Wan21_ImageToVideo"


@pytest.fixture
def env(env):
    """The simulator as the service (conftest), with short jobs; each test's own runtime
    (``rt``) is a fresh pool and rate gate."""
    env.queue_s, env.run_s = 0.0, 0.5
    return env


def as_comfyui_passes(cls, **lists):
    """Every widget and socket as a list, as ComfyUI hands an INPUT_IS_LIST node its inputs."""
    values = {k: [v] for k, v in default_values(cls).items()}
    torch.manual_seed(0)
    values["image"] = [torch.rand(1, 64, 64, 3)]
    values.update(lists)
    values["unique_id"] = ["9"]
    return values


def run(cls, **lists):
    return asyncio.run(cls().run(**as_comfyui_passes(cls, **lists)))


def wan21(rt):
    return build_mappings(rt)[0][WAN21]


def test_items_follow_comfyuis_rule_a_shorter_list_repeats_its_last():
    assert items_of({"a": [1, 2, 3], "b": ["x"], "c": [7, 8]}) == [
        {"a": 1, "b": "x", "c": 7}, {"a": 2, "b": "x", "c": 8}, {"a": 3, "b": "x", "c": 8}]
    assert items_of({"a": [1]}) == [{"a": 1}]


def test_a_list_runs_one_job_per_item_together_and_returns_them_in_order(rt, env):
    env.run_s = 10.0                   # simulated seconds: long enough that jobs run one after
    cls = wan21(rt)                    # the other would show
    assert cls.INPUT_IS_LIST and all(cls.OUTPUT_IS_LIST)
    frames = [81, 97, 89, 100]
    out = run(cls, prompt=["a", "b", "c", "d"], number_of_frames=frames)
    names = dict(zip(cls.RETURN_NAMES, out["result"]))
    assert names["frame_count"] == frames                        # list order kept
    assert [f.shape[0] for f in names["frames"]] == frames
    assert len(env.calls("submit")) == 4
    jobs = sorted(env.jobs.values(), key=lambda j: j.submitted_at)
    assert jobs[-1].submitted_at < jobs[0].finishes_at          # all submitted before the first ended
    assert len(out["ui"]["images"]) == 4


def test_one_bad_item_fails_the_node_before_anything_is_paid(rt, env):
    cls = wan21(rt)
    with pytest.raises(InputError, match="Item 3 of 4: .*'number_of_frames' is 5000.*Nothing was submitted for any item"):
        run(cls, prompt=["ok", "ok too", "bad", "fine"], number_of_frames=[81, 81, 5000, 81])
    assert env.log == []


def test_requeueing_a_list_pays_only_for_the_items_that_changed(rt, env):
    cls = wan21(rt)
    prompts = [f"scene {i}" for i in range(6)]
    run(cls, prompt=prompts)
    assert len(env.calls("submit")) == 6
    run(cls, prompt=prompts)
    assert len(env.calls("submit")) == 6                        # all reused
    changed = prompts[:]
    changed[1], changed[4] = "scene one, at night", "scene four, in rain"
    run(cls, prompt=changed)
    assert len(env.calls("submit")) == 8                        # only the two that changed


def test_a_429_storm_pauses_every_job_and_no_submit_is_repeated(rt, env):
    cls = wan21(rt)
    env.run_s = 2.0
    env.fault("429", "result", times=12, retry_after=1)
    out = run(cls, prompt=[f"storm {i}" for i in range(10)])
    assert len(out["result"][0]) == 10                          # every job completed
    assert len(env.calls("submit")) == 10                       # none repeated
    limited = [e for e in env.log if e["endpoint"] == "result" and e["status"] == 429]
    assert len(limited) == 12
    assert rt.gate(env.base_url).held == 12                     # each 429 paused the one shared gate
    # (that a held gate keeps every job waiting its Retry-After: test_pacing.py, on a virtual clock)


def test_submits_are_paced_so_a_burst_is_not_a_burst_of_rejections(rt, sim, clock, monkeypatch):
    from simulator import Simulator
    limited = Simulator(sim.token, queue_s=0.0, run_s=0.3, max_side=160, submit_rate=5,
                        clock=clock).start()
    try:
        monkeypatch.setenv("RUNCOMFY_BASE_URL", limited.base_url)
        monkeypatch.setenv("RUNCOMFY_API_TOKEN", limited.token)
        monkeypatch.setenv("RUNCOMFY_MAX_CONCURRENT_JOBS", "32")
        # rt is this test's own runtime: a fresh pool (of 32) and rate gate, made on first use
        out = run(wan21(rt), prompt=[f"burst {i}" for i in range(30)], number_of_frames=[81])
        submits = limited.calls("submit")
        accepted = [e for e in submits if not e.get("rate_limited")]
        assert len(out["result"][0]) == 30 and len(accepted) == 30
        assert len(submits) - len(accepted) <= 6                # a few, not 30
    finally:
        limited.stop()


def test_concurrency_is_the_setting_not_the_core_count(rt, env, monkeypatch):
    monkeypatch.setenv("RUNCOMFY_MAX_CONCURRENT_JOBS", "2")
    # rt's pool is made on first use, from the setting
    env.run_s = 1.0
    run(wan21(rt), prompt=["p1", "p2", "p3", "p4"], number_of_frames=[81])
    jobs = sorted(env.jobs.values(), key=lambda j: j.submitted_at)
    assert jobs[2].submitted_at >= min(j.finishes_at for j in jobs[:2]) - 0.05   # waited for a slot
    assert rt.pool._max_workers == 2


def test_the_results_of_a_list_share_the_memory_budget(rt, env, monkeypatch):
    # each result: 81 frames of 320x192 ≈ 57 MiB as float; the budget fits two of the three
    monkeypatch.setenv("RUNCOMFY_MAX_RESULT_GB", str(130 / 1024))
    with pytest.raises(RunComfyError, match="1 of 3 jobs failed; the other 2 finished.*3 results of "
                                            "this list together.*frame_cap"):
        run(wan21(rt), prompt=["m1", "m2", "m3"])
    assert len(env.calls("submit")) == 3                        # paid: the jobs stay journaled
    out = run(wan21(rt), prompt=["m1", "m2", "m3"], frame_cap=[20])
    assert [f.shape[0] for f in out["result"][0]] == [20, 20, 20]
    assert len(env.calls("submit")) == 3                        # reused, not paid again


def test_the_node_shows_one_line_for_all_items(rt, env, caplog):
    caplog.set_level(logging.INFO, logger="runcomfy")
    rt.prices.refresh(["wan-ai/wan-2-1/image-to-video"], rt.client())
    run(wan21(rt), prompt=["s1", "s2", "s3"], number_of_frames=[81])
    lines = [r.getMessage() for r in caplog.records if " jobs: " in r.getMessage()]
    assert any("3 jobs: 3 waiting" in line for line in lines)
    assert any("running" in line for line in lines)
    assert lines[-1].startswith("3 jobs: 3 done · ≈ $")


def test_the_board_counts_states_and_the_price():
    board = Board(None, None, 4)
    for i, state in enumerate(["queued", "running", "running", "done"]):
        board.estimates[i] = 0.8
        board.states[i] = state
    assert board.line() == "4 jobs: 1 queued, 2 running, 1 done · ≈ $3.20"


def test_the_job_pool_is_bounded_daemon_threads_that_hand_back_errors():
    import threading
    import time as _time
    from nodes.remote.pool import DaemonPool
    pool = DaemonPool(3)
    running, peak, lock = [0], [0], threading.Lock()

    def job(k):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        _time.sleep(0.1)
        with lock:
            running[0] -= 1
        if k == 4:
            raise ValueError("item 4 failed")
        return k * 2

    futures = [pool.submit(job, k) for k in range(8)]
    assert [f.result(5) for f in futures if f is not futures[4]] == [0, 2, 4, 6, 10, 12, 14]
    with pytest.raises(ValueError, match="item 4 failed"):
        futures[4].result(5)
    assert peak[0] == 3 and len(pool._threads) == 3
    assert all(t.daemon for t in pool._threads)     # exit never waits for a polling job
