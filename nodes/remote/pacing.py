"""One rate limit for every job against one API host.

Many jobs at once share a ``RateGate``: when any request is answered 429, every job's
next request to that host waits until the Retry-After has passed (not only the job that
got it), and submits are paced (at most one every ``interval`` seconds, slowed down
after a 429 and eased back after successes), so a burst of 50 list items becomes 50
paced submits instead of 50 rejected ones.
"""
from __future__ import annotations

import threading
import time

MIN_INTERVAL = 0.1        # submits per second at most, normally: 10
MAX_INTERVAL = 2.0        # after repeated 429s on submit: one every 2 s
DEFAULT_PAUSE = 1.0       # a 429 without Retry-After pauses this long
EASE = 0.98               # each accepted submit shortens the interval by 2 %


class RateGate:
    def __init__(self, *, clock=time.monotonic, sleep=time.sleep, max_pause: float = 60.0):
        self.clock, self.sleep, self.max_pause = clock, sleep, max_pause
        self._lock = threading.Lock()
        self.pause_until = 0.0            # no request before this
        self.next_submit = 0.0            # no submit before this
        self.interval = MIN_INTERVAL
        self.held = 0                     # 429s seen (for tests and the benchmark)

    def wait(self, submit: bool = False) -> float:
        """Block until this request may go; returns the seconds waited.

        No slot is booked ahead: a waiter sleeps until the earliest moment it might go and
        looks again, so a 429 arriving meanwhile (a longer pause, a slower pace) holds
        back every waiter, not only the requests that come later."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                at = max(self.pause_until, self.next_submit if submit else 0.0)
                if at <= now:
                    if submit:
                        self.next_submit = now + self.interval
                    return waited
            self.sleep(min(at - now, 0.25))
            waited += min(at - now, 0.25)

    def remaining(self) -> float:
        with self._lock:
            return max(0.0, self.pause_until - self.clock())

    def hold(self, retry_after: float | None, submit: bool = False) -> None:
        """A 429: every request to this host waits ``retry_after`` (capped) from now."""
        pause = min(self.max_pause, retry_after if retry_after is not None else DEFAULT_PAUSE)
        with self._lock:
            self.held += 1
            self.pause_until = max(self.pause_until, self.clock() + max(0.0, pause))
            if submit:
                self.interval = min(MAX_INTERVAL, max(self.interval * 2, 2 * MIN_INTERVAL))

    def passed(self, submit: bool = False) -> None:
        """A submit went through: ease the pace back towards normal, slowly (doubled on a
        429, eased 2 % per success: the pace settles just under what the service takes)."""
        if submit:
            with self._lock:
                self.interval = max(MIN_INTERVAL, self.interval * EASE)
