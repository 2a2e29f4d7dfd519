"""One paid job, from submit to result: submit → poll → result, or cancel.

The runner reports every step through ``on_event`` (the node turns events into live
status text) and watches ``should_cancel`` between polls.  It polls the *result*
endpoint, which answers with the current status until the job is done, so completion
and its outputs arrive in the same call.
"""
from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass, field
from typing import Callable

from .client import (CANCELLED, COMPLETED, FAILED, QUEUED, RUNNING, UNKNOWN, RunComfyClient,
                     error_text, normalize_status, output_urls, web_links)
from ..spec.kinds import OUTPUT_KINDS
from ..core.errors import Interrupted, JobFailed, JobTimeout, RunComfyError, clip

log = logging.getLogger("runcomfy")

TICK = 1.0                 # live status at least this often while waiting
UNKNOWN_GRACE_S = 120.0    # how long an unknown status is tolerated
QUEUE_TIMEOUT_S = 7200.0   # a job still queued after this is cancelled (not billed): RUNCOMFY_QUEUE_TIMEOUT_MIN
EMPTY_OUTPUT_POLLS = 5     # "completed" without outputs: ask again this many times


def poll_interval(running_for: float | None) -> float:
    """Seconds to the next poll.

    Queued: 2 s (nothing to notice fast).  Running: 1 s for the first 8 s, then growing
    to 2 s at 25 s and 5 s at 45 s.  Short jobs are noticed within about half a second
    (median); a 5-minute job costs at most ~1.3x the calls of a fixed 5 s poll.  The
    benchmark in bench/bench_polling.py measures both.
    """
    if running_for is None:
        return 2.0
    if running_for < 8:
        return 1.0
    if running_for < 25:
        return 1.0 + (running_for - 8) / 17
    if running_for < 45:
        return 2.0 + 3.0 * (running_for - 25) / 20
    return 5.0


