"""One status line and one progress bar for all items of a list run, and the memory their
decoded results share.

The node shows "8 jobs: 2 queued, 5 running, 1 done · ≈ $3.20" and a bar over the items; a
run of one item shows that item's own detailed status instead (its board *is* its reporter).
"""
from __future__ import annotations

import threading
import time

from ..core.errors import ResultTooLarge
from .status import StatusReporter

ORDER = ("checking", "waiting", "submitting", "queued", "running", "downloading", "decoding", "done",
         "failed")
STAGE_STATE = {"submitting": "submitting", "submitted": "queued", "queued": "queued",
               "running": "running", "downloading": "downloading", "decoding": "decoding",
               "done": "done", "waiting": "waiting", "cancelling": "running",
               "not_cancellable": "running", "cancelled": "failed"}
SAY_EVERY = 0.5          # seconds between status lines while nothing changes


def size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


class MemoryLedger:
    """The decoded results of one list run share the memory budget: reserved as each item
    decodes, so the list fails with a sentence instead of exhausting memory."""

    def __init__(self, n: int, budget: int):
        self.n = n
        self.budget = budget
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

    def __init__(self, host, node_id, n: int):
        self.host, self.node_id, self.n = host, node_id, n
        self.states = ["checking"] * n
        self.estimates: list = [None] * n
        self.notes: list[str] = []
        self._lock = threading.Lock()
        self._said = 0.0

    def item(self, i: int) -> StatusReporter:
        """Item ``i``'s reporter; a run of one item reports on the node in full."""
        return StatusReporter(self.host, self.node_id) if self.n == 1 else ItemReporter(self, i)

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
        if self.n > 1:
            self.host.show_status(self.node_id, line, self.notes[-3:])
            self.host.show_progress(self.node_id, done, self.n)

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
        if self.n > 1:
            self.host.show_status(self.node_id, self.line(), self.notes[-3:])


class ItemReporter(StatusReporter):
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

