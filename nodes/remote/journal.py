"""The journal: every paid job, recorded *before* its submit is sent — what both stores share.

Two stores keep it and answer the same methods (``JobStore``), so the job code does not know
which one it talks to:
  * ``SqliteJournal`` (journal_sqlite.py), the default: ``<user>/runcomfy/journal.sqlite3``,
    shared by the ComfyUIs of one machine;
  * ``PostgresJournal`` (journal_pg.py), chosen with RUNCOMFY_JOURNAL_URL: one journal and one
    budget for a team's workstations or a render farm.

A job row is written in three steps:
  1. the intent (fingerprint, model, member, machine, time) with status ``submitting``, taken
     as a claim in one transaction that also checks the daily limits: of all processes (and
     machines) running the same inputs at once, exactly one submits, the others wait for its
     job and use its result;
  2. the request id, as soon as the service answers (status ``submitted``);
  3. the outputs and cost; the downloaded files (per machine: files are local).
A claim lives ``ttl_s`` seconds from the store's clock and is renewed while its holder lives
(a heartbeat); one not renewed is dead.  A submit whose outcome is unknown (no answer, killed
mid-submit) leaves the row ``uncertain``: the next run of the same inputs is told so instead
of paying again.  Rows are never deleted.
"""
from __future__ import annotations

import json
import logging
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from ..core.errors import RunComfyError

log = logging.getLogger("runcomfy")

SUBMITTING, UNCERTAIN, UNCERTAIN_TOLD, REJECTED = "submitting", "uncertain", "uncertain_told", "rejected"
PENDING = ("submitted", "queued", "running", "not_cancellable")
LIVE = (SUBMITTING, UNCERTAIN, *PENDING, "completed")   # worth finding again by fingerprint
MAY_BILL = (SUBMITTING, UNCERTAIN, UNCERTAIN_TOLD, *PENDING, "completed")


class JournalError(RunComfyError):
    """The journal cannot be read or written.  ``where``: the file, or the database as
    ``host:port/name`` (never its password).  ``before_submit``: it failed while a job was
    being claimed (so nothing was submitted); otherwise a job it concerns may exist and be paid."""

    def __init__(self, message: str, *, where: str, reason: str, before_submit: bool):
        super().__init__(message)
        self.where, self.reason, self.before_submit = where, reason, before_submit


@dataclass
class Entry:
    id: int
    request_id: str | None
    fingerprint: str
    model_id: str
    status: str
    created_at: float
    updated_at: float = 0.0
    owner: str = ""                 # host:pid:token of the process holding its claim or lease
    claim_expired: bool = False     # that claim or lease was not renewed in time: its holder is gone
    outputs: dict = field(default_factory=dict)   # output kind → [url, …], in the service's order
    files: list = field(default_factory=list)     # this machine's local paths, one per url
    cost: float | None = None
    estimate: float | None = None
    error: str = ""
    member: str = ""                # who ran it (RUNCOMFY_MEMBER)
    machine: str = ""               # where it was submitted

    @property
    def urls(self) -> list[str]:
        return [u for kind in self.outputs for u in self.outputs[kind]]

    def urls_of(self, kind: str) -> list[str]:
        return list(self.outputs.get(kind, []))

    def local_files(self) -> list[Path]:
        """Downloaded files that are still on disk, in url order (empty if any is gone)."""
        paths = [Path(p) for p in self.files]
        ok = paths and len(paths) == len(self.urls) and all(p.is_file() for p in paths)
        return paths if ok else []


def entry_of(row: dict, now: float) -> Entry:
    """A row (by column name) as an Entry; ``now`` on the store's clock decides whether its
    claim has expired."""
    until = row.get("claim_until")
    return Entry(row["id"], row["request_id"], row["fingerprint"], row["model_id"], row["status"],
                 row["created_at"], row["updated_at"], row["owner"] or "",
                 until is not None and now > until, json.loads(row["outputs"] or "{}"),
                 json.loads(row["files"] or "[]"), row["cost"], row["estimate"], row["error"] or "",
                 row.get("member") or "", row.get("machine") or "")


