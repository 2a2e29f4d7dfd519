"""The one job pipeline every node runs: plan → obtain → outputs.

  1. **plan**: every item's values become a Plan (checked, priced, fingerprinted; encoded
     unless the journal already has those inputs).  One bad item fails the node before
     anything is submitted, and with a daily limit the new jobs together must fit it;
  2. **obtain**: each item's job is reused, resumed or submitted, waited for and downloaded
     (obtain.py), all items at once in the runtime's pool, sharing its rate gates;
  3. **outputs**: each item's files become the node's outputs (results/outputs.py); the
     node returns lists in item order (ComfyUI's ``OUTPUT_IS_LIST``).
A single value is a list of one.  Nodes differ only in how they make a plan (``planner``:
a model node's widgets, the generic node's JSON arguments, Load Result's request id).

ComfyUI hands every input as a list (``INPUT_IS_LIST``): a CreateList of prompts, a folder
of images, or a single value as a list of one.  Items follow ComfyUI's own rule: the
longest list sets the count, a shorter one repeats its last value.
"""
from __future__ import annotations

import asyncio
import time

from ..core.errors import Billing, DecodeError, RunComfyError
from ..remote.client import safe_id
from ..results.outputs import build
from ..spec.estimate import Estimate
from .board import Board, MemoryLedger
from .money import spend_check
from .obtain import obtain
from .plans import model_plan


async def run_node(rt, planner, values: dict) -> dict:
    """A node's FUNCTION: ``planner(rt, item values) → Plan`` for every item, then each item's
    job, all at once; the outputs as lists in item order."""
    node_id = first(values.pop("unique_id", None))
    items = items_of(values)
    board = Board(rt.host, node_id, len(items))
    loop = asyncio.get_running_loop()
    plans = await loop.run_in_executor(rt.pool, plan_all, rt, planner, items, board)
    ledger = MemoryLedger(len(items), rt.settings.result_memory_budget())
    jobs = [loop.run_in_executor(rt.pool, finish, rt, plan, board.item(i), rt.host.interrupted, ledger)
            for i, plan in enumerate(plans)]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    failures = [(i, r) for i, r in enumerate(results) if isinstance(r, BaseException)]
    for i, _ in failures:
        board.update(i, "failed")
    if failures:
        raise_failures(failures, len(items))
    board.finish()
    return as_lists(results)


def execute(rt, planner, values: dict, reporter, should_cancel=None) -> dict:
    """One item through the same three steps, in the calling thread (the demo, tests)."""
    (plan,) = plan_all(rt, planner, [values], Board(rt.host, None, 1))
    return finish(rt, plan, reporter, should_cancel or rt.host.interrupted)


def run_model(rt, spec, values: dict, reporter, should_cancel=None) -> dict:
    """A model node's one item, as ``execute`` runs it (the demo, tests)."""
    return execute(rt, lambda r, item: model_plan(r, spec, item), values, reporter, should_cancel)


def plan_all(rt, planner, items: list[dict], board: Board) -> list:
    """Every item checked (and encoded unless its job is journaled) before any is submitted."""
    plans, new = [], []
    for i, values in enumerate(items):
        try:
            plan = planner(rt, values)
            if plan.fingerprint and rt.journal.find([plan.fingerprint]) is None:
                plan.prepared()
                new.append(plan)
        except RunComfyError as e:
            if len(items) > 1:
                raise e.with_facts(item=(i + 1, len(items))) from None
            raise
        plans.append(plan)
        board.priced(i, plan.estimate)
    if len(new) > 1:
        check_list_limit(rt, new)
    return plans


def check_list_limit(rt, new: list) -> None:
    """With a daily limit, the whole list must fit it before its first job is submitted
    (each job's own claim checks again, so other runs meanwhile still count)."""
    usd = [getattr(p.estimate, "usd", None) for p in new]
    unknown = next((p.estimate for p in new if getattr(p.estimate, "usd", None) is None), None)
    total = Estimate(None if unknown is not None else sum(usd), "", getattr(unknown, "detail", ""))
    check = spend_check(total, rt.settings, rt.journal.shared, jobs=len(new))
    if check is not None:
        check(rt.journal.spend_today())


def finish(rt, plan, reporter, should_cancel, ledger=None) -> dict:
    """Obtain the plan's job (reused, resumed, submitted or loaded) and turn it into outputs."""
    started = time.monotonic()
    got = obtain(rt, plan, reporter, should_cancel)
    try:
        outputs = build(plan.outputs, got.entry, got.files, reporter, rt.decoding(plan.options, ledger))
    except DecodeError as e:
        # Keep the damaged file for the user to inspect, but forget it: the next run
        # downloads the result again (the job is paid for; its URL is in the journal).
        rid = got.entry.request_id
        rt.recorder.write(f"forgetting the damaged files of request {rid}", "record_files", rid, [])
        raise e.with_facts(billing=Billing.BILLED, cost=got.entry.cost, refetch=True) from None
    reporter.done(done_line(plan, got, time.monotonic() - started))
    return outputs


def done_line(plan, got, seconds: float) -> str:
    rid = safe_id(got.entry.request_id)
    if plan.request_id:
        return f"Loaded request {rid} · no new charge"
    cost = f" · ${got.entry.cost:.2f}" if got.entry.cost is not None else ""
    if got.entry.cost is None and got.entry.estimate is not None:
        cost = f" · ≈ ${got.entry.estimate:.2f} (RunComfy did not report the cost)"
    if got.reused:
        cost = " · reused, no new charge"
    return f"Done in {seconds:.0f} s{cost} · {rid}"


def raise_failures(failures, n: int) -> None:
    interrupt = next((r for _, r in failures if not isinstance(r, Exception)), None)
    if interrupt is not None:
        raise interrupt                               # Cancel: the host's own interrupt
    if len(failures) == 1 and n == 1:
        raise failures[0][1]
    done = n - len(failures)
    detail = "; ".join(f"item {i + 1}: {r}" for i, r in failures[:5])
    more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
    raise RunComfyError(f"{len(failures)} of {n} jobs failed; the other {done} finished and are "
                        f"journaled (queue again: they are reused without paying). {detail}{more}")


def as_lists(outs: list[dict]) -> dict:
    """Per-item outputs → one list per output, in item order, and one preview."""
    width = len(outs[0]["result"])
    result = tuple([o["result"][k] for o in outs] for k in range(width))
    ui: dict = {}
    for o in outs:
        for key, value in (o.get("ui") or {}).items():
            ui.setdefault(key, [])
            ui[key] += list(value)
    if "animated" in ui:
        ui["animated"] = (any(ui["animated"]),)
    return {"ui": ui, "result": result}


def items_of(values: dict) -> list[dict]:
    """ComfyUI's list inputs → one value dict per item (a shorter list repeats its last)."""
    lists = {k: v if isinstance(v, list) else [v] for k, v in values.items()}
    n = max([len(v) for v in lists.values() if v] or [1])
    return [{k: (v[min(i, len(v) - 1)] if v else None) for k, v in lists.items()} for i in range(n)]


def first(value):
    return value[0] if isinstance(value, list) and value else value
