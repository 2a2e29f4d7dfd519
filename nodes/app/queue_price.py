"""The price of a whole Queue before it is spent: every RunComfy node of a prompt, each
node's estimate × its runs (list items × the Queue's batch count), added up.

  * a job the journal already has (same inputs: completed, or paid and still running) costs
    nothing; the pack can tell only for a node whose inputs are all in its widgets (a picture
    from another node is known only when the prompt runs);
  * a batch of identical runs (no seed that changes between them) is paid once: the runs
    after the first reuse its job;
  * an unknown price, or a list whose length is known only when it runs, makes the total
    incomplete and is named, never counted as $0.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..remote.journal import PENDING
from ..spec.estimate import estimate
from ..spec.model import NOT_SET


@dataclass(frozen=True)
class NodePrice:
    node: str                   # the prompt's node id
    title: str
    model_id: str
    each: float | None          # one run's estimate (None: unknown)
    runs: int | None            # how many jobs it makes (None: a list of unknown length)
    reused: bool                # the journal has its job: nothing is paid
    usd: float | None           # what it adds (None: unknown)
    text: str                   # the estimate as the badge says it

    def view(self) -> dict:
        return asdict(self)


def node_estimate(spec, widgets: dict, price):
    """The estimate from raw widget values (by widget name), as the page has them."""
    wire = {}
    for f in spec.fields:
        if f.name in widgets:
            value = widgets[f.name]
            if value == NOT_SET:               # sends nothing: the estimate knows nothing of it
                continue
            if f.choices:                      # a combo's text → the schema's typed choice
                value = next((c for c in f.choices if str(c) == str(value)), value)
            wire[f.key] = value
    return estimate(spec, wire, price)


def journaled(rt, spec, widgets: dict) -> bool:
    """The journal holds a job of exactly these widget values (completed or paid and running)."""
    from .plans import model_plan              # deferred: a plan's modules load torch
    try:
        plan = model_plan(rt, spec, dict(widgets))
        entry = rt.journal.find([plan.fingerprint])
    except Exception:  # noqa: BLE001 - values the node would refuse: the run says why, not this
        return False
    return entry is not None and entry.status in ("completed", *PENDING)


def node_price(rt, node: str, title: str, spec, widgets: dict, *, items: int | None, linked: bool,
               fixed: bool, batch: int) -> NodePrice:
    """One node's part.  ``items``: its list items (1 when not fed a list, None: unknown);
    ``linked``: a media input comes from another node; ``fixed``: its values are the same in
    every run of the batch."""
    est = node_estimate(spec, widgets, rt.prices.get(spec))
    reused = items == 1 and not linked and journaled(rt, spec, widgets)
    runs = None if items is None else items * (1 if fixed else batch)
    if reused:
        usd = 0.0
    elif est.usd is None or runs is None:
        usd = None
    else:
        usd = round(est.usd * runs, 4)
    return NodePrice(node, title, spec.model_id, est.usd, runs, reused, usd, est.text)


def total_of(parts: list[NodePrice]) -> dict:
    known = [p.usd for p in parts if p.usd is not None]
    unknown = [p.title for p in parts if p.usd is None]
    return {"total": round(sum(known), 4), "complete": not unknown, "unknown": unknown,
            "nodes": [p.view() for p in parts]}
