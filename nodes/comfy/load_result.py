"""RunComfy Load Result: the outputs of any request id, journaled or not, without paying again.

Uses the journaled local file when it is still on disk, else the journaled URLs, else
asks the service for the result (waiting for it if the job is still running).
"""
from __future__ import annotations

import asyncio

from . import host
from ..remote.client import safe_id, usable_request_id
from ..errors import InputError
from ..results.outputs import output_tooltips, return_names, return_types
from .factory import FRAME_OPTIONS
from ..spec.options import defaults
from ..spec.schema import ModelSpec
from .status import Reporter

NODE_ID = "RunComfy_LoadResult"
DISPLAY_NAME = "RunComfy Load Result"


def load(request_id: str, options: dict, reporter: Reporter, *, client=None, service=None,
         should_cancel=host.interrupted) -> dict:
    from .runner import build_outputs            # late: decoding loads on first use
    from ..remote.service import JobService
    request_id = (request_id or "").strip()
    if not request_id:
        raise InputError(f"{DISPLAY_NAME}: widget 'request_id' is empty. Paste a RunComfy request id "
                         "(the node outputs it, and the journal keeps every one).")
    if not usable_request_id(request_id):
        raise InputError(f"{DISPLAY_NAME}: widget 'request_id' is not a request id (too long or "
                         "with control characters). Paste the id the node printed.")
    service = service or JobService.shared()
    journal = service.journal()
    clients = service.clients(client)         # made only when the network is needed (token)
    entry = journal.get(request_id)
    if entry is None or not (entry.local_files() or entry.urls):
        reporter.say("loading", f"Asking RunComfy for request {safe_id(request_id)}…")
        if entry is None:
            journal.add_loaded(request_id)
            entry = journal.get(request_id)
        entry = service.wait(journal, clients(), entry, reporter, should_cancel,
                             cancel_on_interrupt=False)
    else:
        reporter.note(f"From the journal: request {safe_id(request_id)} ({entry.model_id})")
    entry, files = service.fetch_files(journal, clients, entry, reporter, should_cancel)
    spec = ModelSpec(entry.model_id, NODE_ID, DISPLAY_NAME, "", "video", [])
    outputs = build_outputs(spec, entry, files, {**defaults(), **options}, reporter)
    reporter.done(f"Loaded request {safe_id(request_id)} · no new charge")
    return outputs


class LoadResult:
    DESCRIPTION = ("Load the result of a RunComfy request by its id: from the journal when it was "
                   "run here (even after a restart), else from RunComfy. Never submits a job.")
    CATEGORY = "RunComfy"
    FUNCTION = "run"
    RETURN_TYPES = return_types("video")
    RETURN_NAMES = return_names("video")
    OUTPUT_TOOLTIPS = output_tooltips("video")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"request_id": ("STRING", {"default": "", "tooltip": "A RunComfy request id."}),
                             **dict(FRAME_OPTIONS)},
                "hidden": {"unique_id": "UNIQUE_ID"}}

    async def run(self, request_id: str, unique_id=None, **options):
        from ..remote.service import JobService
        reporter = Reporter(unique_id)
        pool = JobService.shared().pool          # not Python's default pool (cores + 4)
        return await asyncio.get_running_loop().run_in_executor(
            pool, lambda: load(request_id, options, reporter))
