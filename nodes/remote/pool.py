"""The job service's threads: a fixed pool of daemon threads.

``concurrent.futures.ThreadPoolExecutor`` joins its threads when Python exits, so closing
ComfyUI would wait for every job still polling RunComfy (up to its run limit).  These
threads are daemons instead: a job cut short by exit is in the journal and the next run
resumes it, which is exactly the crash the pack is built to survive.
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Executor, Future


class DaemonPool(Executor):
    def __init__(self, workers: int, name: str = "runcomfy-job"):
        self._max_workers = workers
        self._name = name
        self._work: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._idle = 0

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        self._work.put((future, fn, args, kwargs))
        with self._lock:
            if self._idle == 0 and len(self._threads) < self._max_workers:
                thread = threading.Thread(target=self._run, name=f"{self._name}-{len(self._threads)}",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()
            else:
                self._idle -= 1 if self._idle else 0
        return future

    def _run(self) -> None:
        while True:
            future, fn, args, kwargs = self._work.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:  # noqa: BLE001 - handed to whoever awaits it
                    future.set_exception(exc)
            with self._lock:
                self._idle += 1
