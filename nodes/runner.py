"""What a model node does when it runs: inputs → request → job → result → outputs.

``run_node`` is the node's async FUNCTION; everything blocking runs in a worker thread
so ComfyUI's event loop stays free and two RunComfy nodes run their jobs at once.
``execute`` is the same path as a plain function (the demo calls it directly).

Money rules kept here: inputs are checked and images encoded before the submit; the
journal records the job before polling; the same inputs resume or reuse a journaled
job instead of paying again; a Cancel on a running job keeps fetching its result.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time

from . import host
from .client import RunComfyClient
from .decode import DecodeError, decode_video
from .errors import ApiError, JobFailed, RunComfyError, SubmitUncertain
from .images import check_request_size, prepare_images
from .job import JobCancelled, JobResult, JobRunner
from .journal import Entry, Journal, fingerprint
from .request import build_request
from .results import fetch_all, load_images, preview
from .schema import ModelSpec
from .settings import run_timeout_s
from .status import Reporter

log = logging.getLogger("runcomfy")
OPTION_DEFAULTS = {"fit_image_to_limits": True, "start_frame": 0, "every_nth_frame": 1, "frame_cap": 0}
BACKGROUND: list[threading.Thread] = []     # result fetches that outlive a Cancel
_submit_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


async def run_node(spec: ModelSpec, values: dict, node_id=None):
    reporter = Reporter(node_id)
    return await asyncio.to_thread(execute, spec, values, reporter)


def execute(spec: ModelSpec, values: dict, reporter: Reporter, *, client: RunComfyClient | None = None,
            journal: Journal | None = None, should_cancel=host.interrupted) -> dict:
    """Check and encode the inputs (nothing is paid before this passes), then run the job."""
    values = dict(values)
    options = {k: values.pop(k, d) for k, d in OPTION_DEFAULTS.items()}
    prepared = prepare_images(spec, values, fit=bool(options["fit_image_to_limits"]))
    for note in prepared.notes:
        reporter.note(note)
    body = build_request(spec, values, prepared.urls)
    return run_body(spec, body, options, reporter, client=client, journal=journal,
                    should_cancel=should_cancel)


def run_body(spec: ModelSpec, body: dict, options: dict, reporter: Reporter, *,
             client: RunComfyClient | None = None, journal: Journal | None = None,
             should_cancel=host.interrupted) -> dict:
    """Submit (or resume, or reuse) the job for a checked body, fetch and decode its result.

    ``spec`` is only read for model_id, output and display name, so a node without a
    schema (the generic RunComfy Model node) can build a minimal one.
    """
    options = {**OPTION_DEFAULTS, **options}
    check_request_size(body)
    client = client or RunComfyClient()
    journal = journal or Journal()
    fp = fingerprint(spec.model_id, body)
    runner = JobRunner(client, on_event=reporter.event, should_cancel=should_cancel,
                       run_timeout_s=run_timeout_s())
    started = time.monotonic()
    entry, files = obtain(spec, body, fp, runner, journal, reporter)
    reused = bool(files)
    if not files:
        entry, files = fetch_once(client, journal, entry.request_id, reporter)
    try:
        outputs = build_outputs(spec, entry, files, options, reporter)
    except DecodeError:
        # Keep the damaged file for the user to inspect, but forget it: the next run
        # downloads the result again (the job is paid for; its URL is in the journal).
        journal.record_files(entry.request_id, [])
        raise
    cost = f" · ${entry.cost:.2f}" if entry.cost is not None else ""
    if reused:
        cost = " · reused, no new charge"
    reporter.done(f"Done in {time.monotonic() - started:.0f} s{cost} · {entry.request_id[:8]}")
    return outputs


def obtain(spec, body, fp, runner: JobRunner, journal: Journal, reporter: Reporter):
    """The finished job for these inputs: reused, resumed, or submitted now (and paid)."""
    with _lock_for(fp):
        when = journal.pop_uncertain(fp)
        if when is not None:
            raise RunComfyError(
                f"The last submit of these exact inputs ({time.strftime('%H:%M', time.localtime(when))}) "
                "got no answer and may have created a paid job. Check your requests on runcomfy.com "
                "(or fetch it with RunComfy Load Result); press Queue again to submit anew.")
        entry = journal.find(fp)
        if entry is None:
            try:
                rid = runner.submit(spec.model_id, body)
            except SubmitUncertain:
                journal.mark_uncertain(fp, spec.model_id)
                raise
            journal.record_submitted(rid, fp, spec.model_id)
            entry = journal.get(rid)
        elif entry.status == "completed":
            files = entry.local_files()
            reporter.note(f"Reusing request {entry.request_id[:8]} from "
                          f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(entry.created_at))}: same "
                          "inputs, no new charge (change the seed for a new variation)")
            return entry, files
        else:
            reporter.note(f"Resuming request {entry.request_id[:8]} (same inputs, already paid for)")
    result = wait(runner, journal, entry.request_id)
    journal.record_outputs(result.request_id, result.videos, result.images, result.cost)
    return journal.get(result.request_id), []


def wait(runner: JobRunner, journal: Journal, request_id: str) -> JobResult:
    try:
        return runner.wait(request_id)
    except JobCancelled as e:
        journal.set_status(request_id, "not_cancellable" if e.billed else "cancelled")
        if e.billed:
            fetch_in_background(runner.client, journal, request_id)
        host.raise_interrupt()
    except JobFailed as e:
        journal.set_status(request_id, e.status or "failed", str(e))
        raise
    except ApiError as e:
        if e.code == 404001:
            journal.set_status(request_id, "expired", str(e))
            raise RunComfyError(f"RunComfy no longer knows request {request_id} (expired). Press "
                                "Queue again to submit these inputs anew (a new, paid job).") from None
        raise


def fetch_once(client: RunComfyClient, journal: Journal, request_id: str, reporter=None):
    """Download a request's outputs unless another run already did (one download per job)."""
    with _lock_for("files:" + request_id):
        entry = journal.get(request_id)
        files = entry.local_files()
        if not files:
            files = fetch_all(client, entry.urls, entry.model_id, request_id,
                              progress=reporter.downloading if reporter else None)
            journal.record_files(request_id, files)
        return entry, files


