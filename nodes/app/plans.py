"""A plan: the one job a node's values ask for, checked and priced, not yet paid for.

Every node makes plans the same way the pipeline then runs them: a model node from its
schema widgets (``model_plan``), the generic node from a model id and JSON arguments, Load
Result from a request id.  Making a plan checks every widget and computes the inputs'
fingerprint and price (cheap); the media are encoded only when ``prepared`` is first asked
for, that is when no journaled job has these inputs.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

from ..inputs.fingerprint import fingerprint, legacy_fingerprint
from ..inputs.prepare import media_identity, prepare_media
from ..inputs.request import assemble, encode_body, scalar_values
from ..results.outputs import return_names
from ..spec.estimate import Estimate, estimate
from ..spec.model import ModelSpec
from ..spec.options import identity, split


@dataclass(frozen=True)
class Prepared:
    """Checked and encoded inputs: exactly what the submit sends."""
    payload: bytes
    earlier_fingerprints: tuple = ()   # how earlier versions keyed the same inputs (their jobs count)
    notes: tuple = ()                  # what encoding did (resized, re-encoded …), for the node


@dataclass
class Plan:
    model_id: str
    display_name: str
    outputs: tuple                     # the node's outputs, by name (results/outputs.py)
    options: dict                      # the frame options results are decoded with
    fingerprint: str = ""              # the inputs' identity ("" for a known request)
    request_id: str = ""               # a known request (Load Result): never submitted
    estimate: Estimate | None = None
    prepare: Callable[[], Prepared] | None = None
    _prepared: Prepared | None = field(default=None, repr=False)
    _once: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def prepared(self) -> Prepared:
        """The checked, encoded inputs, made once (a list encodes every item up front)."""
        with self._once:
            if self._prepared is None:
                self._prepared = self.prepare()
            return self._prepared


def model_plan(rt, spec: ModelSpec, values: dict) -> Plan:
    """A model node's widget values → its plan: every widget checked, the fingerprint and
    price computed; the media encoded only if the job is new (``Plan.prepared``)."""
    values, options = split(values)
    scalars = scalar_values(spec, values)
    media = media_identity(spec, values)
    own = identity(spec, options)

    def prepare() -> Prepared:
        prepared = prepare_media(spec, values, fit=bool(options["fit_image_to_limits"]),
                                 fps=float(options["video_fps"] or 0))
        body = assemble(spec, scalars, prepared.urls)
        earlier = (legacy_fingerprint(spec.model_id, body),
                   fingerprint(spec.model_id, scalars, media_identity(spec, values, legacy=True), own, 2))
        return Prepared(encode_body(body, spec.display_name), earlier, tuple(prepared.notes))

    return Plan(spec.model_id, spec.display_name, return_names(spec.output), options,
                fingerprint=fingerprint(spec.model_id, scalars, media, own),
                estimate=estimate(spec, scalars, rt.prices.get(spec)), prepare=prepare)
