"""The journal in sqlite (the default store): ``<user>/runcomfy/journal.sqlite3``.

It survives restarts and crashes and is shared by every ComfyUI process that uses that user
folder (one machine).  A claim is one ``BEGIN IMMEDIATE`` transaction; a unique index holds
one claim per inputs.  Writes are ``synchronous=FULL`` (an intent must survive a power cut as
well as a crash).  Any sqlite failure becomes a JournalError that names the file and what to
do; a file that is not a database any more is moved aside and replaced.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from .journal import (LIVE, MAY_BILL, REJECTED, SUBMITTING, UNCERTAIN, UNCERTAIN_TOLD, Entry,
                      JournalError, Limit, Spend, day_start, entry_of)
from .sqlite_schema import ensure_schema

log = logging.getLogger("runcomfy")

BUSY_TIMEOUT_S = 10.0
COLUMNS = ("id, request_id, fingerprint, model_id, status, created_at, updated_at, owner, "
           "claim_until, outputs, files, cost, estimate, error, member, machine")
NAMES = tuple(COLUMNS.split(", "))


class SqliteJournal:
    """One sqlite file.  Connections are short-lived: one per transaction."""

    shared = False                     # one machine's journal

    busy_timeout_s = BUSY_TIMEOUT_S    # how long a write waits for another process's lock

    def __init__(self, path: Path, *, machine: str = "", member: str = ""):
        self.path = Path(path)
        self.where = str(self.path)
        self.machine, self.member = machine, member
        self._lock = threading.Lock()      # one writer at a time inside this process
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise self._error(e, "create the folder for") from None
        with self._lock:
            self._open()

    # -- opening ------------------------------------------------------------------------
    def _open(self) -> None:
        try:
            self._prepare()
        except sqlite3.DatabaseError as e:
            if not is_corrupt(e):
                raise self._error(e, "open") from None
            self._move_aside(e)
            try:
                self._prepare()
            except sqlite3.Error as e2:
                raise self._error(e2, "start a new") from None

    def _prepare(self) -> None:
        """WAL mode (once per file: it cannot change inside a transaction, and changing it
        on every connection fails with 'database is locked'), then the schema."""
        with self._connect(immediate=True, first=self._set_wal) as db:
            ensure_schema(db)

    def _set_wal(self, db) -> None:
        """Switching a fresh file to WAL does not wait on the busy timeout: when another
        process or thread opens it at the same moment, try again for a while."""
        deadline = time.monotonic() + self.busy_timeout_s
        while db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _move_aside(self, why: Exception) -> None:
        """Keep a damaged journal next to the new one (never delete it) and say so once."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        kept = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 2
        while kept.exists():
            kept = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            n += 1
        try:
            for suffix in ("", "-wal", "-shm"):
                src = Path(str(self.path) + suffix)
                if src.exists():
                    src.replace(Path(str(kept) + suffix))
        except OSError as e:
            raise self._error(e, "move aside the damaged") from None
        log.warning("RunComfy: the journal %s was damaged (%s); kept it as %s and started a new one.",
                    self.path, why, kept)

    @contextmanager
    def _connect(self, immediate: bool = False, first=None):
        """A connection for one transaction (committed, or rolled back on error), then closed.
        ``first(db)`` runs before the transaction begins."""
        db = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        try:
            if first is not None:
                first(db)
            db.execute("PRAGMA synchronous=FULL")
            db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def _error(self, e: Exception, doing: str, before_submit: bool = True) -> JournalError:
        folder = self.path.parent
        reason = str(e) or type(e).__name__
        if "locked" in reason or "busy" in reason:
            advice = ("Another program (or another ComfyUI) holds it locked; close it or wait, "
                      "then queue again.")
        else:
            advice = (f"Make sure the file and its folder {folder} are writable by you (and the "
                      "disk is not full or read-only), then queue again.")
        outcome = ("so nothing was submitted and nothing was paid" if before_submit
                   else "so the jobs could not be read" if doing == "read"
                   else "so this change of a job's record is not saved yet")
        return JournalError(f"RunComfy could not {doing} its job journal {self.path} ({reason}), "
                            f"{outcome}. {advice}", where=self.where, reason=reason,
                            before_submit=before_submit)

    @contextmanager
    def _tx(self, doing: str, immediate: bool = True, before_submit: bool = False):
        try:
            with self._lock if immediate else _nolock(), self._connect(immediate) as db:
                yield db
        except sqlite3.Error as e:
            raise self._error(e, doing, before_submit) from None

    # -- claims: the intent, before the submit ---------------------------------------------
    def claim(self, fps: list[str], model_id: str, owner: str, ttl_s: float,
              estimate: float | None = None, limit: Limit | None = None) -> tuple[Entry, bool]:
        """Atomically: the live entry for these inputs, or a new ``submitting`` row of ours
        held for ``ttl_s`` seconds (renew_claim keeps it).

        ``fps`` are the fingerprints that mean "these inputs" (the first is written on a new
        row; the others find rows written by earlier versions).  ``limit(spend)`` is called
        inside the same transaction before a new row is written, so processes sharing the
        journal cannot pass a daily limit together; it raises to refuse.
        Returns (entry, mine).
        """
        now = time.time()
        with self._tx("record the job in", before_submit=True) as db:
            row = self._live(db, fps)
            if row is not None:
                return self._entry(row), False
            if limit is not None:
                limit(self._spend(db, day_start(now)))
            cur = db.execute("INSERT INTO jobs (fingerprint, model_id, status, created_at, updated_at, "
                             "owner, claim_until, estimate, member, machine) VALUES "
                             "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (fps[0], model_id, SUBMITTING, now, now, owner, now + ttl_s, estimate,
                              self.member, self.machine))
            return self._by_id(db, cur.lastrowid), True

    def renew_claim(self, entry_id: int, owner: str, ttl_s: float) -> bool:
        """The holder lives: its claim lasts ``ttl_s`` more seconds.  False: it is not its claim
        any more (taken over as dead, or ended)."""
        with self._tx("update") as db:
            return db.execute("UPDATE jobs SET claim_until = ? WHERE id = ? AND owner = ? AND status = ?",
                              (time.time() + ttl_s, entry_id, owner, SUBMITTING)).rowcount == 1

    def spend_today(self) -> Spend:
        """Today's spend (jobs created since local midnight)."""
        with self._tx("read", immediate=False) as db:
            return self._spend(db, day_start(time.time()))

    def _spend(self, db, since: float) -> Spend:
        """Costs the service reported, plus the estimates of jobs that may still bill:
        running, unconfirmed, or completed without a reported cost; for everyone and for this
        member.  A negative cost (never written now; rows of older versions may hold one)
        counts as unreported."""
        maybe = ",".join("?" * len(MAY_BILL))
        row = db.execute(
            f"SELECT COALESCE(SUM(CASE WHEN cost >= 0 THEN cost ELSE 0 END), 0), "
            f"COALESCE(SUM(CASE WHEN (cost IS NULL OR NOT cost >= 0) AND status IN ({maybe}) "
            f"THEN MAX(COALESCE(estimate, 0), 0) ELSE 0 END), 0), "
            f"COALESCE(SUM(CASE WHEN member = ? AND cost >= 0 THEN cost ELSE 0 END), 0), "
            f"COALESCE(SUM(CASE WHEN member = ? AND (cost IS NULL OR NOT cost >= 0) AND status IN "
            f"({maybe}) THEN MAX(COALESCE(estimate, 0), 0) ELSE 0 END), 0) FROM jobs "
            "WHERE created_at >= ?", (*MAY_BILL, self.member, self.member, *MAY_BILL, since)).fetchone()
        return Spend(float(row[0]), float(row[1]), float(row[2]), float(row[3]))

    def find(self, fps: list[str]) -> Entry | None:
        """The newest live entry (claimed, uncertain, pending or completed) for these inputs."""
        with self._tx("read", immediate=False, before_submit=True) as db:
            row = self._live(db, fps)
            return self._entry(row) if row else None

    @staticmethod
    def _live(db, fps: list[str]):
        marks = ",".join("?" * len(fps))
        states = ",".join("?" * len(LIVE))
        return db.execute(f"SELECT {COLUMNS} FROM jobs WHERE fingerprint IN ({marks}) AND status IN "
                          f"({states}) ORDER BY created_at DESC, id DESC LIMIT 1",
                          (*fps, *LIVE)).fetchone()

    def record_request(self, entry_id: int, request_id: str) -> None:
        """The service answered the submit: the job exists and is paid for."""
        with self._tx("record the request id in") as db:
            db.execute("UPDATE jobs SET request_id = ?, status = 'submitted', owner = '', "
                       "claim_until = NULL, updated_at = ? WHERE id = ?",
                       (request_id, time.time(), entry_id))

    def release(self, entry_id: int, error: str) -> None:
        """The service refused the submit: no job, nothing paid; the claim ends."""
        self._update_claim(entry_id, REJECTED, error, None)

    def mark_uncertain(self, entry_id: int, error: str, owner: str | None = None) -> bool:
        """The submit's outcome is unknown.  With ``owner``, only if that owner still holds
        the claim (a waiting process taking over a dead one's claim).  True if changed."""
        return self._update_claim(entry_id, UNCERTAIN, error, owner)

    def acknowledge_uncertain(self, entry_id: int) -> bool:
        """The user has been told; the next run may submit anew.  True for the one who told."""
        with self._tx("update") as db:
            cur = db.execute("UPDATE jobs SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
                             (UNCERTAIN_TOLD, time.time(), entry_id, UNCERTAIN))
            return cur.rowcount == 1

    def _update_claim(self, entry_id: int, status: str, error: str, owner: str | None) -> bool:
        sql = ("UPDATE jobs SET status = ?, error = ?, owner = '', claim_until = NULL, updated_at = ? "
               "WHERE id = ? AND status = ?")
        args = [status, error, time.time(), entry_id, SUBMITTING]
        if owner is not None:
            sql += " AND owner = ?"
            args.append(owner)
        with self._tx("update") as db:
            return db.execute(sql, args).rowcount == 1

    # -- after the submit ----------------------------------------------------------------
    def add_loaded(self, request_id: str, model_id: str = "unknown/model") -> None:
        """A request this journal never saw (RunComfy Load Result)."""
        now = time.time()
        with self._tx("record the request in") as db:
            db.execute("INSERT OR IGNORE INTO jobs (request_id, fingerprint, model_id, status, "
                       "created_at, updated_at) VALUES (?, ?, ?, 'submitted', ?, ?)",
                       (request_id, "loaded:" + request_id, model_id, now, now))

    def set_status(self, request_id: str, status: str, error: str = "", cost=None) -> None:
        """A job's state (and, when the service said what it charged, its cost)."""
        self._write("UPDATE jobs SET status = ?, error = ?, cost = COALESCE(?, cost), updated_at = ? "
                    "WHERE request_id = ?", (status, error, cost, time.time(), request_id))

    def record_outputs(self, request_id: str, outputs: dict, cost) -> None:
        self._write("UPDATE jobs SET status = 'completed', outputs = ?, cost = ?, updated_at = ? "
                    "WHERE request_id = ?", (json.dumps(outputs), cost, time.time(), request_id))

    def record_files(self, request_id: str, files: list) -> None:
        """The downloaded files (or [] to forget damaged ones); ends any download lease."""
        self._write("UPDATE jobs SET files = ?, owner = '', claim_until = NULL, updated_at = ? "
                    "WHERE request_id = ?", (json.dumps([str(f) for f in files]), time.time(), request_id))

    # -- download leases: one process downloads a job's files, the others wait -------------
    def lease_fetch(self, request_id: str, owner: str, ttl_s: float) -> bool:
        """Take (or renew) the right to download this job's files; False while another
        process holds an unexpired lease.  True when no row has this request id yet (its
        id could not be written): no other process can be downloading it then."""
        now = time.time()
        with self._tx("update") as db:
            cur = db.execute("UPDATE jobs SET owner = ?, claim_until = ? WHERE request_id = ? AND "
                             "(owner = '' OR owner = ? OR claim_until IS NULL OR claim_until < ?)",
                             (owner, now + ttl_s, request_id, owner, now))
            if cur.rowcount == 1:
                return True
            return db.execute("SELECT 1 FROM jobs WHERE request_id = ?", (request_id,)).fetchone() is None

    def end_fetch(self, request_id: str, owner: str) -> None:
        self._write("UPDATE jobs SET owner = '', claim_until = NULL WHERE request_id = ? AND owner = ?",
                    (request_id, owner))

    def _write(self, sql: str, args: tuple) -> None:
        with self._tx("update") as db:
            db.execute(sql, args)

    # -- reading -------------------------------------------------------------------------
    def get(self, request_id: str) -> Entry | None:
        rows = self._select("WHERE request_id = ?", (request_id,))
        return rows[0] if rows else None

    def get_id(self, entry_id: int) -> Entry | None:
        rows = self._select("WHERE id = ?", (entry_id,))
        return rows[0] if rows else None

    def recent(self, limit: int = 50) -> list[Entry]:
        return self._select("ORDER BY created_at DESC, id DESC LIMIT ?", (limit,))

    def page(self, limit: int, before: int | None = None, model: str | None = None,
             status: str | None = None) -> list[Entry]:
        """Newest first, ``limit`` jobs older than the job ``before`` (an id), of one model
        and one status when given: the jobs panel's pages."""
        where, args = [], []
        for clause, value in (("id < ?", before), ("model_id = ?", model), ("status = ?", status)):
            if value is not None:
                where.append(clause)
                args.append(value)
        tail = ("WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?"
        return self._select(tail, (*args, limit))

    def facets(self) -> dict:
        """{"models": {model id: jobs}, "statuses": {status: jobs}}: what the panel filters by."""
        with self._tx("read", immediate=False) as db:
            models = dict(db.execute("SELECT model_id, COUNT(*) FROM jobs GROUP BY model_id").fetchall())
            statuses = dict(db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())
        return {"models": models, "statuses": statuses}

    def spend_rows(self, since: float) -> list[tuple]:
        """(created_at, cost, estimate, status) of the jobs created since ``since``."""
        with self._tx("read", immediate=False) as db:
            return db.execute("SELECT created_at, cost, estimate, status FROM jobs WHERE created_at >= ?",
                              (since,)).fetchall()

    def rows(self) -> list[dict]:
        """Every job row as stored (column → value), oldest first: what a move to a team
        journal copies."""
        with self._tx("read", immediate=False) as db:
            rows = db.execute(f"SELECT {COLUMNS} FROM jobs ORDER BY id").fetchall()
        return [dict(zip(NAMES, r)) for r in rows]

    def _select(self, where: str, args: tuple) -> list[Entry]:
        with self._tx("read", immediate=False) as db:
            rows = db.execute(f"SELECT {COLUMNS} FROM jobs {where}", args).fetchall()
        return [self._entry(r) for r in rows]

    def _by_id(self, db, entry_id: int) -> Entry:
        return self._entry(db.execute(f"SELECT {COLUMNS} FROM jobs WHERE id = ?", (entry_id,)).fetchone())

    @staticmethod
    def _entry(row) -> Entry:
        return entry_of(dict(zip(NAMES, row)), time.time())


def is_corrupt(e: sqlite3.DatabaseError) -> bool:
    """A file that is not (or no longer) a database, as opposed to a locked or read-only one."""
    text = str(e).lower()
    return type(e) is sqlite3.DatabaseError or "malformed" in text or "not a database" in text


@contextmanager
def _nolock():
    yield
