"""Many jobs at once: a model node fed lists runs one remote job per item, all together.

The nodes are ``INPUT_IS_LIST``: ComfyUI hands every input as a list (a CreateList of
prompts, a folder of images with captions, or a single value as a list of one).  Items
follow ComfyUI's own rule: the longest list sets the count, a shorter one repeats its
last value.  Then:
  1. every item is checked, priced and (unless the journal already has its inputs)
     encoded; one bad item fails the node before anything is submitted;
  2. every item's job runs in the job service's pool (RUNCOMFY_MAX_CONCURRENT_JOBS
     threads, not Python's default pool), each journaled, reused or resumed on its own,
     all sharing one rate gate and one memory ledger;
  3. the outputs are lists in item order (``OUTPUT_IS_LIST``); each item's frames are
     held once, never copied into a combined batch.
The node shows one line for all items ("8 jobs: 2 queued, 5 running, 1 done · ≈ $3.20")
and a progress bar over the items.
"""
from __future__ import annotations

import asyncio
import threading
import time

from ..errors import ResultTooLarge, RunComfyError
from ..remote.service import JobService
from . import host
from .status import Reporter

ORDER = ("checking", "waiting", "submitting", "queued", "running", "downloading", "decoding", "done",
         "failed")
STAGE_STATE = {"submitting": "submitting", "submitted": "queued", "queued": "queued",
               "running": "running", "downloading": "downloading", "decoding": "decoding",
               "done": "done", "waiting": "waiting", "cancelling": "running",
               "not_cancellable": "running", "cancelled": "failed"}
SAY_EVERY = 0.5          # seconds between status lines while nothing changes


def items_of(values: dict) -> list[dict]:
    """ComfyUI's list inputs → one value dict per item (a shorter list repeats its last)."""
    lists = {k: v if isinstance(v, list) else [v] for k, v in values.items()}
    n = max([len(v) for v in lists.values() if v] or [1])
    return [{k: (v[min(i, len(v) - 1)] if v else None) for k, v in lists.items()} for i in range(n)]


async def run_list(spec, values: dict) -> dict:
    from .runner import execute, finish, plan
    node_id = first(values.pop("unique_id", None))
    items = items_of(values)
    service = JobService.shared()
    loop = asyncio.get_running_loop()
    if len(items) == 1:
        out = await loop.run_in_executor(service.pool, lambda: execute(spec, items[0], Reporter(node_id),
                                                                       service=service))
        return as_lists([out])
    board = Board(node_id, len(items))
    plans = await loop.run_in_executor(service.pool, check_all, spec, items, service, board, plan)
    ledger = MemoryLedger(len(items))
    jobs = [loop.run_in_executor(service.pool, lambda i=i, t=t, o=o: finish(
                spec, t, o, board.item(i), service=service, ledger=ledger))
            for i, (t, o) in enumerate(plans)]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    failures = [(i, r) for i, r in enumerate(results) if isinstance(r, BaseException)]
    for i, _ in failures:
        board.update(i, "failed")
    if failures:
        raise_failures(failures, len(items))
    board.finish()
    return as_lists(results)


def check_all(spec, items: list[dict], service, board, plan) -> list:
    """Every item checked (and encoded unless its job is journaled) before any is submitted."""
    plans, new = [], []
    journal = service.journal()
    for i, values in enumerate(items):
        try:
            ticket, options = plan(spec, values, service)
            if journal.find([ticket.fingerprint]) is None:
                ticket.prepared()
                new.append(ticket)
        except RunComfyError as e:
            e.args = (f"Item {i + 1} of {len(items)}: {e} Nothing was submitted for any item.",)
            raise
        plans.append((ticket, options))
        board.priced(i, ticket.estimate)
    check_list_limit(new, journal)
    return plans


