"""The journal's table layout, its version (``PRAGMA user_version``) and migrations.

Version 1 (pack 0.1) kept one row per request id with ``videos`` / ``images`` columns
and unanswered submits in a separate ``uncertain`` table.  Version 2 keeps one row per
*intent*: a row exists before the request id is known, outputs of every kind live in
one JSON column, and the cost and estimate sit beside them.  Version 3 adds who ran a job
(``member``) and where (``machine``), as the shared PostgreSQL journal records them.
"""
from __future__ import annotations

import json

VERSION = 3

TABLES = """
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id  TEXT UNIQUE,                 -- NULL until the service answers the submit
    fingerprint TEXT NOT NULL,
    model_id    TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    owner       TEXT NOT NULL DEFAULT '',    -- host:pid:token of the process submitting
    claim_until REAL,                        -- a claim still 'submitting' after this is dead
    outputs     TEXT NOT NULL DEFAULT '{}',  -- {"video": [url, ...], "image": [...], ...}
    files       TEXT NOT NULL DEFAULT '[]',  -- local paths, one per url, in url order
    cost        REAL,
    estimate    REAL,
    error       TEXT NOT NULL DEFAULT '',
    member      TEXT NOT NULL DEFAULT '',    -- who ran it (RUNCOMFY_MEMBER)
    machine     TEXT NOT NULL DEFAULT ''     -- where it was submitted
);
CREATE INDEX jobs_by_fingerprint ON jobs (fingerprint, created_at);
CREATE INDEX jobs_by_time ON jobs (created_at);
-- At most one claim per fingerprint: a second process cannot hold one too.
CREATE UNIQUE INDEX one_claim_per_inputs ON jobs (fingerprint) WHERE status = 'submitting';
"""

V3_COLUMNS = ("member TEXT NOT NULL DEFAULT ''", "machine TEXT NOT NULL DEFAULT ''")


def migrate_v2(db) -> None:
    """Version 2 → 3: who ran a job, and where (empty for older rows)."""
    for column in V3_COLUMNS:
        db.execute(f"ALTER TABLE jobs ADD COLUMN {column}")


def migrate_v1(db) -> None:
    """Version 1 → 3, row by row in Python (no reliance on sqlite's JSON functions)."""
    db.execute("ALTER TABLE jobs RENAME TO jobs_v1")
    db.execute("DROP INDEX IF EXISTS jobs_by_fingerprint")
    create(db)
    rows = db.execute("SELECT request_id, fingerprint, model_id, status, created_at, updated_at, "
                      "videos, images, files, cost, error FROM jobs_v1 ORDER BY created_at").fetchall()
    for r in rows:
        outputs = {k: v for k, v in (("video", json.loads(r[6])), ("image", json.loads(r[7]))) if v}
        db.execute("INSERT INTO jobs (request_id, fingerprint, model_id, status, created_at, "
                   "updated_at, outputs, files, cost, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (*r[:6], json.dumps(outputs), r[8], r[9], r[10]))
    for fp, model_id, at in db.execute("SELECT fingerprint, model_id, at FROM uncertain").fetchall():
        db.execute("INSERT INTO jobs (fingerprint, model_id, status, created_at, updated_at, error) "
                   "VALUES (?, ?, 'uncertain', ?, ?, ?)",
                   (fp, model_id, at, at, "The submit got no answer (recorded by an earlier version)."))
    db.execute("DROP TABLE jobs_v1")
    db.execute("DROP TABLE uncertain")


def create(db) -> None:
    for statement in TABLES.split(";"):
        if statement.strip():
            db.execute(statement)


INDEXES = ("CREATE INDEX IF NOT EXISTS jobs_by_model ON jobs (model_id, id)",)   # the jobs panel's filter


def ensure_schema(db) -> None:
    """Create or migrate the tables, inside the caller's transaction."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version == VERSION:
        ensure_indexes(db)
        return
    if version > VERSION:
        raise RuntimeError(f"journal version {version} is newer than this pack knows "
                           f"({VERSION}); update the pack")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if version == 2:
        migrate_v2(db)
    elif "jobs" in tables:
        migrate_v1(db)
    else:
        create(db)
    ensure_indexes(db)
    db.execute(f"PRAGMA user_version = {VERSION}")


def ensure_indexes(db) -> None:
    """Indexes that change no table (a journal of an earlier pack of this version gets them)."""
    for statement in INDEXES:
        db.execute(statement)
