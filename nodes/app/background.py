"""Work that outlives a node: a paid job fetched after Cancel, a request id written once the
journal takes it.  Daemon threads (closing ComfyUI never waits for them: the journal lets the
next run pick the work up), which tests and shutdown can wait for."""
from __future__ import annotations

import threading
import time


class Background:
    def __init__(self):
        self._guard = threading.Lock()
        self._threads: set[threading.Thread] = set()

    def start(self, name: str, work) -> None:
        """Run ``work`` in a daemon thread that ``join`` waits for."""
        def run():
            try:
                work()
            finally:
                with self._guard:
                    self._threads.discard(threading.current_thread())
        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._guard:
            self._threads.add(thread)
        thread.start()

    def join(self, timeout: float = 30.0) -> bool:
        """Wait for the background work (tests, shutdown); True when none is left."""
        end = time.monotonic() + timeout
        while True:
            with self._guard:
                threads = list(self._threads)
            if not threads:
                return True
            if time.monotonic() > end:
                return False
            threads[0].join(max(0.0, end - time.monotonic()))
