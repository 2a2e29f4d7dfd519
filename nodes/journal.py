"""The journal: every paid job, recorded before polling begins, in sqlite.

It lives in the ComfyUI user folder (``<user>/runcomfy/journal.sqlite3``) and survives
restarts and crashes.  A job is found again by the fingerprint of its inputs (model id
plus the exact request body, image contents included), so running the same inputs
again resumes the pending job or reuses the finished result instead of paying twice.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import host

PENDING = ("submitted", "queued", "running", "not_cancellable")
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    request_id  TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    model_id    TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    videos      TEXT NOT NULL DEFAULT '[]',
    images      TEXT NOT NULL DEFAULT '[]',
    files       TEXT NOT NULL DEFAULT '[]',
    cost        REAL,
    error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_by_fingerprint ON jobs (fingerprint, created_at);
CREATE TABLE IF NOT EXISTS uncertain (
    fingerprint TEXT PRIMARY KEY,
    model_id    TEXT NOT NULL,
    at          REAL NOT NULL
);
"""


@dataclass
class Entry:
    request_id: str
    fingerprint: str
    model_id: str
    status: str
    created_at: float
    videos: list = field(default_factory=list)
    images: list = field(default_factory=list)
    files: list = field(default_factory=list)
    cost: float | None = None
    error: str = ""

    @property
    def urls(self) -> list[str]:
        return self.videos + self.images

    def local_files(self) -> list[Path]:
        """Downloaded files that are still on disk, in output order (empty if any is gone)."""
        paths = [Path(p) for p in self.files]
        return paths if paths and len(paths) == len(self.urls) and all(p.is_file() for p in paths) else []


def fingerprint(model_id: str, body: dict) -> str:
    canon = json.dumps({"model_id": model_id, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


class Journal:
    _lock = threading.Lock()      # one writer at a time inside this process

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else host.user_dir() / "journal.sqlite3"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self._connect() as db:
            # Once per file, not per connection: changing the journal mode can fail with
            # "database is locked" without waiting on the busy timeout.
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self):
        """A connection for one transaction (committed, or rolled back on error), then closed."""
        db = sqlite3.connect(self.path, timeout=30)
        try:
            with db:
                yield db
        finally:
            db.close()

    def _write(self, sql: str, args: tuple) -> None:
        with self._lock, self._connect() as db:
            db.execute(sql, args)

    def record_submitted(self, request_id: str, fp: str, model_id: str) -> None:
        now = time.time()
        self._write("INSERT OR REPLACE INTO jobs (request_id, fingerprint, model_id, status, "
                    "created_at, updated_at) VALUES (?, ?, ?, 'submitted', ?, ?)",
                    (request_id, fp, model_id, now, now))

    def set_status(self, request_id: str, status: str, error: str = "") -> None:
        self._write("UPDATE jobs SET status = ?, error = ?, updated_at = ? WHERE request_id = ?",
                    (status, error, time.time(), request_id))

    def record_outputs(self, request_id: str, videos: list, images: list, cost) -> None:
        self._write("UPDATE jobs SET status = 'completed', videos = ?, images = ?, cost = ?, "
                    "updated_at = ? WHERE request_id = ?",
                    (json.dumps(videos), json.dumps(images), cost, time.time(), request_id))

    def record_files(self, request_id: str, files: list) -> None:
        self._write("UPDATE jobs SET files = ?, updated_at = ? WHERE request_id = ?",
                    (json.dumps([str(f) for f in files]), time.time(), request_id))

    def get(self, request_id: str) -> Entry | None:
        rows = self._select("WHERE request_id = ?", (request_id,))
        return rows[0] if rows else None

    def find(self, fp: str) -> Entry | None:
        """The newest job for these inputs that is pending or completed (worth reusing)."""
        rows = self._select("WHERE fingerprint = ? AND status IN (?, ?, ?, ?, 'completed') "
                            "ORDER BY created_at DESC LIMIT 1", (fp, *PENDING))
        return rows[0] if rows else None

    def recent(self, limit: int = 50) -> list[Entry]:
        return self._select("ORDER BY created_at DESC LIMIT ?", (limit,))

    def _select(self, where: str, args: tuple) -> list[Entry]:
        with self._connect() as db:
            cur = db.execute("SELECT request_id, fingerprint, model_id, status, created_at, videos, "
                             f"images, files, cost, error FROM jobs {where}", args)
            return [Entry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), json.loads(r[6]),
                          json.loads(r[7]), r[8], r[9]) for r in cur.fetchall()]

    # A submit that got no answer may have created a paid job we cannot see.
    def mark_uncertain(self, fp: str, model_id: str) -> None:
        self._write("INSERT OR REPLACE INTO uncertain (fingerprint, model_id, at) VALUES (?, ?, ?)",
                    (fp, model_id, time.time()))

    def pop_uncertain(self, fp: str) -> float | None:
        """When these inputs had an unanswered submit, forget it and return its time."""
        with self._lock, self._connect() as db:
            row = db.execute("SELECT at FROM uncertain WHERE fingerprint = ?", (fp,)).fetchone()
            if row:
                db.execute("DELETE FROM uncertain WHERE fingerprint = ?", (fp,))
            return row[0] if row else None
