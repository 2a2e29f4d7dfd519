"""The pack's time: one object for waiting and measuring, so tests can run it faster.

``monotonic`` and ``sleep`` are scaled together (``scale`` 10: ten simulated seconds pass in
one real second), so every poll interval, timeout and backoff keeps its meaning while a test
shares the simulator's time scale.  ``wall`` is the real calendar time, never scaled: the
journal and the daily limit count real days, and claims are compared across processes.
"""
from __future__ import annotations

import time


class Clock:
    def __init__(self, scale: float = 1.0):
        self.scale = float(scale)
        self._t0 = time.monotonic()

    def monotonic(self) -> float:
        """Seconds (simulated, at ``scale``) since an arbitrary start."""
        return (time.monotonic() - self._t0) * self.scale

    now = monotonic          # the simulator's name for it: one clock can drive both

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self.scale)

    @staticmethod
    def wall() -> float:
        return time.time()
