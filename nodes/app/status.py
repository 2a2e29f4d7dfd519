"""Live status on the node: job events, download and decode progress → one line of text.

The host shows the text on the node and the bar for download and decode progress; without
a host (tests, the demo), each line goes to the log.  ``lines`` keeps the history so tests
and the demo can see every stage.  Implements core.report.Reporter.
"""
from __future__ import annotations

import threading
import time

import logging

from ..remote.job import Event, duration

log = logging.getLogger("runcomfy")

MB = 1024 * 1024


def clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def size(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB / 10 else f"{n / 1024:.0f} KB"


class StatusReporter:
    def __init__(self, host=None, node_id=None, sink=None):
        self.host, self.node_id = host, node_id
        self.sink = sink                 # optional callable(stage, text), e.g. the demo's printer
        self.lines: list[tuple[str, str]] = []
        self.notes: list[str] = []
        self._last_progress = 0.0
        self._lock = threading.Lock()

    def say(self, stage: str, text: str) -> None:
        with self._lock:
            self.lines.append((stage, text))
        self.show(text, self.notes[-3:] if stage != "note" else [])
        if self.sink:
            self.sink(stage, text)

    def show(self, text: str, notes) -> None:
        if self.host is not None:
            self.host.show_status(self.node_id, text, notes)
        else:
            log.info("%s", text)

    def progress(self, value: float, total: float) -> None:
        if self.host is not None:
            self.host.show_progress(self.node_id, value, total)

    def note(self, text: str) -> None:
        """A fact worth keeping on the node under the status (e.g. 'image resized …')."""
        self.notes.append(text)
        self.say("note", text)

    @property
    def stages(self) -> list[str]:
        return [s for s, _ in self.lines]

    def event(self, e: Event) -> None:
        rid = f" · {e.request_id[:8]}" if e.request_id else ""
        if e.stage == "submitting":
            self.say("submitting", "Submitting to RunComfy…" + (f" {e.message}" if e.message else ""))
        elif e.stage == "submitted":
            self.say("submitted", f"Submitted{rid}")
        elif e.stage == "queued":
            pos = f" (position {e.position})" if e.position else ""
            self.say("queued", f"Queued{pos} · {clock(e.elapsed)}{rid}")
        elif e.stage in ("running", "unknown"):
            word = "Running" if e.stage == "running" else f"Waiting ({e.raw_status})"
            self.say("running", f"{word} · {clock(e.running_for)} (total {clock(e.elapsed)}){rid}")
        elif e.stage == "completed":
            self.say("completed", f"Finished on RunComfy in {duration(e.elapsed)}{rid}")
        elif e.stage in ("cancelling", "cancelled", "not_cancellable"):
            self.say(e.stage, e.message or "Cancelling…")

    def downloading(self, received: int, total: int | None) -> None:
        if not self._due(received == total):
            return
        of = f" of {size(total)}" if total else ""
        self.say("downloading", f"Downloading {size(received)}{of}")
        if total:
            self.progress(received, total)

    def decoding(self, done: int, total: int) -> None:
        if not self._due(done == total):
            return
        self.say("decoding", f"Decoding {done} / {total} frames")
        self.progress(done, total)

    def _due(self, final: bool) -> bool:
        now = time.monotonic()
        if final or now - self._last_progress >= 0.25:
            self._last_progress = now
            return True
        return False

    def done(self, text: str) -> None:
        self.say("done", text)
