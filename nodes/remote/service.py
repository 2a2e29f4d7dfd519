"""The job service: the one object per process that owns the journal, the submit claims,
the downloads and the fetches that outlive a Cancel.

Money rules, in the order a run meets them:
  * the same inputs (by fingerprint) that already have a job reuse or resume it, before any
    input is encoded or any token is needed;
  * otherwise every input is checked and encoded (Ticket.prepare), then the intent is
    written to the journal as a claim, and only then is the submit sent.  If the journal
    cannot be written, nothing is sent;
  * a claim is exclusive across threads and processes sharing the user folder: a second
    run of the same inputs waits for the first's job and reuses it;
  * a submit whose outcome is unknown (no answer, 5xx, the process killed) leaves the claim
    ``uncertain``; the next run of those inputs says so instead of paying again.

Claims of a process that died (same host, its pid gone) or ran past the submit budget are
taken over as uncertain, never resubmitted.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..comfy import host
from .client import safe_id
from ..errors import (ApiError, DownloadError, JobFailed, RunComfyError, SubmitUncertain,
                      add_sentence, clip)
from .job import JobCancelled, JobRunner, Silent
from .client import LazyClient
from .journal import (PENDING, SUBMITTING, UNCERTAIN, Entry, Journal, JournalError, quietly,
                      recording_events)
from .locks import KeyedLocks
from .money import billed_sentence, spend_check
from .pacing import RateGate
from .process import pid_alive
from ..results.files import fetch_all, output_folder, sweep_parts
from ..settings import check as check_settings, download_deadline_s, queue_timeout_s, run_timeout_s
from .transport import RetryPolicy

log = logging.getLogger("runcomfy")

CLAIM_S = RetryPolicy().submit_budget_s + 30   # a submit ends within its budget: then it is dead
FETCH_LEASE_S = 90.0                           # renewed while the download makes progress
WAIT_STEP_S = 0.25                             # how often a waiting run looks at the journal
RECORD_RETRY_S = 600.0         # a paid job's id the journal refused is retried this long ...
RECORD_RETRY_FIRST_S, RECORD_RETRY_MAX_S = 0.5, 10.0   # ... first after 0.5 s, then doubling to 10 s


class UncertainSubmit(RunComfyError):
    """An earlier submit of these exact inputs may have created a paid job."""


@dataclass
class Prepared:
    """Checked and encoded inputs: exactly what the submit sends."""
    payload: bytes
    legacy_fingerprints: tuple = ()    # how earlier versions keyed the same inputs (their jobs count)
    notes: list = field(default_factory=list)


@dataclass
class Ticket:
    """One job to obtain: its model, the fingerprint of its inputs, how to encode them, and
    what it is expected to cost (spec/estimate.py; None or unknown: not estimable)."""
    model_id: str
    display_name: str
    fingerprint: str
    prepare: Callable[[], Prepared]
    estimate: object = None
    _prepared: Prepared | None = field(default=None, repr=False)

    def prepared(self) -> Prepared:
        """The checked, encoded inputs (made once: a list checks every item up front)."""
        if self._prepared is None:
            self._prepared = self.prepare()
        return self._prepared


@dataclass
class Obtained:
    entry: Entry
    files: list
    reused: bool          # the job existed before this run: nothing new was paid


class JobService:
    _shared: "JobService | None" = None
    _shared_guard = threading.Lock()

    def __init__(self, owner: str | None = None):
        self.host = socket.gethostname()
        self.owner = owner or f"{self.host}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._journals: dict[Path, Journal] = {}
        self._price_books: dict[Path, object] = {}
        self._swept: set[Path] = set()
        self._guard = threading.Lock()
        self._locks = KeyedLocks()
        self._background: set[threading.Thread] = set()
        self._gates: dict[str, RateGate] = {}
        self._pool = None

    @classmethod
    def shared(cls) -> "JobService":
        with cls._shared_guard:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    @property
    def pool(self):
        """The threads jobs run in: RUNCOMFY_MAX_CONCURRENT_JOBS of them (default 16), so
        waiting jobs never queue behind Python's default pool (cores + 4)."""
        from ..settings import max_concurrent_jobs
        from .pool import DaemonPool
        with self._guard:
            if self._pool is None:
                self._pool = DaemonPool(max_concurrent_jobs())
            return self._pool

    def gate(self, base_url: str) -> RateGate:
        """The rate gate every job to this API host shares."""
        with self._guard:
            return self._gates.setdefault(base_url.rstrip("/"), RateGate())

    def clients(self, client=None) -> LazyClient:
        return LazyClient(client, self.gate)

    def prices(self):
        """The price book (catalog prices cached in the user folder) of the current user folder."""
        from ..spec.prices import PriceBook
        path = host.user_dir() / "prices.json"
        with self._guard:
            if path not in self._price_books:
                self._price_books[path] = PriceBook(path)
            return self._price_books[path]

    def journal(self) -> Journal:
        """The journal of the current user folder, opened (created, migrated) once."""
        path = host.user_dir() / "journal.sqlite3"
        with self._guard:
            if path not in self._journals:
                self._journals[path] = Journal(path)
            return self._journals[path]

    # -- the whole remote part of a run ----------------------------------------------------
    def run(self, ticket: Ticket, reporter, *, client=None, should_cancel=host.interrupted) -> Obtained:
        """Reuse, resume or submit the job for ``ticket``, wait for it, download its files."""
        journal = self.journal()
        clients = self.clients(client)
        entry = self._obtain(ticket, journal, reporter, clients, should_cancel)
        reused = entry.status == "completed"
        if not reused:
            entry = self.wait(journal, clients(), entry, reporter, should_cancel)
        entry, files = self.fetch_files(journal, clients, entry, reporter, should_cancel)
        return Obtained(entry, files, reused)

    def _obtain(self, ticket: Ticket, journal: Journal, reporter, clients, should_cancel) -> Entry:
        fps, prepared, waiting = [ticket.fingerprint], None, False
        while True:
            entry = journal.find(fps)
            if entry is None and prepared is None:
                prepared = ticket.prepared()        # every check and encoding; nothing paid yet
                for note in prepared.notes:
                    reporter.note(note)
                fps += [fp for fp in prepared.legacy_fingerprints if fp]
                continue
            if entry is None:
                check_settings()                    # a bad setting or config file stops here, unpaid
                client = clients()                  # a missing or bad token stops here, unpaid
                est = ticket.estimate
                entry, mine = journal.claim(fps, ticket.model_id, self.owner, time.time() + CLAIM_S,
                                            getattr(est, "usd", None), spend_check(est))
                if mine:
                    return self._submit(ticket, entry, prepared.payload, journal, client, reporter)
            found = self._existing(entry, journal, reporter)
            if found is not None:
                return found
            if should_cancel():
                host.raise_interrupt()              # we submitted nothing: nothing to cancel
            if not waiting:
                reporter.say("waiting", "Another run is submitting these same inputs; waiting for "
                                        "its job (it is paid once)…")
                waiting = True
            time.sleep(WAIT_STEP_S)

    def _existing(self, entry: Entry, journal: Journal, reporter) -> Entry | None:
        """What to do with a live journal entry for these inputs; None: wait and look again."""
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.created_at))
        if entry.status == "completed":
            reporter.note(f"Reusing request {safe_id(entry.request_id)} from {when}: same inputs, no "
                          "new charge (change the seed for a new variation)")
            return entry
        if entry.status in PENDING:
            reporter.note(f"Resuming request {safe_id(entry.request_id)} (same inputs, already paid for)")
            return entry
        if entry.status == UNCERTAIN:
            journal.acknowledge_uncertain(entry.id)
            raise UncertainSubmit(
                f"The last submit of these exact inputs ({when}) was not confirmed by RunComfy "
                f"({clip(entry.error, 160) or 'no answer'}), so a paid job may exist. Check your "
                "requests on runcomfy.com (a job found there can be loaded with RunComfy Load "
                "Result); press Queue again to submit anew.")
        if entry.status == SUBMITTING and self._claim_dead(entry):
            journal.mark_uncertain(entry.id, "The run submitting these inputs stopped before "
                                   "RunComfy answered (ComfyUI closed, crashed or was killed)",
                                   owner=entry.owner)
        return None

    def _claim_dead(self, entry: Entry) -> bool:
        """A submit claim or download lease whose holder is gone (or past its deadline)."""
        if entry.claim_until is not None and time.time() > entry.claim_until:
            return True
        return self._owner_dead(entry.owner)

    def _owner_dead(self, owner: str) -> bool:
        owner_host, _, rest = owner.partition(":")
        pid, _, _token = rest.partition(":")
        if owner_host != self.host or not pid.isdigit():
            return False                           # another machine: only its deadline tells
        if int(pid) == os.getpid():
            return owner != self.owner             # an earlier process that had our pid
        return not pid_alive(int(pid))

    def _submit(self, ticket: Ticket, entry: Entry, payload: bytes, journal: Journal, client,
                reporter) -> Entry:
        runner = JobRunner(client, on_event=reporter.event)
        est = ticket.estimate
        try:
            rid = runner.submit(ticket.model_id, payload, getattr(est, "text", "") if est else "")
        except SubmitUncertain as e:
            quietly(journal.mark_uncertain, entry.id, clip(str(e).split(";")[0], 200))
            raise
        except RunComfyError as e:                 # refused or never sent: nothing was paid
            quietly(journal.release, entry.id, clip(str(e), 500))
            if "charged" not in str(e) and "nothing was sent" not in str(e):
                add_sentence(e, "Not billed: RunComfy did not create the job.")
            raise
        except BaseException as e:                 # interrupted mid-submit: outcome unknown
            quietly(journal.mark_uncertain, entry.id, f"The submit was interrupted ({type(e).__name__})")
            raise
        entry.request_id, entry.status = rid, "submitted"
        try:
            journal.record_request(entry.id, rid)
        except JournalError as e:
            self._record_later(journal, entry.id, rid)
            log.warning("RunComfy: request %s was submitted and is billed, but the journal %s could "
                        "not record it yet (%s); retrying in the background.", rid, e.path, e.reason)
            reporter.note(f"Request {rid} was submitted and is billed, but the journal could not "
                          f"record it yet ({clip(e.reason, 80)}); the pack keeps trying and fetches "
                          "the result anyway. Keep this id: RunComfy Load Result fetches it.")
        return entry

    def _record_later(self, journal: Journal, entry_id: int, rid: str) -> None:
        """Write a paid job's request id as soon as the journal takes it (bounded retries), so
        the next run resumes the job instead of calling its submit uncertain."""
        def work():
            delay, end = RECORD_RETRY_FIRST_S, time.monotonic() + RECORD_RETRY_S
            while True:
                try:
                    journal.record_request(entry_id, rid)
                    log.info("RunComfy: request %s is now recorded in the journal.", safe_id(rid))
                    return
                except JournalError as e:
                    if time.monotonic() + delay > end:
                        log.warning("RunComfy: gave up recording request %s in the journal %s (%s). "
                                    "It is billed: RunComfy Load Result fetches it.", rid, e.path, e.reason)
                        return
                time.sleep(delay)
                delay = min(delay * 2, RECORD_RETRY_MAX_S)
        self._start_background(f"runcomfy-record-{safe_id(rid)}", work)

    # -- waiting -------------------------------------------------------------------------
    def wait(self, journal: Journal, client, entry: Entry, reporter, should_cancel=host.interrupted,
             *, cancel_on_interrupt: bool = True) -> Entry:
        """Poll a submitted job to its end; Cancel becomes ComfyUI's interrupt here, for every node."""
        rid = entry.request_id
        runner = JobRunner(client, on_event=recording_events(journal, rid, reporter.event),
                           should_cancel=should_cancel, run_timeout_s=run_timeout_s(),
                           queue_timeout_s=queue_timeout_s())
        try:
            result = runner.wait(rid, cancel_on_interrupt=cancel_on_interrupt)
        except JobCancelled as e:
            if cancel_on_interrupt:      # else we only stopped waiting: the job is unchanged
                quietly(journal.set_status, rid, "not_cancellable" if e.billed else "cancelled")
                if e.billed:
                    self.keep_in_background(client, rid)
            host.raise_interrupt()
        except JobFailed as e:
            quietly(journal.set_status, rid, e.status or "failed", clip(str(e), 500), e.cost)
            raise
        except ApiError as e:
            if e.code != 404001:
                raise
            quietly(journal.set_status, rid, "expired", clip(str(e), 500))
            raise RunComfyError(f"RunComfy no longer knows request {safe_id(rid)} (expired). Press "
                                "Queue again to submit these inputs anew (a new, paid job).") from None
        quietly(journal.record_outputs, rid, result.outputs, result.cost)
        entry.status, entry.outputs, entry.cost = "completed", result.outputs, result.cost
        return journal.get(rid) or entry

    # -- downloading ---------------------------------------------------------------------
    def fetch_files(self, journal: Journal, clients, entry: Entry, reporter=None,
                    should_cancel=host.interrupted) -> tuple[Entry, list]:
        """A completed job's files, downloaded once: by one run in this process (a lock) and
        one process sharing the journal (a lease); the others wait and use its files."""
        rid = entry.request_id
        with self._locks.hold("files:" + rid):
            told, give_up = False, time.monotonic() + download_deadline_s() + FETCH_LEASE_S
            while True:
                current = journal.get(rid) or entry
                files = current.local_files()
                if files:
                    return current, files
                if current.owner and current.owner != self.owner and self._owner_dead(current.owner):
                    quietly(journal.end_fetch, rid, current.owner)   # its download died with it
                if quietly(journal.lease_fetch, rid, self.owner, time.time() + FETCH_LEASE_S,
                            default=True):
                    break
                if time.monotonic() > give_up:       # a lease that never ends: download it here
                    log.warning("RunComfy: the download of request %s by %s took longer than any "
                                "download may; downloading it here.", safe_id(rid), current.owner)
                    break
                if should_cancel():
                    host.raise_interrupt()
                if reporter is not None and not told:
                    reporter.say("waiting", "Another ComfyUI is downloading this result; waiting…")
                    told = True
                time.sleep(WAIT_STEP_S)
            folder = output_folder()
            if folder not in self._swept:
                sweep_parts(folder)
                self._swept.add(folder)
            try:
                files = fetch_all(clients(), current.urls, current.model_id, rid,
                                  progress=self._renewing(journal, rid, reporter))
            except DownloadError as e:
                quietly(journal.end_fetch, rid, self.owner)
                raise add_sentence(e, billed_sentence(current)) from None
            except BaseException:
                quietly(journal.end_fetch, rid, self.owner)
                raise
            quietly(journal.record_files, rid, files)
            current.files = [str(f) for f in files]
            return current, files

    def forget_files(self, request_id: str) -> None:
        """The files are damaged: keep them on disk, but download again on the next run."""
        quietly(self.journal().record_files, request_id, [])

    def _renewing(self, journal: Journal, rid: str, reporter):
        """Download progress that also keeps this process's lease alive."""
        state = {"renewed": time.monotonic()}

        def progress(received, total):
            if time.monotonic() - state["renewed"] > FETCH_LEASE_S / 3:
                state["renewed"] = time.monotonic()
                quietly(journal.lease_fetch, rid, self.owner, time.time() + FETCH_LEASE_S)
            if reporter is not None:
                reporter.downloading(received, total)
        return progress

    # -- work that outlives a node -------------------------------------------------------
    def keep_in_background(self, client, request_id: str) -> None:
        """A job that could not be cancelled is paid for: fetch its result into the journal."""
        journal = self.journal()

        def work():
            try:
                entry = journal.get(request_id) or Entry(0, request_id, "", "unknown/model", "submitted", 0)
                entry = self.wait(journal, client, entry, Silent(), lambda: False,
                                  cancel_on_interrupt=False)
                _, files = self.fetch_files(journal, self.clients(client), entry, None, lambda: False)
                log.info("RunComfy: kept the result of cancelled-but-billed request %s: %s",
                         safe_id(request_id), ", ".join(map(str, files)))
            except Exception as e:  # noqa: BLE001 - a background thread reports, never crashes
                log.warning("RunComfy: could not fetch request %s in the background: %s",
                            safe_id(request_id), e)
        self._start_background(f"runcomfy-keep-{safe_id(request_id)}", work)

    def _start_background(self, name: str, work) -> None:
        """Run ``work`` in a daemon thread that join_background waits for."""
        def run():
            try:
                work()
            finally:
                with self._guard:
                    self._background.discard(threading.current_thread())
        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._guard:
            self._background.add(thread)
        thread.start()

    def join_background(self, timeout: float = 30.0) -> bool:
        """Wait for the background fetches (tests, shutdown); True when none is left."""
        end = time.monotonic() + timeout
        while True:
            with self._guard:
                threads = list(self._background)
            if not threads:
                return True
            if time.monotonic() > end:
                return False
            threads[0].join(max(0.0, end - time.monotonic()))
