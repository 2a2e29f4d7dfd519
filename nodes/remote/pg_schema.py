"""The shared journal's tables in PostgreSQL, their version and migrations.

Version 1: ``runcomfy_jobs`` (one row per intent, as in sqlite, plus who ran it and where, and
``origin``: the sqlite row a migrated job came from, so copying a journal twice adds nothing),
``runcomfy_files`` (each machine's downloaded files of a job, and its download lease: files
are local) and ``runcomfy_meta`` (the schema version; the team's daily limit).

Every change of the tables runs in one transaction holding an advisory lock, so two ComfyUIs
starting together do not both create them, and a pack that finds a newer version than it
knows refuses to write (an older pack must not corrupt what a newer one relies on).
"""
from __future__ import annotations

VERSION = 1
SCHEMA_LOCK = 0x52434A31          # pg_advisory_xact_lock keys ("RCJ1" ...)
CLAIM_LOCK = 0x52434A32

V1 = """
CREATE TABLE runcomfy_jobs (
    id          BIGSERIAL PRIMARY KEY,
    request_id  TEXT UNIQUE,
    fingerprint TEXT NOT NULL,
    model_id    TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL,   -- seconds since 1970 on the database's clock
    updated_at  DOUBLE PRECISION NOT NULL,
    owner       TEXT NOT NULL DEFAULT '',    -- machine:pid:token of the process submitting
    claim_until DOUBLE PRECISION,            -- its claim is dead after this (renewed while it lives)
    outputs     TEXT NOT NULL DEFAULT '{}',
    cost        DOUBLE PRECISION,
    estimate    DOUBLE PRECISION,
    error       TEXT NOT NULL DEFAULT '',
    member      TEXT NOT NULL DEFAULT '',
    machine     TEXT NOT NULL DEFAULT '',
    origin      TEXT UNIQUE                  -- 'sqlite:<journal id>:<row id>' for migrated rows
);
CREATE INDEX runcomfy_jobs_by_fingerprint ON runcomfy_jobs (fingerprint, created_at);
CREATE INDEX runcomfy_jobs_by_time ON runcomfy_jobs (created_at);
CREATE INDEX runcomfy_jobs_by_model ON runcomfy_jobs (model_id, id);
CREATE UNIQUE INDEX runcomfy_one_claim_per_inputs ON runcomfy_jobs (fingerprint)
    WHERE status = 'submitting';
CREATE TABLE runcomfy_files (
    job_id      BIGINT NOT NULL REFERENCES runcomfy_jobs (id),
    machine     TEXT NOT NULL,
    files       TEXT NOT NULL DEFAULT '[]',  -- local paths on that machine, one per url
    owner       TEXT NOT NULL DEFAULT '',    -- the process downloading them now
    lease_until DOUBLE PRECISION,
    PRIMARY KEY (job_id, machine)
)
"""
MIGRATIONS = {0: V1}              # from version n: the statements that make version n + 1


class NewerSchema(Exception):
    """The database holds a journal of a version this pack does not know."""

    def __init__(self, found: int):
        super().__init__(found)
        self.found = found


def ensure_schema(cur) -> int:
    """Create or migrate the tables inside the caller's transaction; the version found before."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
    cur.execute("CREATE TABLE IF NOT EXISTS runcomfy_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    cur.execute("SELECT value FROM runcomfy_meta WHERE key = 'schema_version'")
    row = cur.fetchone()
    found = int(row["value"]) if row else 0
    if found > VERSION:
        raise NewerSchema(found)
    if found == VERSION:
        return found
    for version in range(found, VERSION):
        for statement in MIGRATIONS[version].split(";"):
            if statement.strip():
                cur.execute(statement)
    cur.execute("INSERT INTO runcomfy_meta (key, value) VALUES ('schema_version', %s) ON CONFLICT (key) "
                "DO UPDATE SET value = EXCLUDED.value", (str(VERSION),))
    return found
