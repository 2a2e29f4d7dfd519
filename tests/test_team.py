"""A team's journal on a real PostgreSQL: two or more "machines" (each its own user folder,
machine name and member, in this process or as child processes) sharing one database.

Every test counts the submits the simulator received.  Nothing here is mocked: the database
is a real server (tools/postgres.py) that tests stop, restart and point at wrong ports.
"""
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
import torch

from nodes import journal as journal_cli
from nodes.app import claims, obtain, recording
from nodes.app.pipeline import run_model
from nodes.app.plain_host import PlainHost
from nodes.app.runtime import Runtime
from nodes.app.status import StatusReporter as Reporter
from nodes.comfy.factory import default_values
from nodes.comfy.registry import build_mappings
from nodes.core.errors import SpendLimitReached, SubmitUncertain
from nodes.core.settings import Settings
from nodes.remote.journal import JournalError
from nodes.remote.journal_pg import PostgresJournal

ROOT = Path(__file__).resolve().parents[1]
CHILD = ROOT / "tests" / "child_run.py"
NODE = "RunComfy_Wan22_ImageToVideo"             # $0.05 a second, 5 s: $0.25 a job
CHILD_NODE = "RunComfy_Wan26_ImageToImage"       # what the child processes run (tests/child_run.py)
PRICED = ["wan-ai/wan-2-2/image-to-video"]
RID = 5                                          # its request_id output


@pytest.fixture
def team(pg_url, env, tmp_path, clock, client):
    """make(name, **settings) → a machine: its own user folder and runtime on the team journal."""
    env.queue_s, env.run_s = 0.0, 0.2
    made = []

    def make(name, member=None, **settings):
        user = tmp_path / name / "user"
        Settings(user).update(journal_url=pg_url, machine=name, member=member or f"{name}-artist",
                              **settings)
        rt = Runtime(PlainHost(user_dir=user, output_dir=tmp_path / name / "output"), clock=clock,
                     timeout=(2, 5))
        rt.prices.refresh(PRICED, client)
        made.append(rt)
        return rt
    yield make
    for rt in made:
        rt.close()


def inputs(rt, seed=1, **extra):
    cls = build_mappings(rt)[0][NODE]
    values = {**default_values(cls), "prompt": "a lighthouse", "seed": seed, **extra}
    torch.manual_seed(0)
    values["image"] = torch.rand(1, 400, 400, 3)
    return cls.SPEC, values


def run(rt, seed=1, reporter=None, **extra):
    return run_model(rt, *inputs(rt, seed, **extra), reporter or Reporter())


def run_as_child_does(rt):
    """The child's inputs (tests/child_run.py with --seed 1), run in this process."""
    cls = build_mappings(rt)[0][CHILD_NODE]
    values = default_values(cls)
    torch.manual_seed(0)
    values["image_1"], values["seed"] = torch.rand(1, 400, 400, 3), 1
    reporter = Reporter()
    return run_model(rt, cls.SPEC, values, reporter), reporter


def rows(pg_url, sql, *args):
    with psycopg.connect(pg_url) as db:
        return db.execute(sql, args).fetchall()


def child_env(tmp_path, name, pg_url, **more) -> dict:
    user = tmp_path / name / "user"
    return {**os.environ, "RUNCOMFY_USER_DIR": str(user), "RUNCOMFY_OUTPUT_DIR": str(tmp_path / name / "out"),
            "RUNCOMFY_JOURNAL_URL": pg_url, "RUNCOMFY_MACHINE": name, "RUNCOMFY_MEMBER": f"{name}-artist",
            **more}


def child(env: dict, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(CHILD), CHILD_NODE, "--seed", "1", *args], env=env,
                            stdout=subprocess.PIPE, text=True)


def answer(proc, timeout=90) -> dict:
    out, _ = proc.communicate(timeout=timeout)
    return json.loads(out.strip().splitlines()[-1])


def wait_for(condition, timeout=30.0):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


# -- one submit per inputs, across machines ----------------------------------------------------

