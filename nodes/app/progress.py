"""How far this process's running jobs are (for the jobs panel's progress bars): each job's
last stage, queue position and running time, as its polls saw them.  Only jobs this process
waits for are here (a team's other machines show their stage from the journal)."""
from __future__ import annotations

import threading
import time

LIVE_STAGES = ("submitted", "queued", "running", "unknown")
STALE_S = 600.0           # a job not polled for this long has ended (failed, or its run stopped)


class Progress:
    def __init__(self):
        self._jobs: dict[str, dict] = {}
        self._lock = threading.Lock()

    def note(self, event) -> None:
        """A job event (remote/job.py Event): kept while the job runs, dropped when it ends."""
        rid = getattr(event, "request_id", "")
        if not rid:
            return
        with self._lock:
            now = time.time()
            for stale in [r for r, seen in self._jobs.items() if now - seen["seen_at"] > STALE_S]:
                del self._jobs[stale]
            if event.stage in LIVE_STAGES:
                self._jobs[rid] = {"stage": event.stage, "position": event.position,
                                   "running_s": round(event.running_for, 1),
                                   "elapsed_s": round(event.elapsed, 1), "seen_at": time.time()}
            else:
                self._jobs.pop(rid, None)

    def of(self, request_id: str) -> dict | None:
        with self._lock:
            found = self._jobs.get(request_id)
            fresh = found and time.time() - found["seen_at"] <= STALE_S
            return dict(found) if fresh else None
