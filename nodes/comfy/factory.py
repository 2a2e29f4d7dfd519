"""ModelSpec → ComfyUI V1 node class.  One factory for every model; no per-model code.

The widgets and sockets come from inputs/widgets.py (their order is part of the saved-workflow
contract), the outputs from the model's output kind (results/outputs.py).
"""
from __future__ import annotations

from ..inputs.widgets import FRAME_OPTIONS, input_types
from ..results.outputs import output_tooltips, return_names, return_types
from ..spec.model import ModelSpec

CATEGORY_ROOT = "RunComfy"


def default_values(node_class) -> dict:
    """The widget values a freshly placed node passes (defaults; a combo's default or first choice)."""
    values = {}
    for name, (typ, opts) in node_class.INPUT_TYPES()["required"].items():
        values[name] = opts.get("default", typ[0] if isinstance(typ, list) else None)
    return values


def make_node_class(spec: ModelSpec, rt) -> type:
    """Build the V1 node class for one model, running its jobs on the runtime ``rt``.

    No ``API_NODE`` flag: ComfyUI's frontend would draw its own price badge in Comfy credits
    (empty, for a node without its ``price_badge``); the pack's web extension draws the
    RunComfy estimate in US dollars instead."""

    async def run(self, **values):   # no named parameters: no schema field can clash with one
        # deferred: the first job loads torch, PyAV and PIL, not ComfyUI's start
        from ..app.pipeline import run_node
        from ..app.plans import model_plan
        return await run_node(rt, lambda r, item: model_plan(r, spec, item), values)

    desc = spec.description or f"{spec.display_name} on RunComfy's Model API."
    return type(spec.node_id, (), {
        "INPUT_TYPES": classmethod(lambda cls: input_types(spec)),
        "RETURN_TYPES": return_types(return_names(spec.output)),
        "RETURN_NAMES": return_names(spec.output),
        "OUTPUT_TOOLTIPS": output_tooltips(return_names(spec.output)),
        # Lists in (a CreateList of prompts, a folder of images): one job per item, all
        # checked before the first submit; outputs are lists in item order (app/pipeline.py).
        "INPUT_IS_LIST": True,
        "OUTPUT_IS_LIST": tuple(True for _ in return_names(spec.output)),
        "FUNCTION": "run",
        "CATEGORY": f"{CATEGORY_ROOT}/{spec.category}",
        "DESCRIPTION": f"{desc} Model: {spec.model_id}. Each run is a paid RunComfy job.",
        "SPEC": spec,
        "run": run,
    })
