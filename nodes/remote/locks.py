"""Locks by key that do not pile up: one per key while someone holds or waits for it."""
from __future__ import annotations

import threading
from contextlib import contextmanager


class KeyedLocks:
    """One lock per key, dropped again when nobody holds or waits for it."""

    def __init__(self):
        self._guard = threading.Lock()
        self._locks: dict[str, list] = {}   # key → [lock, users]

    @contextmanager
    def hold(self, key: str):
        with self._guard:
            slot = self._locks.setdefault(key, [threading.Lock(), 0])
            slot[1] += 1
        try:
            with slot[0]:
                yield
        finally:
            with self._guard:
                slot[1] -= 1
                if slot[1] == 0:
                    del self._locks[key]

    def __len__(self):
        return len(self._locks)