def check_list_limit(new: list, journal) -> None:
    """With a daily limit, the whole list must fit it before its first job is submitted
    (each job's own claim checks again, so other runs meanwhile still count)."""
    from ..remote.money import spend_check
    from ..spec.estimate import Estimate
    usd = [getattr(t.estimate, "usd", None) for t in new]
    if not new:
        return
    unknown = next((t.estimate for t in new if getattr(t.estimate, "usd", None) is None), None)
    total = Estimate(None if unknown is not None else sum(usd), "", getattr(unknown, "detail", ""))
    check = spend_check(total)
    if check is not None:
        try:
            check(*journal.spend_today())
        except RunComfyError as e:
            e.args = (f"The {len(new)} new jobs of this list together: {e}",)
            raise


def raise_failures(failures, n: int) -> None:
    interrupt = next((r for _, r in failures if not isinstance(r, Exception)), None)
    if interrupt is not None:
        raise interrupt                               # Cancel: ComfyUI's own interrupt
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


def first(value):
    return value[0] if isinstance(value, list) and value else value


def size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


class MemoryLedger:
    """The decoded results of one list run share the memory budget: reserved as each item
    decodes, so the list fails with a sentence instead of exhausting memory."""

    def __init__(self, n: int, budget: int | None = None):
        from ..settings import result_memory_budget
        self.n = n
        self.budget = result_memory_budget() if budget is None else budget
        self.used = 0
        self._lock = threading.Lock()

    def reserve(self, nbytes: int, what: str) -> None:
        with self._lock:
            if self.used + nbytes > self.budget:
                raise ResultTooLarge(
                    f"The {self.n} results of this list together need more memory than the "
                    f"{size(self.budget)} budget (RUNCOMFY_MAX_RESULT_GB): {size(self.used)} are "
                    f"taken and the next one ({what}) needs {size(nbytes)}. Set frame_cap or "
                    "every_nth_frame (each item's frames shrink by that much), or run fewer items "
                    "at once. The videos are saved.")
            self.used += nbytes


class Board:
    """One status line and one progress bar for all items of a list run."""

    def __init__(self, node_id, n: int):
        self.node_id, self.n = node_id, n
        self.states = ["checking"] * n
        self.estimates: list = [None] * n
        self.notes: list[str] = []
        self._lock = threading.Lock()
        self._said = 0.0

    def item(self, i: int) -> "ItemReporter":
        return ItemReporter(self, i)

    def priced(self, i: int, est) -> None:
        self.estimates[i] = getattr(est, "usd", None)
        self.update(i, "waiting")

    def update(self, i: int, state: str) -> None:
        """An item's state; the line is said on every change, else at most every SAY_EVERY."""
        with self._lock:
            changed = self.states[i] != state
            self.states[i] = state
            now = time.monotonic()
            if not changed and now - self._said < SAY_EVERY:
                return
            self._said = now
            line, done = self.line(), sum(s in ("done", "failed") for s in self.states)
        host.show_status(self.node_id, line, self.notes[-3:])
        host.show_progress(self.node_id, done, self.n)

    def note(self, i: int, text: str) -> None:
        with self._lock:
            self.notes.append(f"item {i + 1}: {text}")

    def line(self) -> str:
        counts = [(s, self.states.count(s)) for s in ORDER if self.states.count(s)]
        parts = ", ".join(f"{c} {s}" for s, c in counts)
        known = [e for e in self.estimates if e is not None]
        price = f" · ≈ ${sum(known):.2f}" if known and len(known) == self.n else ""
        return f"{self.n} jobs: {parts}{price}"

    def finish(self) -> None:
        host.show_status(self.node_id, self.line(), self.notes[-3:])


class ItemReporter(Reporter):
    """One item's reporter: keeps its own lines (tests, the journal) and moves the board."""

    def __init__(self, board: Board, index: int):
        super().__init__(None)
        self.board, self.index = board, index

    def say(self, stage: str, text: str) -> None:
        with self._lock:
            self.lines.append((stage, text))
        state = STAGE_STATE.get(stage)
        if state is not None:
            self.board.update(self.index, state)

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.board.note(self.index, text)
        self.say("note", text)