@dataclass(frozen=True)
class Spend:
    """Today's spend as a claim sees it: costs the service reported (``spent``) and the
    estimates of jobs that may still bill (``running``), for everyone sharing the journal
    and for this member; ``team_limit``: the budget the shared journal holds (None: none)."""
    spent: float = 0.0
    running: float = 0.0
    member_spent: float = 0.0
    member_running: float = 0.0
    team_limit: float | None = None
    shared: bool = False            # the journal is a team's (PostgreSQL)

    @property
    def total(self) -> float:
        return self.spent + self.running

    @property
    def member_total(self) -> float:
        return self.member_spent + self.member_running


Limit = Callable[[Spend], None]     # raises SpendLimitReached to refuse a claim


class JobStore(Protocol):
    """What the job code asks of a journal (both stores answer it)."""
    where: str
    shared: bool

    def claim(self, fps: list[str], model_id: str, owner: str, ttl_s: float,
              estimate: float | None = None, limit: Limit | None = None) -> tuple[Entry, bool]: ...
    def renew_claim(self, entry_id: int, owner: str, ttl_s: float) -> bool: ...
    def spend_today(self) -> Spend: ...
    def find(self, fps: list[str]) -> Entry | None: ...
    def record_request(self, entry_id: int, request_id: str) -> None: ...
    def release(self, entry_id: int, error: str) -> None: ...
    def mark_uncertain(self, entry_id: int, error: str, owner: str | None = None) -> bool: ...
    def acknowledge_uncertain(self, entry_id: int) -> bool: ...
    def add_loaded(self, request_id: str, model_id: str = "unknown/model") -> None: ...
    def set_status(self, request_id: str, status: str, error: str = "", cost=None) -> None: ...
    def record_outputs(self, request_id: str, outputs: dict, cost) -> None: ...
    def record_files(self, request_id: str, files: list) -> None: ...
    def lease_fetch(self, request_id: str, owner: str, ttl_s: float) -> bool: ...
    def end_fetch(self, request_id: str, owner: str) -> None: ...
    def get(self, request_id: str) -> Entry | None: ...
    def get_id(self, entry_id: int) -> Entry | None: ...
    def recent(self, limit: int = 50) -> list[Entry]: ...
    def page(self, limit: int, before: int | None = None, model: str | None = None,
             status: str | None = None) -> list[Entry]: ...
    def facets(self) -> dict: ...
    def spend_rows(self, since: float) -> list[tuple]: ...


def day_start(now: float) -> float:
    """Midnight of the local calendar day of ``now``."""
    t = time.localtime(now)
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))


def spend_parts(cost, estimate, status) -> tuple[float, float]:
    """One job's (charged, running) as the daily limit counts them (the stores' SQL says the
    same): the cost the service reported, else its estimate while it may still bill."""
    if cost is not None and cost >= 0:
        return float(cost), 0.0
    if status in MAY_BILL:
        return 0.0, max(float(estimate or 0.0), 0.0)
    return 0.0, 0.0


def day_starts(days: int, now: float) -> list[float]:
    """The local midnights of the ``days`` days up to today's, oldest first."""
    starts = [day_start(now)]
    for _ in range(days - 1):
        starts.insert(0, day_start(starts[0] - 3600))     # the day before (DST-proof)
    return starts


def daily_spend(rows, days: int, now: float) -> list[dict]:
    """Spend per local calendar day, oldest first, for the ``days`` days up to today's;
    ``rows``: (created_at, cost, estimate, status) of jobs created since the first day."""
    starts = day_starts(days, now)
    totals = [[0.0, 0.0] for _ in starts]
    for created_at, cost, estimate, status in rows:
        day = bisect_right(starts, created_at) - 1
        if day >= 0:
            charged, running = spend_parts(cost, estimate, status)
            totals[day][0] += charged
            totals[day][1] += running
    return [{"day": start, "spent": round(c + r, 4), "charged": round(c, 4), "running": round(r, 4)}
            for start, (c, r) in zip(starts, totals)]


def quietly(fn, *args, default=None):
    """A journal write that must not stop a paid job from being fetched: logged, not raised."""
    try:
        return fn(*args)
    except JournalError as e:
        log.warning("RunComfy: %s", e)
        return default


def recording_events(write, rid: str, on_event):
    """Job events go to ``on_event``, and each change of stage to ``write(rid, stage)``."""
    last = {"stage": None}

    def handle(e):
        if e.stage in ("queued", "running") and e.stage != last["stage"]:
            last["stage"] = e.stage
            write(rid, e.stage)
        on_event(e)
    return handle
