"""Never pay twice, never lose a paid job: real processes, real kills, real sqlite.

Every test counts the submits the simulator received.  The processes are real child
processes of the test sharing one user folder (two ComfyUI instances started with the
same --user-directory), killed with SIGKILL where the test says so.
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from nodes.app.pipeline import run_model
from nodes.app.status import StatusReporter as Reporter
from nodes.comfy.factory import default_values
from nodes.comfy.registry import build_mappings
from nodes.core.errors import InputError, RunComfyError, SubmitUncertain
from nodes.remote.journal import JournalError
from nodes.remote.journal_sqlite import SqliteJournal

ROOT = Path(__file__).resolve().parents[1]
CHILD = ROOT / "tests" / "child_run.py"
NODE = "RunComfy_Wan26_ImageToImage"


def node(rt):
    return build_mappings(rt)[0][NODE]


def values(rt, **extra):
    """The same inputs the child process uses."""
    cls = node(rt)
    vals = default_values(cls)
    torch.manual_seed(0)
    vals["image_1"] = torch.rand(1, 400, 400, 3)
    vals.update(extra)
    return vals


def run_here(rt, **extra):
    """The node run in this process, on the test's runtime (the child builds its own)."""
    return run_model(rt, node(rt).SPEC, values(rt, **extra), Reporter())


def child(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(CHILD), NODE, *args], env=os.environ.copy(),
                            stdout=subprocess.PIPE, text=True)


def answer(proc: subprocess.Popen, timeout=60) -> dict:
    out, _ = proc.communicate(timeout=timeout)
    return json.loads(out.strip().splitlines()[-1])


def wait_for(condition, timeout=20.0):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def journal_rows(rt) -> list:
    return rt.journal.recent(100)


# -- two processes, one user folder ----------------------------------------------------------

def test_two_processes_sharing_a_user_folder_submit_identical_inputs_once(rt, env, tmp_path):
    env.queue_s, env.run_s = 0.5, 20.0
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    first, second = child("--barrier", str(barrier)), child("--barrier", str(barrier))
    wait_for(lambda: len(list(barrier.glob("ready-*"))) == 2, timeout=120)
    (barrier / "go").touch()                                 # both start their run at once
    a, b = answer(first), answer(second)
    assert "request_id" in a and a["request_id"] == b["request_id"]    # one job for both
    submitted = [r for r in (a, b) if "submitting" in r["stages"]]
    other = b if submitted == [a] else a
    assert len(submitted) == 1
    # the race happened: the other run met the job while it was being submitted or still ran,
    # not after it had finished (then it would only have been reused)
    assert "waiting" in other["stages"] or any(n.startswith("Resuming") for n in other["notes"])
    assert len(env.calls("submit")) == 1
    assert len([e for e in journal_rows(rt) if e.request_id == a["request_id"]]) == 1
    assert len({e.fingerprint for e in journal_rows(rt)}) == len(journal_rows(rt)) == 1