def test_two_machines_running_identical_inputs_at_once_submit_once(pg_url, env, tmp_path):
    env.queue_s, env.run_s = 0.5, 20.0
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [child(child_env(tmp_path, name, pg_url), "--barrier", str(barrier)) for name in ("m1", "m2")]
    wait_for(lambda: len(list(barrier.glob("ready-*"))) == 2, timeout=120)
    (barrier / "go").touch()
    a, b = (answer(p) for p in procs)
    assert "request_id" in a and a["request_id"] == b["request_id"]
    assert len(env.calls("submit")) == 1
    assert rows(pg_url, "SELECT count(*) FROM runcomfy_jobs") == [(1,)]
    files = dict(rows(pg_url, "SELECT machine, files FROM runcomfy_files"))
    assert set(files) == {"m1", "m2"}                          # each machine downloaded its own copy
    assert all(Path(json.loads(f)[0]).is_file() for f in files.values())


def test_a_job_run_on_one_machine_is_reused_on_another_without_paying(team, env):
    one, two = team("m1"), team("m2")
    first = run(one)
    reporter = Reporter()
    again = run(two, reporter=reporter)
    assert len(env.calls("submit")) == 1 and again["result"][RID] == first["result"][RID]
    assert any(n.startswith("Reusing request") for n in reporter.notes)
    (entry,) = two.journal.recent()
    assert (entry.member, entry.machine) == ("m1-artist", "m1")   # who ran it, as both see it
    assert entry.local_files() and entry.files != one.journal.recent()[0].files


# -- the team's budget and each member's limit ----------------------------------------------------

def test_a_daily_limit_counts_the_whole_teams_spend(team, env):
    one, two = team("m1", daily_limit_usd=0.30), team("m2", daily_limit_usd=0.30)
    run(one, seed=1)                                            # $0.25 of the team's $0.30
    with pytest.raises(SpendLimitReached) as refused:
        run(two, seed=2)                                        # another machine, other inputs
    e = refused.value
    assert (e.scope, e.limit, e.spent, e.estimate) == ("team", 0.30, pytest.approx(0.25), 0.25)
    assert "The team's RunComfy spend today is $0.25" in str(e) and "Nothing was submitted" in str(e)
    assert "yours as m2-artist: $0.00" in str(e)
    assert len(env.calls("submit")) == 1


def test_the_teams_budget_in_the_journal_holds_for_machines_with_no_limit_of_their_own(team, env, pg_url):
    one, two = team("m1"), team("m2")
    one.journal.set_team_limit(0.30)
    run(one, seed=1)
    with pytest.raises(SpendLimitReached, match="team's daily limit of \\$0.30 \\(the team journal's budget"):
        run(two, seed=2)
    assert len(env.calls("submit")) == 1
    assert journal_cli.main(["--to", pg_url, "budget", "none"]) == 0     # cleared for everyone
    run(two, seed=2)
    assert len(env.calls("submit")) == 2


def test_a_member_limit_counts_only_that_members_jobs(team, env):
    ana, ben = team("m1", member="ana"), team("m2", member="ben", member_daily_limit_usd=0.30)
    run(ana, seed=1)
    run(ben, seed=2)                                            # ben's first: $0.25 of his $0.30
    with pytest.raises(SpendLimitReached) as refused:
        run(ben, seed=3)
    e = refused.value
    assert (e.scope, e.member, e.spent, e.other) == ("member", "ben", pytest.approx(0.25), pytest.approx(0.50))
    assert "Your RunComfy spend today (as ben) is $0.25" in str(e) and "the team's: $0.50" in str(e)
    run(ana, seed=4)                                            # ana has no limit of her own
    assert len(env.calls("submit")) == 3


