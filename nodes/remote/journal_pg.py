"""The journal in PostgreSQL: one journal and one budget for every ComfyUI of a team.

Chosen with RUNCOMFY_JOURNAL_URL.  What the sqlite journal promises across the processes of one
machine holds across machines:
  * a claim is one transaction holding an advisory lock that every claim takes, so two
    machines cannot both claim the same inputs, nor pass a daily limit together (the team's
    spend, this member's, and the team's budget are read inside it);
  * times are the database's clock (``clock_timestamp()``), so machines whose clocks differ
    agree on whose claim has expired; a claim lives ``ttl_s`` and is renewed by its holder's
    heartbeat, so a machine that died is recognised within that time;
  * downloaded files are per machine (``runcomfy_files``), and so is the download lease.

Connections are reused (a few, one per transaction at a time).  A transaction that fails on
a connection the server dropped (a restart) before its commit was sent is run once more on a
fresh one; a failed commit is never repeated (its outcome is unknown).  Every failure is a
JournalError naming the database as host:port/name, never with its password.  The driver
(psycopg 3) is imported only when this store is opened.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from contextlib import suppress

from ..core.dburl import redacted, scrubbed, where
from .journal import (LIVE, MAY_BILL, REJECTED, SUBMITTING, UNCERTAIN, UNCERTAIN_TOLD, Entry,
                      JournalError, Limit, Spend, day_start, entry_of)
from .pg_schema import CLAIM_LOCK, VERSION, NewerSchema, ensure_schema

log = logging.getLogger("runcomfy")

CONNECT_TIMEOUT_S = 5             # an unreachable database fails a job in seconds, not minutes
STATEMENT_TIMEOUT_MS = 15000      # no statement (nor a wait for the claim lock) hangs a job
IDLE_CONNECTIONS = 4
NOW = "EXTRACT(EPOCH FROM clock_timestamp())"
TEAM_LIMIT_KEY = "team_daily_limit_usd"
INSTALL = ("the PostgreSQL driver is not installed in ComfyUI's Python: run "
           "`python -m pip install \"psycopg[binary]\"` with that Python, then restart ComfyUI")
SELECT = (f"SELECT j.id, j.request_id, j.fingerprint, j.model_id, j.status, j.created_at, j.updated_at, "
          f"CASE WHEN j.owner <> '' THEN j.owner ELSE COALESCE(f.owner, '') END AS owner, "
          f"CASE WHEN j.owner <> '' THEN j.claim_until ELSE f.lease_until END AS claim_until, "
          f"j.outputs, COALESCE(f.files, '[]') AS files, j.cost, j.estimate, j.error, j.member, "
          f"j.machine, {NOW} AS now FROM runcomfy_jobs j LEFT JOIN runcomfy_files f "
          f"ON f.job_id = j.id AND f.machine = %(machine)s ")


def driver():
    try:
        import psycopg
        from psycopg.rows import dict_row
    except ImportError:
        return None, None
    return psycopg, dict_row


class PostgresJournal:
    shared = True

    def __init__(self, url: str, *, machine: str, member: str):
        self.url, self.machine, self.member = url, machine, member
        self.where = f"the PostgreSQL journal at {where(url)}"
        self.queries = 0                       # statements sent (the benchmark counts them)
        self._idle: list = []
        self._lock = threading.Lock()
        self._pg, self._rows = driver()
        if self._pg is None:
            raise JournalError(f"RunComfy's journal is set to a PostgreSQL database ({where(url)}), "
                               f"but {INSTALL}. Nothing was submitted.", where=self.where,
                               reason="psycopg is not installed", before_submit=True)
        self._run("open", self._open, before_submit=True)

    def _open(self, cur) -> None:
        try:
            ensure_schema(cur)
        except NewerSchema as e:
            raise JournalError(
                f"{self.where} holds a journal of version {e.found}, newer than this pack knows "
                f"({VERSION}); it was left as it is and nothing was submitted. Update the RunComfy "
                "pack on this machine to the version the rest of the team runs.",
                where=self.where, reason=f"schema version {e.found}", before_submit=True) from None

    # -- connections and transactions ----------------------------------------------------
    def _connect(self):
        return self._pg.connect(self.url, connect_timeout=CONNECT_TIMEOUT_S, row_factory=self._rows,
                                application_name="comfyui-runcomfy",
                                options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS} "
                                        f"-c lock_timeout={STATEMENT_TIMEOUT_MS}")

    def _take(self):
        """(a connection, whether it is new)."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), False
        return self._connect(), True

    def _give(self, conn) -> None:
        with self._lock:
            if len(self._idle) < IDLE_CONNECTIONS and not conn.closed:
                self._idle.append(conn)
                return
        conn.close()

    def _run(self, doing: str, work, *, before_submit: bool = False):
        """``work(cursor)`` in one transaction; its value.  JournalError on any database failure."""
        for attempt in (1, 2):
            try:
                conn, new = self._take()
            except self._pg.Error as e:
                raise self._error(e, doing, before_submit) from None
            committing = False
            try:
                with conn.cursor() as cur:
                    value = work(_Counted(cur, self))
                committing = True
                conn.commit()
            except self._pg.Error as e:
                with suppress(Exception):
                    conn.close()
                stale = isinstance(e, self._pg.OperationalError) and not new and not committing
                if stale and attempt == 1:
                    continue                   # the server dropped it (a restart): once more, fresh
                raise self._error(e, doing, before_submit, unknown=committing) from None
            except BaseException:
                with suppress(Exception):
                    conn.rollback()
                self._give(conn)
                raise
            self._give(conn)
            return value

    def _error(self, e: Exception, doing: str, before_submit: bool, unknown: bool = False) -> JournalError:
        reason = scrubbed(" ".join(str(e).split()) or type(e).__name__, self.url)[:300]
        if before_submit:
            outcome = ("its outcome is unknown, so nothing was submitted (a claim it may have left "
                       "expires by itself)" if unknown else "so nothing was submitted and nothing was paid")
        elif doing == "read":
            outcome = "so the jobs could not be read"
        else:
            outcome = "so this change of a job's record is not saved yet"
        return JournalError(f"RunComfy could not {doing} {self.where} ({reason}), {outcome}. Check "
                            "that the database is reachable from this machine and the journal URL "
                            f"({redacted(self.url)}) is right, then queue again.", where=self.where,
                            reason=reason, before_submit=before_submit)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            with suppress(Exception):
                conn.close()

    # -- claims --------------------------------------------------------------------------
    def claim(self, fps: list[str], model_id: str, owner: str, ttl_s: float,
              estimate: float | None = None, limit: Limit | None = None) -> tuple[Entry, bool]:
        """As SqliteJournal.claim, for every machine of the team (one claim at a time)."""
        def work(cur):
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (CLAIM_LOCK,))
            row = self._live(cur, fps)
            if row is not None:
                return entry_of(row, row["now"]), False
            if limit is not None:
                limit(self._spend(cur))
            cur.execute(f"INSERT INTO runcomfy_jobs (fingerprint, model_id, status, created_at, "
                        f"updated_at, owner, claim_until, estimate, member, machine) VALUES (%s, %s, "
                        f"%s, {NOW}, {NOW}, %s, {NOW} + %s, %s, %s, %s) RETURNING id",
                        (fps[0], model_id, SUBMITTING, owner, ttl_s, estimate, self.member, self.machine))
            return self._one(cur, "j.id = %(id)s", id=cur.fetchone()["id"]), True
        return self._run("record the job in", work, before_submit=True)

    def renew_claim(self, entry_id: int, owner: str, ttl_s: float) -> bool:
        return self._change(f"UPDATE runcomfy_jobs SET claim_until = {NOW} + %s WHERE id = %s AND "
                            "owner = %s AND status = %s", (ttl_s, entry_id, owner, SUBMITTING)) == 1

    def spend_today(self) -> Spend:
        return self._run("read", self._spend)

    def _spend(self, cur) -> Spend:
        """The team's and this member's spend since this machine's local midnight, and the
        team's budget (read in the caller's transaction)."""
        since = day_start(time.time())
        unpriced = "(cost IS NULL OR NOT cost >= 0) AND status = ANY(%(maybe)s)"
        cur.execute(f"SELECT COALESCE(SUM(CASE WHEN cost >= 0 THEN cost ELSE 0 END), 0) AS spent, "
                    f"COALESCE(SUM(CASE WHEN {unpriced} THEN GREATEST(COALESCE(estimate, 0), 0) ELSE 0 "
                    f"END), 0) AS running, COALESCE(SUM(CASE WHEN member = %(member)s AND cost >= 0 THEN "
                    f"cost ELSE 0 END), 0) AS member_spent, COALESCE(SUM(CASE WHEN member = %(member)s "
                    f"AND {unpriced} THEN GREATEST(COALESCE(estimate, 0), 0) ELSE 0 END), 0) AS "
                    f"member_running FROM runcomfy_jobs WHERE created_at >= %(since)s",
                    {"maybe": list(MAY_BILL), "member": self.member, "since": since})
        row = cur.fetchone()
        return Spend(float(row["spent"]), float(row["running"]), float(row["member_spent"]),
                     float(row["member_running"]), self._team_limit(cur), shared=True)

    def _team_limit(self, cur) -> float | None:
        cur.execute("SELECT value FROM runcomfy_meta WHERE key = %s", (TEAM_LIMIT_KEY,))
        row = cur.fetchone()
        return float(row["value"]) if row else None

    def team_limit(self) -> float | None:
        return self._run("read", self._team_limit)

    def set_team_limit(self, usd: float | None) -> None:
        """The team's daily budget (None: none), for every machine at once."""
        def work(cur):
            if usd is None:
                cur.execute("DELETE FROM runcomfy_meta WHERE key = %s", (TEAM_LIMIT_KEY,))
            else:
                cur.execute("INSERT INTO runcomfy_meta (key, value) VALUES (%s, %s) ON CONFLICT (key) "
                            "DO UPDATE SET value = EXCLUDED.value", (TEAM_LIMIT_KEY, repr(float(usd))))
        self._run("update", work)

    def find(self, fps: list[str]) -> Entry | None:
        def work(cur):
            row = self._live(cur, fps)
            return entry_of(row, row["now"]) if row else None
        return self._run("read", work, before_submit=True)

    def _live(self, cur, fps: list[str]):
        cur.execute(SELECT + "WHERE j.fingerprint = ANY(%(fps)s) AND j.status = ANY(%(live)s) "
                    "ORDER BY j.created_at DESC, j.id DESC LIMIT 1",
                    {"machine": self.machine, "fps": list(fps), "live": list(LIVE)})
        return cur.fetchone()

    def record_request(self, entry_id: int, request_id: str) -> None:
        self._change(f"UPDATE runcomfy_jobs SET request_id = %s, status = 'submitted', owner = '', "
                     f"claim_until = NULL, updated_at = {NOW} WHERE id = %s", (request_id, entry_id),
                     doing="record the request id in")

    def release(self, entry_id: int, error: str) -> None:
        self._update_claim(entry_id, REJECTED, error, None)

    def mark_uncertain(self, entry_id: int, error: str, owner: str | None = None) -> bool:
        return self._update_claim(entry_id, UNCERTAIN, error, owner)

    def acknowledge_uncertain(self, entry_id: int) -> bool:
        return self._change(f"UPDATE runcomfy_jobs SET status = %s, updated_at = {NOW} WHERE id = %s "
                            "AND status = %s", (UNCERTAIN_TOLD, entry_id, UNCERTAIN)) == 1

    def _update_claim(self, entry_id: int, status: str, error: str, owner: str | None) -> bool:
        sql = (f"UPDATE runcomfy_jobs SET status = %s, error = %s, owner = '', claim_until = NULL, "
               f"updated_at = {NOW} WHERE id = %s AND status = %s")
        args = [status, error, entry_id, SUBMITTING]
        if owner is not None:
            sql += " AND owner = %s"
            args.append(owner)
        return self._change(sql, args) == 1

    # -- after the submit ----------------------------------------------------------------
    def add_loaded(self, request_id: str, model_id: str = "unknown/model") -> None:
        self._change(f"INSERT INTO runcomfy_jobs (request_id, fingerprint, model_id, status, created_at, "
                     f"updated_at, member, machine) VALUES (%s, %s, %s, 'submitted', {NOW}, {NOW}, %s, %s) "
                     "ON CONFLICT DO NOTHING",
                     (request_id, "loaded:" + request_id, model_id, self.member, self.machine),
                     doing="record the request in")

    def set_status(self, request_id: str, status: str, error: str = "", cost=None) -> None:
        self._change(f"UPDATE runcomfy_jobs SET status = %s, error = %s, cost = COALESCE(%s, cost), "
                     f"updated_at = {NOW} WHERE request_id = %s", (status, error, cost, request_id))

    def record_outputs(self, request_id: str, outputs: dict, cost) -> None:
        self._change(f"UPDATE runcomfy_jobs SET status = 'completed', outputs = %s, cost = %s, "
                     f"updated_at = {NOW} WHERE request_id = %s", (json.dumps(outputs), cost, request_id))

    def record_files(self, request_id: str, files: list) -> None:
        """This machine's downloaded files (or [] to forget damaged ones); ends its lease."""
        self._change("INSERT INTO runcomfy_files (job_id, machine, files) SELECT id, %s, %s FROM "
                     "runcomfy_jobs WHERE request_id = %s ON CONFLICT (job_id, machine) DO UPDATE SET "
                     "files = EXCLUDED.files, owner = '', lease_until = NULL",
                     (self.machine, json.dumps([str(f) for f in files]), request_id))

    def lease_fetch(self, request_id: str, owner: str, ttl_s: float) -> bool:
        """The right to download this job's files on this machine (other machines download
        their own copies); True also when no row has this request id yet."""
        def work(cur):
            cur.execute(f"INSERT INTO runcomfy_files (job_id, machine, owner, lease_until) SELECT id, "
                        f"%(machine)s, %(owner)s, {NOW} + %(ttl)s FROM runcomfy_jobs WHERE request_id = "
                        f"%(rid)s ON CONFLICT (job_id, machine) DO UPDATE SET owner = EXCLUDED.owner, "
                        f"lease_until = EXCLUDED.lease_until WHERE runcomfy_files.owner IN ('', "
                        f"%(owner)s) OR runcomfy_files.lease_until IS NULL OR runcomfy_files.lease_until "
                        f"< {NOW}", {"machine": self.machine, "owner": owner, "ttl": ttl_s,
                                      "rid": request_id})
            if cur.rowcount == 1:
                return True
            cur.execute("SELECT 1 FROM runcomfy_jobs WHERE request_id = %s", (request_id,))
            return cur.fetchone() is None
        return self._run("update", work)

    def end_fetch(self, request_id: str, owner: str) -> None:
        self._change("UPDATE runcomfy_files SET owner = '', lease_until = NULL WHERE machine = %s AND "
                     "owner = %s AND job_id = (SELECT id FROM runcomfy_jobs WHERE request_id = %s)",
                     (self.machine, owner, request_id))

    def _change(self, sql: str, args, doing: str = "update") -> int:
        def work(cur):
            cur.execute(sql, args)
            return cur.rowcount
        return self._run(doing, work)

    # -- reading -------------------------------------------------------------------------
    def get(self, request_id: str) -> Entry | None:
        rows = self._select("WHERE j.request_id = %(rid)s", rid=request_id)
        return rows[0] if rows else None

    def get_id(self, entry_id: int) -> Entry | None:
        rows = self._select("WHERE j.id = %(id)s", id=entry_id)
        return rows[0] if rows else None

    def recent(self, limit: int = 50) -> list[Entry]:
        return self._select("ORDER BY j.created_at DESC, j.id DESC LIMIT %(limit)s", limit=limit)

    def page(self, limit: int, before: int | None = None, model: str | None = None,
             status: str | None = None) -> list[Entry]:
        """As SqliteJournal.page, for the whole team."""
        where = [clause for clause, value in (("j.id < %(before)s", before), ("j.model_id = %(model)s", model),
                                              ("j.status = %(status)s", status)) if value is not None]
        tail = ("WHERE " + " AND ".join(where) if where else "") + " ORDER BY j.id DESC LIMIT %(limit)s"
        return self._select(tail, before=before, model=model, status=status, limit=limit)

    def facets(self) -> dict:
        def work(cur):
            cur.execute("SELECT model_id, COUNT(*) AS n FROM runcomfy_jobs GROUP BY model_id")
            models = {r["model_id"]: r["n"] for r in cur.fetchall()}
            cur.execute("SELECT status, COUNT(*) AS n FROM runcomfy_jobs GROUP BY status")
            return {"models": models, "statuses": {r["status"]: r["n"] for r in cur.fetchall()}}
        return self._run("read", work)

    def spend_rows(self, since: float) -> list[tuple]:
        def work(cur):
            cur.execute("SELECT created_at, cost, estimate, status FROM runcomfy_jobs WHERE created_at >= %s",
                        (since,))
            return [(r["created_at"], r["cost"], r["estimate"], r["status"]) for r in cur.fetchall()]
        return self._run("read", work)

    def _select(self, tail: str, **args) -> list[Entry]:
        def work(cur):
            cur.execute(SELECT + tail, {"machine": self.machine, **args})
            return [entry_of(r, r["now"]) for r in cur.fetchall()]
        return self._run("read", work)

    def _one(self, cur, condition: str, **args) -> Entry:
        cur.execute(SELECT + "WHERE " + condition, {"machine": self.machine, **args})
        row = cur.fetchone()
        return entry_of(row, row["now"])

    # -- moving a machine's sqlite journal in ----------------------------------------------
    def copy_in(self, rows: list[dict], journal_id: str) -> int:
        """Jobs of a sqlite journal (rows by column name), with their files as this machine's;
        rows copied before (by origin) or whose request id is here already are left alone.
        The number of jobs added."""
        def work(cur):
            added = 0
            for r in rows:
                cur.execute("INSERT INTO runcomfy_jobs (request_id, fingerprint, model_id, status, "
                            "created_at, updated_at, outputs, cost, estimate, error, member, machine, "
                            "origin) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT "
                            "DO NOTHING RETURNING id",
                            (r["request_id"], r["fingerprint"], r["model_id"], copied_status(r["status"]),
                             r["created_at"], r["updated_at"], r["outputs"], r["cost"], r["estimate"],
                             r["error"], r.get("member") or self.member, r.get("machine") or self.machine,
                             f"sqlite:{journal_id}:{r['id']}"))
                got = cur.fetchone()
                if got is None:
                    continue
                added += 1
                if r["files"] and r["files"] != "[]":
                    cur.execute("INSERT INTO runcomfy_files (job_id, machine, files) VALUES (%s, %s, %s) "
                                "ON CONFLICT DO NOTHING", (got["id"], self.machine, r["files"]))
            return added
        return self._run("copy jobs into", work)


def copied_status(status: str) -> str:
    """A claim of the old journal is not a claim here (its process is gone): it is uncertain."""
    return UNCERTAIN if status == SUBMITTING else status


class _Counted:
    """A cursor that counts the statements it sends (the benchmark's queries per job)."""

    def __init__(self, cur, journal: PostgresJournal):
        self._cur, self._journal = cur, journal

    def execute(self, sql, args=None):
        self._journal.queries += 1
        return self._cur.execute(sql, args)

    def __getattr__(self, name):
        return getattr(self._cur, name)
