"""RunComfy Load Result: the outputs of any request id, journaled or not, without paying again.

Uses the journaled local file when it is still on disk, else the journaled URLs, else asks
the service for the result (waiting for it if the job is still running).  It runs the same
pipeline as every model node (app/pipeline.py) with a plan that names a request instead of
inputs, so it never submits.
"""
from __future__ import annotations

from ..core.errors import InputError
from ..remote.client import usable_request_id
from ..results.outputs import ANY_RESULT, output_tooltips, return_types
from ..spec.options import defaults
from ..inputs.widgets import FRAME_OPTIONS

NODE_ID = "RunComfy_LoadResult"
DISPLAY_NAME = "RunComfy Load Result"


def request_plan(rt, values: dict):
    """The node's values → a plan that loads ``request_id`` (checked) and never submits."""
    from ..app.plans import Plan                 # deferred: the first job loads torch / av / PIL
    request_id = str(values.get("request_id") or "").strip()
    if not request_id:
        raise InputError(f"{DISPLAY_NAME}: widget 'request_id' is empty. Paste a RunComfy request id "
                         "(the node outputs it, and the journal keeps every one).")
    if not usable_request_id(request_id):
        raise InputError(f"{DISPLAY_NAME}: widget 'request_id' is not a request id (too long or "
                         "with control characters). Paste the id the node printed.")
    options = {**defaults(), **{k: v for k, v in values.items() if k in dict(FRAME_OPTIONS)}}
    return Plan("unknown/model", DISPLAY_NAME, ANY_RESULT, options, request_id=request_id)


def load_result_node(rt) -> type:
    """The node class, loading on the runtime ``rt``."""

    class LoadResult:
        DESCRIPTION = ("Load the result of a RunComfy request by its id: from the journal when it "
                       "was run here (even after a restart), else from RunComfy. Never submits a job.")
        CATEGORY = "RunComfy"
        FUNCTION = "run"
        RETURN_TYPES = return_types(ANY_RESULT)
        RETURN_NAMES = ANY_RESULT
        OUTPUT_TOOLTIPS = output_tooltips(ANY_RESULT)
        INPUT_IS_LIST = True                 # a list of request ids loads each
        OUTPUT_IS_LIST = tuple(True for _ in RETURN_NAMES)

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"request_id": ("STRING", {"default": "", "tooltip": "A RunComfy request id."}),
                                 **dict(FRAME_OPTIONS)},
                    "hidden": {"unique_id": "UNIQUE_ID"}}

        async def run(self, **values):
            from ..app.pipeline import run_node  # deferred: the first job loads torch, PyAV and PIL
            return await run_node(rt, request_plan, values)

    return LoadResult
