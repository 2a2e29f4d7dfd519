"""Journals written by earlier versions (tests/fixtures/journal/journal-v1.sqlite3 by pack 0.1,
journal-v2.sqlite3 by the pack before team journals, each made by that code) are migrated in
place, and the jobs they hold are still found by the inputs that made them."""
import shutil
import sqlite3
import time
from pathlib import Path

import pytest
import torch

from nodes.app.pipeline import run_model
from nodes.comfy.factory import default_values
from nodes.app.status import StatusReporter as Reporter
from nodes.inputs.fingerprint import legacy_fingerprint
from nodes.inputs.prepare import prepare_media
from nodes.inputs.request import assemble, scalar_values
from nodes.remote.journal_sqlite import SqliteJournal
from nodes.remote.sqlite_schema import VERSION
from nodes.comfy.registry import build_mappings

V1 = Path(__file__).parent / "fixtures" / "journal" / "journal-v1.sqlite3"
V2 = V1.with_name("journal-v2.sqlite3")


@pytest.fixture
def v1_journal(user_dirs):
    path = user_dirs / "user" / "journal.sqlite3"
    path.parent.mkdir(parents=True)
    shutil.copy(V1, path)
    return path


def test_a_v1_journal_is_migrated_with_every_row(v1_journal):
    journal = SqliteJournal(v1_journal)
    rows = {e.fingerprint: e for e in journal.recent()}
    assert set(rows) == {"fp-done", "fp-pending", "fp-img", "fp-unsure"}
    done = rows["fp-done"]
    assert done.status == "completed" and done.cost == 0.4
    assert done.outputs == {"video": ["https://cdn.example/v1/out.mp4"]}
    assert done.files == ["/gone/wan_out.mp4"]
    assert rows["fp-img"].outputs == {"image": ["https://cdn.example/a.png", "https://cdn.example/b.png"]}
    assert rows["fp-pending"].status == "running" and rows["fp-pending"].outputs == {}
    assert rows["fp-unsure"].status == "uncertain" and rows["fp-unsure"].request_id is None
    db = sqlite3.connect(v1_journal)
    assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "uncertain" not in tables and "jobs_v1" not in tables
    db.close()
    assert len(SqliteJournal(v1_journal).recent()) == 4                   # opening again changes nothing


def test_a_job_paid_before_the_upgrade_is_resumed_not_paid_again(rt, sim, monkeypatch, v1_journal, client):
    monkeypatch.setenv("RUNCOMFY_BASE_URL", sim.base_url)
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", sim.token)
    cls = build_mappings(rt)[0]["RunComfy_Wan26_ImageToImage"]
    values = default_values(cls)
    torch.manual_seed(0)
    values["image_1"] = torch.rand(1, 64, 64, 3)
    spec = cls.SPEC
    body = assemble(spec, scalar_values(spec, {k: v for k, v in values.items()}),
                    prepare_media(spec, values).urls)                # what pack 0.1 sent
    rid = client.submit(spec.model_id, body).request_id
    db = sqlite3.connect(v1_journal)                                 # ... and journaled (v1 rows)
    now = time.time()
    db.execute("INSERT INTO jobs (request_id, fingerprint, model_id, status, created_at, updated_at) "
               "VALUES (?, ?, ?, 'running', ?, ?)", (rid, legacy_fingerprint(spec.model_id, body),
                                                      spec.model_id, now, now))
    db.commit()
    db.close()
    reporter = Reporter()
    out = run_model(rt, spec, values, reporter)
    assert len(sim.calls("submit")) == 1                             # only the one made "before"
    assert out["result"][2] == rid
    assert any(t.startswith("Resuming request") for _, t in reporter.lines)


def test_a_v2_journal_gains_who_and_where_and_keeps_every_row(tmp_path):
    path = tmp_path / "journal.sqlite3"
    shutil.copy(V2, path)
    journal = SqliteJournal(path, machine="studio-7", member="ana")
    rows = {e.fingerprint: e for e in journal.recent()}
    assert {k: e.status for k, e in rows.items()} == {"fp-done": "completed", "fp-pending": "running",
                                                     "fp-unsure": "uncertain"}
    done = rows["fp-done"]
    assert (done.request_id, done.cost, done.files) == ("rid-done-0001", 0.4, ["/gone/v2_out.mp4"])
    assert done.outputs == {"video": ["https://cdn.example/v2/out.mp4"]}
    assert (done.member, done.machine) == ("", "")                 # not known for older rows
    assert journal.find(["fp-pending"]).request_id == "rid-pending-0002"
    entry, mine = journal.claim(["fp-new"], "m", "studio-7:1:x", 60)
    assert mine and (entry.member, entry.machine) == ("ana", "studio-7")
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION == 3
    db.close()
