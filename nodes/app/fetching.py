"""Downloading a completed job's files, once per machine: by one run in this process (a lock)
and one process of this machine sharing the journal (a lease, renewed while the download makes
progress); the others wait and use its files.  Waiting is bounded: a lease that outlives any
download is taken over.  A journal that is away does not stop the download: the job's record
is then the one this run holds, and its files are recorded when the journal is back."""
from __future__ import annotations

import logging
import time
from dataclasses import replace

from ..core.errors import Billing, DownloadError
from ..remote.client import safe_id
from ..remote.journal import Entry, quietly
from ..results.files import fetch_all
from .claims import owner_dead

log = logging.getLogger("runcomfy")

FETCH_LEASE_S = 90.0          # renewed while the download makes progress
WAIT_STEP_S = 0.25            # how often a waiting run looks at the journal


def fetch_files(rt, clients, entry: Entry, reporter, should_cancel) -> tuple[Entry, list]:
    """(the entry, its local files): downloaded here, or by another run that holds the lease."""
    journal, rid = rt.journal, entry.request_id
    with rt.locks.hold("files:" + rid):
        told, give_up = False, time.monotonic() + rt.settings.download_deadline_s() + FETCH_LEASE_S
        while True:
            current = freshest(quietly(journal.get, rid), entry)
            files = current.local_files()
            if files:
                return current, files
            if current.owner and current.owner != rt.owner and owner_dead(rt, current.owner):
                quietly(journal.end_fetch, rid, current.owner)   # its download died with it
            if quietly(journal.lease_fetch, rid, rt.owner, FETCH_LEASE_S, default=True):
                break
            if time.monotonic() > give_up:       # a lease that never ends: download it here
                log.warning("RunComfy: the download of request %s by %s took longer than any "
                            "download may; downloading it here.", safe_id(rid), current.owner)
                break
            if should_cancel():
                rt.host.raise_interrupt()
            if reporter is not None and not told:
                reporter.say("waiting", "Another ComfyUI is downloading this result; waiting…")
                told = True
            rt.clock.sleep(WAIT_STEP_S)
        folder = rt.output_folder()
        try:
            files = fetch_all(clients(), current.urls, current.model_id, rid, folder,
                              progress=renewing(rt, rid, reporter))
        except DownloadError as e:
            quietly(journal.end_fetch, rid, rt.owner)
            raise e.with_facts(billing=Billing.BILLED, cost=current.cost) from None
        except BaseException:
            quietly(journal.end_fetch, rid, rt.owner)
            raise
        rt.recorder.write(f"the files of request {rid}", "record_files", rid, files)
        current.files = [str(f) for f in files]
        return current, files


def freshest(found: Entry | None, held: Entry) -> Entry:
    """The journal's entry, unless it knows less than this run (its outputs not written yet:
    the journal was away); then this run's, with the files the journal knows."""
    if found is None:
        return held
    if found.urls or not held.urls:
        return found
    return replace(held, files=found.files, owner=found.owner, claim_expired=found.claim_expired)


def renewing(rt, rid: str, reporter):
    """Download progress that also keeps this process's lease alive."""
    state = {"renewed": time.monotonic()}

    def progress(received, total):
        if time.monotonic() - state["renewed"] > FETCH_LEASE_S / 3:
            state["renewed"] = time.monotonic()
            quietly(rt.journal.lease_fetch, rid, rt.owner, FETCH_LEASE_S)
        if reporter is not None:
            reporter.downloading(received, total)
    return progress
