"""Obtain a job's outcome: reuse, resume or submit it, wait for it, fetch its files.

Money rules, in the order a run meets them:
  * the same inputs (by fingerprint) that already have a job reuse or resume it, before any
    input is encoded or any token is needed;
  * otherwise every input is checked and encoded (Plan.prepared), every setting read, then
    the intent is written to the journal as a claim, and only then is the submit sent.  If
    the journal cannot be written, nothing is sent;
  * a claim is exclusive across threads and processes sharing the user folder: a second
    run of the same inputs waits for the first's job and reuses it;
  * a submit whose outcome is unknown (no answer, 5xx, the process killed) leaves the claim
    ``uncertain``; the next run of those inputs says so instead of paying again.

Claims of a process that died (same host, its pid gone) or stopped renewing its claim (any
machine sharing the journal) are taken over as uncertain, never resubmitted.  After the
submit the job is paid for: a journal that refuses a write then does not stop the job, the
write is made when the journal is back (app/recording.py).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from ..core.errors import Billing, RunComfyError, SubmitUncertain, clip
from ..remote.client import safe_id
from ..remote.job import JobRunner
from ..remote.journal import PENDING, SUBMITTING, UNCERTAIN, Entry
from .claims import CLAIM_TTL_S, claim_dead, heartbeat
from .fetching import fetch_files
from .money import spend_check
from .waiting import wait

log = logging.getLogger("runcomfy")

WAIT_STEP_S = 0.25                             # how often a waiting run looks at the journal


@dataclass(frozen=True)
class Outcome:
    entry: Entry
    files: list
    reused: bool          # the job existed before this run: nothing new was paid


class Clients:
    """The API client, made on first need: reusing files on disk needs no token."""

    def __init__(self, rt):
        self.rt, self._client = rt, None

    def __call__(self):
        if self._client is None:
            self._client = self.rt.client()
        return self._client


def obtain(rt, plan, reporter, should_cancel) -> Outcome:
    """The job ``plan`` names, reused, resumed, submitted or (a known request id) loaded,
    waited for and downloaded."""
    clients = Clients(rt)
    if plan.request_id:
        entry = known_request(rt, plan.request_id, reporter, clients, should_cancel)
        reused = True
    else:
        entry = claim_or_find(rt, plan, reporter, clients, should_cancel)
        reused = entry.status == "completed"
        if not reused:
            entry = wait(rt, clients(), entry, reporter, should_cancel)
    entry, files = fetch_files(rt, clients, entry, reporter, should_cancel)
    return Outcome(entry, files, reused)


def known_request(rt, request_id: str, reporter, clients, should_cancel) -> Entry:
    """A request id given by the user: from the journal, else asked of RunComfy (waiting for
    it when it still runs).  Never submits, never cancels."""
    journal = rt.journal
    entry = journal.get(request_id)
    if entry is not None and (entry.local_files() or entry.urls):
        reporter.note(f"From the journal: request {safe_id(request_id)} ({entry.model_id})")
        return entry
    reporter.say("loading", f"Asking RunComfy for request {safe_id(request_id)}…")
    if entry is None:
        journal.add_loaded(request_id)
        entry = journal.get(request_id)
    return wait(rt, clients(), entry, reporter, should_cancel, cancel_on_interrupt=False)


def claim_or_find(rt, plan, reporter, clients, should_cancel) -> Entry:
    journal = rt.journal
    fps, prepared, waiting = [plan.fingerprint], None, False
    while True:
        entry = journal.find(fps)
        if entry is None and prepared is None:
            prepared = plan.prepared()          # every check and encoding; nothing paid yet
            for note in prepared.notes:
                reporter.note(note)
            fps += [fp for fp in prepared.earlier_fingerprints if fp]
            continue
        if entry is None:
            rt.settings.check()                 # a bad setting or config file stops here, unpaid
            client = clients()                  # a missing or bad token stops here, unpaid
            est = plan.estimate
            entry, mine = journal.claim(fps, plan.model_id, rt.owner, CLAIM_TTL_S, getattr(est, "usd", None),
                                        spend_check(est, rt.settings, journal.shared))
            if mine:
                return submit(rt, plan, entry, prepared.payload, client, reporter)
        found = existing(rt, entry, reporter)
        if found is not None:
            return found
        if should_cancel():
            rt.host.raise_interrupt()           # we submitted nothing: nothing to cancel
        if not waiting:
            reporter.say("waiting", "Another run is submitting these same inputs; waiting for "
                                    "its job (it is paid once)…")
            waiting = True
        rt.clock.sleep(WAIT_STEP_S)


def existing(rt, entry: Entry, reporter) -> Entry | None:
    """What to do with a live journal entry for these inputs; None: wait and look again."""
    journal = rt.journal
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
        raise SubmitUncertain(clip(entry.error, 160), earlier_at=when)
    if entry.status == SUBMITTING and claim_dead(rt, entry):
        journal.mark_uncertain(entry.id, "The run submitting these inputs stopped before "
                               "RunComfy answered (ComfyUI closed, crashed or was killed)",
                               owner=entry.owner)
    return None


def submit(rt, plan, entry: Entry, payload: bytes, client, reporter) -> Entry:
    runner = JobRunner(client, on_event=reporter.event, clock=rt.clock.monotonic, sleep=rt.clock.sleep)
    est = plan.estimate
    record = rt.recorder.write
    try:
        with heartbeat(rt, entry.id):
            rid = runner.submit(plan.model_id, payload, getattr(est, "text", "") if est else "")
    except SubmitUncertain as e:
        record(f"the unknown outcome of claim {entry.id}", "mark_uncertain", entry.id, clip(e.reason, 200))
        raise
    except RunComfyError as e:                 # refused or never sent: nothing was paid
        record(f"the refusal of claim {entry.id}", "release", entry.id, clip(str(e), 500))
        raise (e if e.billing is not None else e.with_facts(billing=Billing.NOT_BILLED)) from None
    except BaseException as e:                 # interrupted mid-submit: outcome unknown
        record(f"the unknown outcome of claim {entry.id}", "mark_uncertain", entry.id,
               f"The submit was interrupted ({type(e).__name__})")
        raise
    entry.request_id, entry.status = rid, "submitted"
    if not record(f"request {rid} (submitted, billed)", "record_request", entry.id, rid):
        reporter.note(f"Request {rid} was submitted and is billed, but the journal could not "
                      "record it yet; the pack writes it when the journal is back and fetches the "
                      "result anyway. Keep this id: RunComfy Load Result fetches it.")
    return entry