def duration(seconds: float) -> str:
    """'42 s', '3 min 05 s', '31 min'."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    m, s = divmod(seconds, 60)
    return f"{m} min {s:02d} s" if m < 10 else f"{m} min"


@dataclass
class Event:
    stage: str                 # submitting, submitted, queued, running, unknown, cancelling,
                               # cancelled, not_cancellable, completed
    request_id: str = ""
    position: int | None = None
    elapsed: float = 0.0       # since submit
    running_for: float = 0.0   # since the job was first seen running
    message: str = ""
    raw_status: str = ""


@dataclass
class JobResult:
    request_id: str
    outputs: dict = field(default_factory=dict)   # output kind → [url, …]
    cost: float | None = None


class JobCancelled(Interrupted):
    """The user cancelled.  ``billed`` tells whether the job runs on (not cancellable)."""

    def __init__(self, message: str, request_id: str, billed: bool):
        super().__init__(message)
        self.request_id = request_id
        self.billed = billed


class JobRunner:
    def __init__(self, client: RunComfyClient, *, on_event: Callable[[Event], None] | None = None,
                 should_cancel: Callable[[], bool] | None = None, run_timeout_s: float = 1800.0,
                 queue_timeout_s: float = QUEUE_TIMEOUT_S,
                 clock=time.monotonic, sleep=time.sleep, interval=poll_interval):
        self.client = client
        self.on_event = on_event or (lambda e: None)
        self.should_cancel = should_cancel or (lambda: False)
        self.run_timeout_s, self.queue_timeout_s = run_timeout_s, queue_timeout_s
        self._queue_cancel_tried: set[str] = set()    # one cancel per job at the queue limit
        self.clock, self.sleep, self.interval = clock, sleep, interval

    def submit(self, model_id: str, body, note: str = "") -> str:
        self.on_event(Event("submitting", message=note))
        sub = self.client.submit(model_id, body)
        self.on_event(Event("submitted", sub.request_id))
        return sub.request_id

    def wait(self, request_id: str, *, cancel_on_interrupt: bool = True) -> JobResult:
        """Poll until the job ends.  Raises JobFailed, JobTimeout or JobCancelled."""
        start = self.clock()
        run_start = unknown_since = None
        empty_polls = 0
        while True:
            data = self.client.result(request_id)
            now = self.clock()
            state = normalize_status(data.get("status"))
            ev = Event(state, request_id, elapsed=now - start, raw_status=clip(data.get("status"), 40))
            if state == COMPLETED:
                result = self._result(request_id, data)
                if result.outputs or empty_polls >= EMPTY_OUTPUT_POLLS:
                    if not result.outputs:
                        raise JobFailed(no_outputs_text(request_id, data.get("output")),
                                        request_id=request_id, status=state)
                    self.on_event(Event("completed", request_id, elapsed=now - start,
                                        running_for=now - (run_start or now)))
                    return result
                empty_polls += 1
            elif state == FAILED:
                cost, billed = billing(data, run_start is not None)
                raise JobFailed(f"{failure_text(data, request_id)} {billed}", request_id=request_id,
                                status=state, cost=cost)
            elif state == CANCELLED:
                cost, billed = billing(data, run_start is not None)
                raise JobFailed(f"RunComfy job {request_id} was cancelled on the service; nothing "
                                f"to fetch. {billed}", request_id=request_id, status=state, cost=cost)
            elif state == QUEUED:
                pos = data.get("queue_position")
                ev.position = pos if isinstance(pos, int) and not isinstance(pos, bool) else None
                if run_start is None and now - start > self.queue_timeout_s:
                    self._queue_limit(request_id, now - start)
            elif state in (RUNNING, UNKNOWN):
                run_start = run_start if run_start is not None else now
                ev.stage = RUNNING if state == RUNNING else UNKNOWN
                if state == UNKNOWN:
                    unknown_since = unknown_since if unknown_since is not None else now
                    if now - unknown_since > UNKNOWN_GRACE_S:
                        raise JobFailed(f"RunComfy kept reporting status '{ev.raw_status}' for job "
                                        f"{request_id} for {UNKNOWN_GRACE_S:.0f} s; stopped waiting. "
                                        "The job may still finish: run the node again later to "
                                        "fetch it.", request_id=request_id, status=ev.raw_status)
                else:
                    unknown_since = None
            running_for = None if run_start is None else now - run_start
            ev.running_for = running_for or 0.0
            if running_for is not None and running_for > self.run_timeout_s:
                raise JobTimeout(f"RunComfy job {request_id} has been running for "
                                 f"{duration(running_for)}, over the {duration(self.run_timeout_s)} "
                                 "limit (RUNCOMFY_TIMEOUT_MIN). It may still finish, and RunComfy "
                                 "bills it if it does: run the node again later (or use RunComfy "
                                 "Load Result) to fetch it without paying again.")
            self.on_event(ev)
            self._pause(self.interval(running_for), ev, start, request_id, cancel_on_interrupt)

    def _pause(self, seconds: float, ev: Event, start: float, request_id: str, cancel: bool):
        """Sleep until the next poll, checking Cancel and re-reporting elapsed time each tick."""
        deadline = self.clock() + seconds
        next_tick = self.clock() + TICK
        while True:
            if self.should_cancel():
                if cancel:
                    self._cancel(request_id)      # raises JobCancelled with the outcome
                raise JobCancelled("Stopped waiting; the job goes on.", request_id, billed=True)
            now = self.clock()
            if now >= deadline:
                return
            if now >= next_tick:
                ev.elapsed = now - start
                if ev.stage == RUNNING:
                    ev.running_for += TICK
                self.on_event(ev)
                next_tick = now + TICK
            self.sleep(min(0.2, deadline - now))

    def _queue_limit(self, request_id: str, waited: float) -> None:
        """Queued past the limit: cancel it (a queued job is not billed).  If RunComfy will not
        cancel it, wait as long again, then stop waiting: time is bounded either way."""
        limit = duration(self.queue_timeout_s)
        if waited > 2 * self.queue_timeout_s:
            raise JobTimeout(f"RunComfy job {request_id} is still queued after {duration(waited)} and "
                             "could not be cancelled; stopped waiting. If it runs, RunComfy bills it: "
                             "run the node again later (or use RunComfy Load Result) to fetch it.")
        if request_id in self._queue_cancel_tried:
            return
        self._queue_cancel_tried.add(request_id)
        try:
            outcome = str(self.client.cancel(request_id).get("outcome") or "").lower()
        except RunComfyError:
            outcome = "unknown"
        if outcome == "cancelled":
            self.on_event(Event("cancelled", request_id, message="queued too long; cancelled, not billed"))
            raise JobFailed(f"RunComfy job {request_id} waited {duration(waited)} in RunComfy's queue, "
                            f"over the {limit} limit (RUNCOMFY_QUEUE_TIMEOUT_MIN), and was cancelled "
                            "before it ran: not billed. Queue again later, or raise the limit.",
                            request_id=request_id, status="cancelled", cost=0.0)
        self.on_event(Event("queued", request_id, message=f"over the {limit} queue limit, but RunComfy "
                                                         "did not cancel it; waiting on"))

    def _cancel(self, request_id: str) -> None:
        self.on_event(Event("cancelling", request_id))
        try:
            outcome = str(self.client.cancel(request_id).get("outcome") or "").lower()
        except RunComfyError as e:
            outcome, why = "unknown", str(e)
        else:
            why = ""
        if outcome == "cancelled":
            self.on_event(Event("cancelled", request_id, message="cancelled before it ran; not billed"))
            raise JobCancelled(f"RunComfy job {request_id} was cancelled before it ran; not billed.",
                               request_id, billed=False)
        msg = ("not cancellable, still billed — result kept" if outcome == "not_cancellable"
               else f"cancel not confirmed ({why or outcome}); treating the job as still running")
        self.on_event(Event("not_cancellable", request_id, message=msg))
        raise JobCancelled(f"RunComfy job {request_id}: {msg}.", request_id, billed=True)

    @staticmethod
    def _result(request_id: str, data: dict) -> JobResult:
        try:
            outputs = output_urls(data.get("output"))
        except JobFailed as e:
            raise JobFailed(f"Job {request_id}: {e} The job is paid for; its result cannot be "
                            "used.", request_id=request_id, status="failed") from None
        return JobResult(request_id, outputs, stated_cost(data))


def no_outputs_text(request_id: str, output) -> str:
    """A completed job whose result this pack cannot turn into outputs: what it did send."""
    others = web_links(output, 3)      # at most 3
    if not others:
        return (f"RunComfy says job {request_id} completed but sent no output files. It ran, so "
                "it is billed as RunComfy says.")
    shown = "; ".join(clip(f"{k}: {u}", 120) for k, u in others)
    kinds = ", ".join(k.what for k in OUTPUT_KINDS)
    return (f"RunComfy says job {request_id} completed, but its result holds no file this node can "
            f"use ({kinds}; it sent {shown}). It ran, so it is billed; fetch those links yourself "
            "(they expire).")


MODERATION = re.compile(r"moderat|safety|nsfw|unsafe|content[ _-]?policy|flagged", re.I)
VALIDATION = re.compile(r"validat|invalid|unsupported|too (large|long|small|short)|must be", re.I)


def failure_text(data: dict, request_id: str) -> str:
    """Which kind of failure, in the service's words: a content-moderation or validation
    rejection (the inputs), or a fault of the model or service."""
    err = data.get("error") if isinstance(data.get("error"), dict) else {}
    code = str(err.get("code") or data.get("error_code") or "")
    said = error_text(data)
    if MODERATION.search(code) or MODERATION.search(said):
        return (f"RunComfy's content moderation rejected job {request_id}: \"{said}\" Change the "
                "prompt or the inputs; running the same inputs again would be rejected again.")
    if VALIDATION.search(code) or "validation" in code.lower():
        return f"RunComfy rejected the inputs of job {request_id}: \"{said}\" Fix them, then queue again."
    return (f"RunComfy job {request_id} failed (a fault of the model or the service, not of your "
            f"inputs): \"{said}\" Queue again to retry.")


def stated_cost(data: dict) -> float | None:
    """The answer's ``cost`` in USD when it is a usable amount, else None (unknown: the job's
    estimate counts).  A negative or non-finite cost is logged, never summed into the spend."""
    cost = data.get("cost")
    if cost is None:
        return None
    if isinstance(cost, (int, float)) and not isinstance(cost, bool) and math.isfinite(cost) and cost >= 0:
        return float(cost)
    log.warning("RunComfy: request %s stated a cost of %s, which is not an amount; counting its "
                "estimate instead.", clip(data.get("request_id") or "?", 40), clip(repr(cost), 40))
    return None


def billing(data: dict, ran: bool) -> tuple[float | None, str]:
    """(cost as the service states it, the sentence saying whether the job was billed)."""
    billed, cost = data.get("billed"), stated_cost(data)
    if billed is False or cost == 0:
        return 0.0, "Not billed."
    if billed is True or (cost or 0) > 0:
        return cost, f"RunComfy billed it{f' (${cost:.2f})' if cost else ''}: it ran before failing."
    if not ran:
        return None, "It failed before it ran, so it should not be billed (RunComfy did not say)."
    return None, ("RunComfy did not say whether it was billed; it ran, so check your usage on "
                  "runcomfy.com.")