def fetch_in_background(client: RunComfyClient, journal: Journal, request_id: str) -> None:
    """A job that could not be cancelled is paid for: fetch its result into the journal."""
    def work():
        try:
            result = JobRunner(client, run_timeout_s=run_timeout_s()).wait(request_id)
            journal.record_outputs(request_id, result.videos, result.images, result.cost)
            _, files = fetch_once(client, journal, request_id)
            log.info("RunComfy: kept the result of cancelled-but-billed request %s: %s",
                     request_id, ", ".join(map(str, files)))
        except RunComfyError as e:
            log.warning("RunComfy: could not fetch request %s in the background: %s", request_id, e)
    thread = threading.Thread(target=work, name=f"runcomfy-keep-{request_id[:8]}", daemon=True)
    BACKGROUND.append(thread)
    thread.start()


def build_outputs(spec: ModelSpec, entry: Entry, files, options: dict, reporter: Reporter) -> dict:
    """The node's outputs from whatever the job returned (videos and/or images)."""
    urls_text = "\n".join(entry.urls)
    video_files = [f for f, u in zip(files, entry.urls) if u in entry.videos]
    image_files = [f for f, u in zip(files, entry.urls) if u in entry.images]
    if video_files:
        if len(video_files) > 1:
            reporter.note(f"{len(video_files)} videos returned; frames come from the first, all are saved")
        clip = decode_video(video_files[0], start_frame=options["start_frame"],
                            every_nth=options["every_nth_frame"], frame_cap=options["frame_cap"],
                            progress=reporter.decoding)
        frames, fps, count = clip.frames, clip.fps, clip.frame_count
    else:
        notes: list[str] = []
        frames = load_images(image_files, notes)
        for n in notes:
            reporter.note(n)
        fps, count = 0.0, frames.shape[0]
    ui = preview(video_files or image_files, animated=bool(video_files))
    if spec.output == "video":
        video = host.video_from_file(video_files[0]) if video_files else None
        result = (frames, float(fps), int(count), video, urls_text, entry.request_id)
    else:
        result = (frames, urls_text, entry.request_id)
    return {"ui": ui, "result": result}


def _lock_for(fp: str) -> threading.Lock:
    with _locks_guard:
        return _submit_locks.setdefault(fp, threading.Lock())
