"""Writes of a paid job's record that the journal refused, kept and written when it is back.

After the submit a job is paid for: its request id, states, outputs and files must reach the
journal, but a journal that is away for a while (a team database restarting, the network
gone, a sqlite file locked) must not stop the job from being polled and fetched.  The
recorder tries each write at once; one that fails waits in a queue, in order (a request id
before the outputs of that request), and a background thread writes the queue as soon as
the journal takes writes again.  Bounded: at most MAX_WAITING writes wait, each for at most
RETRY_S; what is dropped is logged with its request id (RunComfy Load Result fetches it).
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque

from ..remote.journal import JournalError

log = logging.getLogger("runcomfy")

RETRY_S = 3600.0                 # a write waits this long for the journal to come back
FIRST_S, MAX_S = 0.5, 10.0       # the first retry after 0.5 s, doubling up to 10 s
MAX_WAITING = 10_000


class Recorder:
    def __init__(self, journal, background, *, retry_s: float = RETRY_S):
        self._journal = journal             # a callable giving the runtime's journal
        self._background, self.retry_s = background, retry_s
        self._queue: deque = deque()        # (what, function name, args, since)
        self._lock = threading.Lock()
        self._running = False

    def write(self, what: str, method: str, *args) -> bool:
        """``journal.<method>(*args)`` now, else as soon as the journal takes it.  True: written now."""
        with self._lock:
            queued = bool(self._queue)
        if not queued:
            try:
                getattr(self._journal(), method)(*args)
                return True
            except JournalError as e:
                log.warning("RunComfy: %s; the pack writes it when the journal is back.", e)
        self._keep(what, method, args)
        return False

    def waiting(self) -> int:
        with self._lock:
            return len(self._queue)

    def _keep(self, what: str, method: str, args: tuple) -> None:
        with self._lock:
            if len(self._queue) >= MAX_WAITING:
                log.warning("RunComfy: too many journal writes wait; dropped: %s", what)
                return
            self._queue.append((what, method, args, time.monotonic()))
            start, self._running = not self._running, True
        if start:
            self._background.start("runcomfy-recorder", self._drain)

    def _drain(self) -> None:
        delay = FIRST_S
        while True:
            with self._lock:
                if not self._queue:
                    self._running = False
                    return
                what, method, args, since = self._queue[0]
            try:
                getattr(self._journal(), method)(*args)
            except JournalError as e:
                if time.monotonic() - since > self.retry_s:
                    log.warning("RunComfy: gave up writing to the journal (%s): %s. The job is paid "
                                "for: RunComfy Load Result fetches it by its request id.", e.reason, what)
                    self._pop()
                    continue
                time.sleep(delay)
                delay = min(delay * 2, MAX_S)
                continue
            log.info("RunComfy: the journal took a write it had refused: %s", what)
            self._pop()
            delay = FIRST_S

    def _pop(self) -> None:
        with self._lock:
            self._queue.popleft()