def test_claims_on_two_machines_at_once_cannot_pass_the_team_limit_together(team, env):
    env.queue_s, env.run_s = 0.0, 2.0
    machines = [team(f"m{k}", daily_limit_usd=0.30) for k in range(1, 3)]
    go, done = threading.Barrier(16), []

    def one(k):
        go.wait()
        try:
            run(machines[k % 2], seed=10 + k)
            done.append("ran")
        except SpendLimitReached:
            done.append("refused")
    threads = [threading.Thread(target=one, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(done) == ["ran"] + ["refused"] * 15 and len(env.calls("submit")) == 1


def test_the_claim_and_its_limit_check_are_one_transaction_for_the_whole_team(pg_url):
    """Claims of two machines at the same instant, each check slow enough to overlap all
    others if they could: only as many pass as the budget holds."""
    stores = [PostgresJournal(pg_url, machine=f"m{k}", member=f"a{k}") for k in (1, 2)]
    go, mine = threading.Barrier(12), []

    def check(spend):
        time.sleep(0.05)                                        # every other claim runs meanwhile
        if spend.total + 0.25 > 0.60:
            raise SpendLimitReached(spent=spend.spent, running=spend.running, estimate=0.25,
                                    limit=0.60, where="test")

    def claim(k):
        go.wait()
        try:
            mine.append(stores[k % 2].claim([f"fp-{k}"], "m", f"m{k % 2 + 1}:1:{k}", 60, 0.25, check)[1])
        except SpendLimitReached:
            mine.append(False)
    threads = [threading.Thread(target=claim, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert mine.count(True) == 2 and len(mine) == 12            # $0.50 of $0.60: two claims
    for store in stores:
        store.close()


# -- machines that die, databases that go away ------------------------------------------------

def test_the_holder_killed_mid_poll_is_resumed_by_the_other_machine(team, env, pg_url, tmp_path):
    env.queue_s, env.run_s = 1.0, 1.0
    proc = child(child_env(tmp_path, "m1", pg_url), "--kill-at", "queued")
    assert proc.wait(timeout=60) == -signal.SIGKILL
    out, reporter = run_as_child_does(team("m2"))
    assert len(env.calls("submit")) == 1 and out["result"][0].shape[0] > 0
    assert any(n.startswith("Resuming request") for n in reporter.notes)


def test_a_claim_its_machine_stopped_renewing_is_taken_over_as_uncertain_never_resubmitted(team, env):
    dead, alive = team("m1"), team("m2")
    spec, values = inputs(alive)
    from nodes.app.plans import model_plan
    fingerprint = model_plan(alive, spec, values).fingerprint
    dead.journal.claim([fingerprint], spec.model_id, "m1:4242:gone", 1.0)   # then m1 lost power
    started = time.monotonic()
    with pytest.raises(SubmitUncertain):
        run(alive)
    assert 0.8 < time.monotonic() - started < 30               # waited for the claim to expire
    assert env.calls("submit") == []
    run(alive)                                                  # told once: the next run may pay
    assert len(env.calls("submit")) == 1


def test_a_claim_is_kept_alive_while_a_slow_submit_runs(team, env, monkeypatch):
    for module in (claims, obtain):
        monkeypatch.setattr(module, "CLAIM_TTL_S", 1.0)
    monkeypatch.setattr(claims, "BEAT_S", 0.2)
    env.fault("slow", "submit", delay=3.0)                      # three claim lifetimes
    one, two = team("m1"), team("m2")
    results = {}
    first = threading.Thread(target=lambda: results.update(one=run(one)))
    first.start()
    wait_for(lambda: one.journal.recent() and one.journal.recent()[0].status == "submitting")
    results["two"] = run(two)                                   # waits for m1's job, never calls it dead
    first.join(60)
    assert len(env.calls("submit")) == 1
    assert results["one"]["result"][RID] == results["two"]["result"][RID]


def test_the_database_stopped_while_a_job_runs_records_it_when_back(team, env, postgres, pg_url, monkeypatch):
    monkeypatch.setattr(recording, "MAX_S", 0.3)
    env.queue_s, env.run_s = 0.0, 1.5
    one = team("m1")

    stopped = []

    def sink(stage, text):
        if stage == "running" and not stopped:
            stopped.append(postgres.stop())
    out = run(one, reporter=Reporter(sink=sink))               # polled and fetched without it
    assert out["result"][0].shape[0] > 0 and one.recorder.waiting() > 0
    postgres.start()
    wait_for(lambda: one.recorder.waiting() == 0)
    (status, files), = rows(pg_url, "SELECT j.status, f.files FROM runcomfy_jobs j JOIN runcomfy_files f "
                                    "ON f.job_id = j.id")
    assert status == "completed" and Path(json.loads(files)[0]).is_file()
    reporter = Reporter()
    run(team("m2"), reporter=reporter)
    assert len(env.calls("submit")) == 1 and any(n.startswith("Reusing") for n in reporter.notes)


def test_the_database_restarted_between_claim_and_submit_pays_once(team, env, postgres):
    env.fault("hold", "submit", delay=2.0)                      # the job exists; the answer waits
    one = team("m1")
    restarted = threading.Thread(target=lambda: (wait_for(lambda: env.calls("submit")), postgres.restart()))
    restarted.start()
    first = run(one)
    restarted.join(30)
    wait_for(lambda: one.recorder.waiting() == 0)
    (entry,) = one.journal.recent()
    assert entry.request_id == first["result"][RID] and entry.status == "completed"
    run(team("m2"))
    assert len(env.calls("submit")) == 1


def test_an_unreachable_database_refuses_before_submitting_and_names_it(team, env, pg_url, caplog):
    closed = free_port()
    url = pg_url.replace(f":{pg_url.split(':')[3].split('/')[0]}/", f":{closed}/")
    one = team("m1")
    Settings(one.host.user_dir()).update(journal_url=url)
    with pytest.raises(JournalError) as refused:
        run(one)
    text = str(refused.value)
    assert f"127.0.0.1:{closed}/" in text and "nothing was submitted" in text
    password = psycopg.conninfo.conninfo_to_dict(url)["password"]
    assert password not in text and password not in caplog.text
    assert env.calls("submit") == []


def test_comfyui_starts_with_the_database_away(pg_url, monkeypatch):
    from nodes.comfy.entry import load
    monkeypatch.setenv("RUNCOMFY_JOURNAL_URL", pg_url.rsplit(":", 1)[0] + f":{free_port()}/none")
    started = time.monotonic()
    classes, _ = load()
    assert NODE in classes and time.monotonic() - started < 5   # nothing waits for the database


def test_a_journal_of_a_newer_pack_is_refused_and_left_alone(team, env, pg_url):
    PostgresJournal(pg_url, machine="m1", member="x").close()       # a pack of today made it
    with psycopg.connect(pg_url) as db:
        db.execute("UPDATE runcomfy_meta SET value = '7' WHERE key = 'schema_version'")
    with pytest.raises(JournalError, match="version 7, newer than this pack knows .*Update the RunComfy pack"):
        PostgresJournal(pg_url, machine="m9", member="x")
    assert rows(pg_url, "SELECT value FROM runcomfy_meta WHERE key = 'schema_version'") == [("7",)]
    assert env.calls("submit") == []


def test_without_the_driver_the_error_names_the_package(pg_url, monkeypatch):
    with monkeypatch.context() as patched, pytest.raises(JournalError) as refused:
        patched.setitem(sys.modules, "psycopg", None)           # as in a ComfyUI without it
        PostgresJournal(pg_url, machine="m1", member="x")
    assert 'pip install "psycopg[binary]"' in str(refused.value)
    assert "Nothing was submitted" in str(refused.value)


# -- moving to it, seeing it, keeping its secret ------------------------------------------------

def test_a_migrated_sqlite_journal_is_reused_by_the_other_machine(rt, env, client, pg_url, tmp_path, team):
    rt.prices.refresh(PRICED, client)
    local = run(rt)                                             # on this machine's sqlite journal
    user = rt.host.user_dir()
    for added in (1, 0):                                        # copying twice adds nothing
        assert journal_cli.main(["--to", pg_url, "--user-dir", str(user), "migrate"]) == 0
        assert rows(pg_url, "SELECT count(*) FROM runcomfy_jobs") == [(1,)]
    reporter = Reporter()
    out = run(team("m2"), reporter=reporter)
    assert len(env.calls("submit")) == 1 and out["result"][RID] == local["result"][RID]
    assert any(n.startswith("Reusing request") for n in reporter.notes)


def test_the_jobs_tab_shows_the_teams_jobs_and_spend_without_the_password(team, env, pg_url):
    from test_prices import SAME, call
    run(team("m1", member="ana"), seed=1)
    two = team("m2", member="ben", daily_limit_usd=5, member_daily_limit_usd=1)
    run(two, seed=2)
    [(code, data, text), (_, settings, settings_text)] = call(
        two, ("GET", "/runcomfy/jobs", {"headers": SAME}), ("GET", "/runcomfy/settings", {"headers": SAME}))
    password = psycopg.conninfo.conninfo_to_dict(pg_url)["password"]
    assert code == 200 and password not in text and password not in settings_text
    assert {(j["member"], j["machine"], j["here"]) for j in data["jobs"]} == {("ana", "m1", False),
                                                                             ("ben", "m2", True)}
    today = data["today"]
    assert (today["shared"], today["spent"], today["member"], today["member_spent"]) == (True, 0.5, "ben", 0.25)
    assert (today["team_limit"], today["member_limit"]) == (5.0, 1.0) and "password" not in today["journal"]
    (url_view,) = [v for v in settings["settings"] if v["key"] == "journal_url"]
    assert url_view["secret"] and "•••" in url_view["value"] and url_view["value"].endswith(pg_url.rsplit("/", 1)[1])


def test_load_result_of_a_job_another_machine_ran_downloads_it_without_paying(team, env):
    first = run(team("m1"))
    rid = first["result"][RID]
    two = team("m2")
    from nodes.comfy.load_result import request_plan
    from nodes.app.pipeline import finish
    reporter = Reporter()
    out = finish(two, request_plan(two, {"request_id": rid}), reporter, lambda: False)
    assert len(env.calls("submit")) == 1 and out["result"][0].shape[0] > 0
    assert any("From the journal" in n for n in reporter.notes)
    (entry,) = [e for e in two.journal.recent() if e.request_id == rid]
    assert entry.local_files() and entry.machine == "m1"       # downloaded here, run there


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_settings_route_never_echoes_the_journal_password(rt, pg_url):
    from test_prices import SAME, call
    password = psycopg.conninfo.conninfo_to_dict(pg_url)["password"]
    bad = pg_url.replace("postgresql://", "mysql://")
    [(c1, refused, t1), (c2, saved, t2)] = call(
        rt, ("POST", "/runcomfy/settings", {"headers": SAME, "json": {"journal_url": bad}}),
        ("POST", "/runcomfy/settings", {"headers": SAME, "json": {"journal_url": pg_url}}))
    assert c1 == 400 and "PostgreSQL address" in refused["error"] and password not in t1
    assert c2 == 200 and password not in t2 and rt.settings.journal_url() == pg_url


def test_the_connection_asks_for_tls_when_the_url_does(pg_url):
    """The test server has no certificate: a URL that requires TLS is refused, not sent in clear."""
    with pytest.raises(JournalError, match="SSL") as refused:
        PostgresJournal(pg_url + "?sslmode=require", machine="m1", member="x")
    assert psycopg.conninfo.conninfo_to_dict(pg_url)["password"] not in str(refused.value)
    PostgresJournal(pg_url + "?sslmode=disable", machine="m1", member="x").close()


def test_a_new_member_name_counts_from_the_next_job(team, env):
    one = team("m1", member="ana")
    run(one, seed=1)
    one.settings.update(member="bob")                            # saved in Settings → RunComfy
    run(one, seed=2)
    assert [e.member for e in one.journal.recent()] == ["bob", "ana"]
    assert one.journal.spend_today().member_total == pytest.approx(0.25)