def test_threads_racing_on_the_same_inputs_submit_once(rt):
    """Eight claims at the same instant on a fresh journal: exactly one wins."""
    journal = rt.journal
    barrier = threading.Barrier(8)
    wins, errors = [], []

    def claim(k):
        try:
            barrier.wait()
            entry, mine = journal.claim(["same-fp"], "m", f"host:1:{k}", 60)
            if mine:
                wins.append(entry.id)
        except Exception as e:   # noqa: BLE001 - collected for the assert
            errors.append(repr(e))
    threads = [threading.Thread(target=claim, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(wins) == 1
    assert [e.status for e in journal.recent()] == ["submitting"]


# -- killed or unanswered during the submit ---------------------------------------------------

def test_killed_during_the_submit_is_never_resubmitted_silently(rt, env):
    env.fault("hold", "submit", delay=30)    # the job is created, its answer never comes in time
    proc = child()
    wait_for(lambda: len(env.jobs) == 1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    (entry,) = journal_rows(rt)
    assert entry.status == "submitting" and entry.request_id is None   # the intent was on disk
    with pytest.raises(SubmitUncertain, match="stopped before RunComfy answered") as info:
        run_here(rt)
    assert info.value.earlier_at                             # the earlier run's submit, not a new one
    assert "press Queue again to submit anew" in str(info.value)
    assert len(env.calls("submit")) == 1                     # the rerun did not pay again
    run_here(rt)                                             # the user pressed Queue again
    assert len(env.calls("submit")) == 2


def test_a_gateway_504_after_the_job_was_created_is_uncertain(rt, env):
    env.fault("504", "submit")
    with pytest.raises(SubmitUncertain, match="HTTP 504") as first:
        run_here(rt)
    assert not first.value.earlier_at                        # this run's own submit
    assert len(env.jobs) == 1                                # it was created (and billed)
    with pytest.raises(SubmitUncertain, match="not confirmed") as second:
        run_here(rt)
    assert second.value.earlier_at                           # found in the journal, not sent again
    assert len(env.calls("submit")) == 1


def test_a_refused_submit_frees_the_claim_and_says_nothing_was_paid(rt, env):
    env.fault("error", "submit", status=400, code=400002, message="Insufficient balance")
    with pytest.raises(RunComfyError, match="nothing was charged"):
        run_here(rt)
    (entry,) = journal_rows(rt)
    assert entry.status == "rejected" and "balance" in entry.error
    run_here(rt)                                             # topped up: submits normally
    assert len(env.calls("submit")) == 2


# -- killed while polling or downloading ------------------------------------------------------

def test_killed_while_polling_is_resumed_and_paid_once(rt, env):
    env.queue_s, env.run_s = 1.0, 1.0
    proc = child("--kill-at", "queued")
    assert proc.wait(timeout=60) == -signal.SIGKILL
    reporter = Reporter()
    out = run_model(rt, node(rt).SPEC, values(rt), reporter)
    assert len(env.calls("submit")) == 1
    assert any(t.startswith("Resuming request") for _, t in reporter.lines)
    assert out["result"][0].shape[0] == 1


def test_killed_while_downloading_recovers_the_result_and_never_uses_the_partial_file(rt, env):
    env.queue_s, env.run_s = 0.1, 0.2
    env.fault("trickle", "file", delay=5)
    proc = child("--kill-at", "downloading")
    assert proc.wait(timeout=60) == -signal.SIGKILL
    folder = Path(os.environ["RUNCOMFY_OUTPUT_DIR"]) / "runcomfy"
    assert list(folder.glob("*.part"))                       # the dead download left one
    out = run_here(rt)
    assert len(env.calls("submit")) == 1 and len(env.calls("file")) == 2
    assert not list(folder.glob("*.part"))                   # cleaned up
    (saved,) = [p for p in folder.iterdir()]
    (entry,) = journal_rows(rt)
    assert entry.status == "completed" and [Path(f) for f in entry.files] == [saved]
    assert out["result"][0].shape[0] == 1


# -- a journal that cannot be written ---------------------------------------------------------

@contextmanager
def read_only(path: Path):
    """The journal file made unwritable for real: immutable for root (who ignores modes)."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)


def test_a_read_only_journal_submits_nothing_and_names_the_folder(rt, env):
    path = rt.journal.path
    with read_only(path):
        for _ in range(3):                                   # three presses of Queue
            with pytest.raises(JournalError) as info:
                run_here(rt)
            assert "readonly" in str(info.value) and str(path.parent) in str(info.value)
            assert "nothing was submitted and nothing was paid" in str(info.value)
    assert env.calls("submit") == []


def test_a_locked_journal_submits_nothing(rt, env, monkeypatch):
    monkeypatch.setattr(SqliteJournal, "busy_timeout_s", 0.5)
    path = rt.journal.path
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        f"db = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
        "db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(30)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(JournalError, match="locked.*nothing was submitted"):
            run_here(rt)
    finally:
        holder.kill()
        holder.wait()
    assert env.calls("submit") == []


class LocksJournalOnSubmit(Reporter):
    """Another program locks the journal the moment the submit is answered, for ``hold`` s."""

    def __init__(self, path, hold: float):
        super().__init__()
        self.path, self.hold, self.released = path, hold, threading.Event()

    def event(self, e):
        if e.stage == "submitted":
            locked = threading.Event()

            def holder():
                db = sqlite3.connect(self.path, isolation_level=None)
                db.execute("BEGIN EXCLUSIVE")
                locked.set()
                time.sleep(self.hold)
                db.execute("ROLLBACK")
                db.close()
                self.released.set()
            threading.Thread(target=holder, daemon=True).start()
            locked.wait(5)
        super().event(e)


def test_a_paid_job_the_journal_could_not_record_is_fetched_and_recorded_later(rt, env, monkeypatch, caplog):
    monkeypatch.setattr(SqliteJournal, "busy_timeout_s", 0.3)
    env.run_s = 3.0 * env.clock.scale       # the lock (1 real second) ends while it runs (3 s)
    reporter = LocksJournalOnSubmit(rt.journal.path, hold=1.0)
    done = []
    worker = threading.Thread(target=lambda: done.append(
        run_model(rt, node(rt).SPEC, values(rt), reporter)), daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the run never ended (waited for a download nobody does)"
    assert reporter.released.is_set() and len(env.calls("submit")) == 1
    rid = done[0]["result"][-1]
    note = next(n for n in reporter.notes if "could not record it yet" in n)
    assert f"Request {rid} was submitted and is billed" in note and "Load Result" in note
    assert rt.background.join(30)
    assert rt.journal.get(rid).status == "completed"        # the id reached the journal after all
    assert not [r for r in caplog.records if "nothing was submitted" in r.getMessage()]
    run_here(rt)                                             # the same inputs: reused, not paid again
    assert len(env.calls("submit")) == 1


def test_a_download_lease_for_a_request_the_journal_does_not_know_is_granted(tmp_path):
    journal = SqliteJournal(tmp_path / "j.sqlite3")
    assert journal.lease_fetch("never-recorded", "me", 60)


def test_a_corrupt_journal_is_kept_aside_and_a_new_one_started(rt, env, caplog):
    path = Path(os.environ["RUNCOMFY_USER_DIR"]) / "journal.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a database at all" * 100)
    run_here(rt)
    kept = list(path.parent.glob("journal.sqlite3.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"this is not a database")
    line = [r.getMessage() for r in caplog.records if "damaged" in r.getMessage()]
    assert len(line) == 1 and str(path) in line[0] and str(kept[0]) in line[0]
    assert [e.status for e in SqliteJournal(path).recent()] == ["completed"]


# -- values that cannot be sent ---------------------------------------------------------------

@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_nan_or_infinite_float_fails_before_any_request_naming_the_widget(rt, env, bad):
    cls = build_mappings(rt)[0]["RunComfy_Wan21_FusionX_ImageToVideo"]
    vals = {**default_values(cls), "image": torch.rand(1, 400, 400, 3)}
    float_widget = "guidance_scale"
    vals[float_widget] = bad
    with pytest.raises(InputError, match=f"widget '{float_widget}'.*finite number"):
        run_model(rt, cls.SPEC, vals, Reporter())
    assert env.log == []
    vals[float_widget] = 1.0                                 # a good value: no stale mark blocks it
    run_model(rt, cls.SPEC, vals, Reporter())
    assert len(env.calls("submit")) == 1


def test_text_that_cannot_be_encoded_fails_before_any_request(rt, env):
    with pytest.raises(InputError, match="widget 'prompt'.*cannot be sent"):
        run_here(rt, prompt="broken \ud800 paste")
    assert env.log == []


@pytest.mark.parametrize("token", ["test-\ntoken", "tëst-tökén-123", "test token 123"])
def test_a_token_that_cannot_go_in_a_header_is_refused_before_any_request(rt, env, monkeypatch, token):
    from nodes.core.errors import ConfigError
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", token)
    with pytest.raises(ConfigError, match="RUNCOMFY_API_TOKEN.*cannot be sent in an HTTP header"):
        run_here(rt)
    assert env.log == []
    assert journal_rows(rt) == []                            # no claim, nothing uncertain


# -- config and Load Result -------------------------------------------------------------------

def test_the_config_writer_never_follows_a_planted_symlink(rt, tmp_path):
    settings = rt.settings
    victim = tmp_path / "victim.json"
    victim.write_text('{"note": "keep me"}')                 # readable as a config: it is not refused
    folder = settings.config_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.tmp").symlink_to(victim)               # the old predictable temp path
    settings.config_path.symlink_to(victim)                  # and the file itself
    settings.set_token("rc_abcdefgh12345678")
    assert victim.read_text() == '{"note": "keep me"}'
    path = settings.config_path
    assert not path.is_symlink() and (path.stat().st_mode & 0o777) == 0o600
    assert settings.token_source() == ("rc_abcdefgh12345678", "config")
    assert not [p for p in folder.iterdir() if p.name.startswith(".config-")]   # no temp left


def test_load_result_turns_cancel_into_comfyuis_interrupt_without_cancelling(rt, env, client):
    from nodes.app.pipeline import execute
    from nodes.comfy.load_result import request_plan
    from nodes.core.errors import Interrupted
    env.queue_s = 30
    rid = client.submit("wan-ai/wan-2-6/image-to-image",
                        {"prompt": "x", "image_urls": ["https://example.com/a.png"]}).request_id
    with pytest.raises(Interrupted) as info:
        execute(rt, request_plan, {"request_id": rid}, Reporter(), should_cancel=lambda: True)
    assert type(info.value) is Interrupted                   # host.raise_interrupt, not a pack error
    assert env.calls("cancel") == []                         # loading never cancels a job
    assert rt.journal.get(rid).status in ("submitted", "queued")
