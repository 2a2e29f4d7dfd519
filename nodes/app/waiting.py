"""Waiting for a submitted job: poll it to its end, journal each change of stage, and turn
the user's Cancel into the host's interrupt here, in one place, for every node."""
from __future__ import annotations

import logging

from ..core.errors import ApiError, JobFailed, RunComfyError, clip
from ..core.report import Silent
from ..remote.client import safe_id
from ..remote.job import JobCancelled, JobRunner
from ..remote.journal import Entry, quietly, recording_events
from .fetching import fetch_files, freshest

log = logging.getLogger("runcomfy")


def wait(rt, client, entry: Entry, reporter, should_cancel, *, cancel_on_interrupt: bool = True) -> Entry:
    """Poll a submitted job to its end; the completed entry (outputs and cost journaled)."""
    rid, record = entry.request_id, rt.recorder.write
    runner = JobRunner(client, on_event=recording_events(
                           lambda r, stage: record(f"request {r} {stage}", "set_status", r, stage),
                           rid, lambda e: (rt.progress.note(e), reporter.event(e))),
                       should_cancel=should_cancel, run_timeout_s=rt.settings.run_timeout_s(),
                       queue_timeout_s=rt.settings.queue_timeout_s(), clock=rt.clock.monotonic,
                       sleep=rt.clock.sleep)
    try:
        result = runner.wait(rid, cancel_on_interrupt=cancel_on_interrupt)
    except JobCancelled as e:
        if cancel_on_interrupt:      # else we only stopped waiting: the job is unchanged
            record(f"request {rid} cancelled", "set_status", rid,
                   "not_cancellable" if e.billed else "cancelled")
            if e.billed:
                keep_in_background(rt, client, rid)
        rt.host.raise_interrupt()
    except JobFailed as e:
        record(f"request {rid} failed", "set_status", rid, e.status or "failed", clip(str(e), 500), e.cost)
        raise
    except ApiError as e:
        if e.code != 404001:
            raise
        record(f"request {rid} expired", "set_status", rid, "expired", clip(str(e), 500))
        raise RunComfyError(f"RunComfy no longer knows request {safe_id(rid)} (expired). Press "
                            "Queue again to submit these inputs anew (a new, paid job).") from None
    record(f"the outputs of request {rid}", "record_outputs", rid, result.outputs, result.cost)
    entry.status, entry.outputs, entry.cost = "completed", result.outputs, result.cost
    return freshest(quietly(rt.journal.get, rid), entry)


def keep_in_background(rt, client, request_id: str) -> None:
    """A job that could not be cancelled is paid for: fetch its result into the journal."""
    journal = rt.journal

    def work():
        try:
            entry = quietly(journal.get, request_id) or Entry(0, request_id, "", "unknown/model", "submitted", 0)
            entry = wait(rt, client, entry, Silent(), lambda: False, cancel_on_interrupt=False)
            _, files = fetch_files(rt, lambda: client, entry, None, lambda: False)
            log.info("RunComfy: kept the result of cancelled-but-billed request %s: %s",
                     safe_id(request_id), ", ".join(map(str, files)))
        except Exception as e:  # noqa: BLE001 - a background thread reports, never crashes
            log.warning("RunComfy: could not fetch request %s in the background: %s",
                        safe_id(request_id), e)
    rt.background.start(f"runcomfy-keep-{safe_id(request_id)}", work)
