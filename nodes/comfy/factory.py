"""A model → its ComfyUI V1 node class.  One factory for every model; no per-model code.

The widgets and sockets come from inputs/widgets.py (their order is part of the saved-workflow
contract), the outputs from the model's output kind (results/outputs.py).  A class is made
from what the library already knows (``NodeFacts``: id, names, category, output kind,
description) and reads its model's schema only when first asked for its inputs, so 1,500
catalog models cost ComfyUI's start almost nothing.  Nodes are findable by what they make and
who makes it (``RunComfy/Video/<vendor>``) and by their model id (search aliases, description).
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Callable

from ..core.errors import Billing, RunComfyError
from ..inputs.widgets import input_types, lead
from ..results.outputs import output_tooltips, return_names, return_types
from ..spec.kinds import MEDIA_KIND, OUTPUT_KIND
from ..spec.model import ModelSpec

CATEGORY_ROOT = "RunComfy"
UNAVAILABLE = f"{CATEGORY_ROOT}/Unavailable"
GONE = " (no longer in the catalog)"


@dataclass(frozen=True)
class NodeFacts:
    """What a node class shows before its schema is read."""
    model_id: str
    node_id: str
    display_name: str
    category: str                 # the full category: "RunComfy/Video/Acme"
    output: str                   # its model's output kind
    description: str
    unavailable: bool = False     # the catalog no longer offers it: it opens, it does not run


def vendor_of(model_id: str) -> str:
    """'wan-ai/wan-2-2/image-to-video' → 'Wan AI', 'black-forest-labs/…' → 'Black Forest Labs'."""
    words = re.split(r"[-_]+", model_id.split("/", 1)[0])
    return " ".join(w.upper() if len(w) <= 2 else w.capitalize() for w in words if w) or "Other"


def category_of(output: str, vendor: str) -> str:
    return f"{CATEGORY_ROOT}/{OUTPUT_KIND[output].title}/{vendor}"


DESCRIPTION_TEXT = 600    # characters of the catalog's description in a node's: read in a tooltip


def describe(text: str, display_name: str, model_id: str, output: str, takes, price_unit: str) -> str:
    """The node's description: what it is, its model id, what it takes and returns, its price unit
    (typing a model id, or part of it, in the node search finds the node)."""
    taken = ", ".join(MEDIA_KIND[k].what for k in takes if k in MEDIA_KIND) or "text and settings"
    unit = f" Priced per {price_unit.replace('per_', '')}." if price_unit else ""
    about = lead(text, DESCRIPTION_TEXT) if text.strip() else f"{display_name} on RunComfy's Model API."
    return (f"{about} Model: {model_id}. Takes {taken}; returns {OUTPUT_KIND[output].what}.{unit} "
            "Each run is a paid RunComfy job.")


def facts_of(spec: ModelSpec, category: str) -> NodeFacts:
    """A parsed model's facts (a model file, shipped or the user's)."""
    takes = sorted({f.media for f in spec.media_fields}, key=list(MEDIA_KIND).index)
    return NodeFacts(spec.model_id, spec.node_id, spec.display_name, category, spec.output,
                     describe(spec.description, spec.display_name, spec.model_id, spec.output,
                              takes, spec.price.get("price_unit", "")))


def default_values(node_class) -> dict:
    """The widget values a freshly placed node passes (defaults; a combo's default or first choice)."""
    values = {}
    for name, (typ, opts) in node_class.INPUT_TYPES()["required"].items():
        values[name] = opts.get("default", typ[0] if isinstance(typ, list) else None)
    return values


class Once:
    """A value made on first use, once, whichever thread asks first."""

    def __init__(self, make: Callable):
        self._make, self._lock, self._made = make, threading.Lock(), False
        self._value = None

    def __call__(self):
        with self._lock:
            if not self._made:
                self._value, self._made = self._make(), True
            return self._value


class LazySpec:
    """The class attribute ``SPEC``: the model's ModelSpec, read when first asked for."""

    def __get__(self, obj, owner):
        return owner.spec()


def make_node_class(spec: ModelSpec, rt, category: str | None = None) -> type:
    """The node class of a parsed model (a model file)."""
    return node_class(facts_of(spec, category or category_of(spec.output, spec.category)),
                      lambda: spec, rt)


def node_class(facts: NodeFacts, load_spec: Callable[[], ModelSpec], rt) -> type:
    """Build the V1 node class for one model, running its jobs on the runtime ``rt``; its
    schema is read (``load_spec``) when ComfyUI first asks for its inputs.

    No ``API_NODE`` flag: ComfyUI's frontend would draw its own price badge in Comfy credits
    (empty, for a node without its ``price_badge``); the pack's web extension draws the
    RunComfy estimate in US dollars instead."""
    spec = Once(load_spec)
    inputs = Once(lambda: input_types(spec()))

    async def run(self, **values):   # no named parameters: no schema field can clash with one
        if facts.unavailable:
            raise RunComfyError(f"{facts.display_name}: RunComfy's catalog no longer offers model "
                                f"{facts.model_id}, so it was not run. Replace the node with another "
                                "model.", billing=Billing.NOT_SENT)
        # deferred: the first job loads torch, PyAV and PIL, not ComfyUI's start
        from ..app.pipeline import run_node
        from ..app.plans import model_plan
        return await run_node(rt, lambda r, item: model_plan(r, spec(), item), values)

    names = return_names(facts.output)
    return type(facts.node_id, (), {
        "INPUT_TYPES": classmethod(lambda cls: inputs()),
        "RETURN_TYPES": return_types(names),
        "RETURN_NAMES": names,
        "OUTPUT_TOOLTIPS": output_tooltips(names),
        # Lists in (a CreateList of prompts, a folder of images): one job per item, all
        # checked before the first submit; outputs are lists in item order (app/pipeline.py).
        "INPUT_IS_LIST": True,
        "OUTPUT_IS_LIST": tuple(True for _ in names),
        "FUNCTION": "run",
        "CATEGORY": UNAVAILABLE if facts.unavailable else facts.category,
        "DESCRIPTION": facts.description,
        "SEARCH_ALIASES": [facts.model_id],
        "MODEL_ID": facts.model_id,
        "OUTPUT_KIND": facts.output,
        "DISPLAY_NAME": f"RunComfy {facts.display_name}" + (GONE if facts.unavailable else ""),
        "spec": classmethod(lambda cls: spec()),
        "SPEC": LazySpec(),
        "run": run,
    })
