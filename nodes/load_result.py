"""RunComfy Load Result: the outputs of any request id, journaled or not, without paying again.

Uses the journaled local file when it is still on disk, else the journaled URLs, else
asks the service for the result (waiting for it if the job is still running).
"""
from __future__ import annotations

import asyncio

from . import host
from .client import RunComfyClient
from .errors import InputError
from .factory import FRAME_OPTIONS, VIDEO_OUTPUTS
from .job import JobRunner
from .journal import Journal
from .schema import ModelSpec
from .settings import run_timeout_s
from .status import Reporter

NODE_ID = "RunComfy_LoadResult"
DISPLAY_NAME = "RunComfy Load Result"


def load(request_id: str, options: dict, reporter: Reporter, *, client: RunComfyClient | None = None,
         journal: Journal | None = None, should_cancel=host.interrupted) -> dict:
    from .runner import build_outputs, fetch_once   # late: decoding loads on first use
    request_id = (request_id or "").strip()
    if not request_id:
        raise InputError(f"{DISPLAY_NAME}: widget 'request_id' is empty. Paste a RunComfy request id "
                         "(the node outputs it, and the journal keeps every one).")
    journal = journal or Journal()
    entry = journal.get(request_id)
    if client is None and (entry is None or not entry.local_files()):
        client = RunComfyClient()      # only when the network is needed (needs the token)
    if entry is None or not (entry.local_files() or entry.urls):
        reporter.say("loading", f"Asking RunComfy for request {request_id[:8]}…")
        result = JobRunner(client, on_event=reporter.event, should_cancel=should_cancel,
                           run_timeout_s=run_timeout_s()).wait(request_id, cancel_on_interrupt=False)
        if entry is None:
            journal.record_submitted(request_id, "loaded:" + request_id, "unknown/model")
        journal.record_outputs(request_id, result.videos, result.images, result.cost)
    else:
        reporter.note(f"From the journal: request {request_id[:8]} ({entry.model_id})")
    entry, files = fetch_once(client, journal, request_id, reporter)
    spec = ModelSpec(entry.model_id, NODE_ID, DISPLAY_NAME, "", "video", [])
    outputs = build_outputs(spec, entry, files, options, reporter)
    reporter.done(f"Loaded request {request_id[:8]} · no new charge")
    return outputs


class LoadResult:
    DESCRIPTION = ("Load the result of a RunComfy request by its id: from the journal when it was "
                   "run here (even after a restart), else from RunComfy. Never submits a job.")
    CATEGORY = "RunComfy"
    FUNCTION = "run"
    RETURN_TYPES = tuple(t for t, _ in VIDEO_OUTPUTS)
    RETURN_NAMES = tuple(n for _, n in VIDEO_OUTPUTS)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"request_id": ("STRING", {"default": "", "tooltip": "A RunComfy request id."}),
                             **dict(FRAME_OPTIONS)},
                "hidden": {"unique_id": "UNIQUE_ID"}}

    async def run(self, request_id: str, unique_id=None, **options):
        reporter = Reporter(unique_id)
        return await asyncio.to_thread(load, request_id, options, reporter)
