"""The runtime: everything that lives as long as the process, built once and passed explicitly.

ComfyUI's entry point builds one when the pack loads (``comfy/entry.py``) and hands it to
every node class and route; a test builds its own with its own folders and clock.  It holds
the host (folders, status, Cancel), the settings of the user folder, the job journal, the
price book, the thread pool jobs run in, one rate gate per API host, the locks and claims of
this process, and the background work that outlives a node.  Nothing here is a module
global or a class-level singleton.
"""
from __future__ import annotations

import os
import socket
import threading
import uuid
from pathlib import Path

from ..core.clock import Clock
from ..core.host import Host
from ..core.settings import Settings
from ..remote.client import RunComfyClient
from ..remote.journal import Journal
from ..remote.locks import KeyedLocks
from ..remote.pacing import RateGate
from ..remote.pool import DaemonPool
from ..remote.transport import RetryPolicy
from ..results.files import output_folder, sweep_parts
from ..results.outputs import Decoding
from ..spec.prices import PriceBook
from .background import Background
from .sync import CatalogSync


class Runtime:
    def __init__(self, host: Host, *, clock: Clock | None = None, policy: RetryPolicy | None = None,
                 timeout=(10, 30)):
        self.host = host
        self.clock = clock or Clock()
        self.policy, self.timeout = policy or RetryPolicy(), timeout   # for every API client
        self.settings = Settings(host.user_dir)
        self.machine = socket.gethostname()
        self.owner = f"{self.machine}:{os.getpid()}:{uuid.uuid4().hex[:12]}"   # of claims and leases
        self.locks = KeyedLocks()
        self.background = Background()
        self.catalog = CatalogSync(self)                 # the catalog snapshot and its refreshes
        self._guard = threading.Lock()
        self._journal: Journal | None = None
        self._prices: PriceBook | None = None
        self._pool: DaemonPool | None = None
        self._gates: dict[str, RateGate] = {}
        self._swept = False

    # -- stores, opened on first use (a folder the host cannot name fails a job, not the start)
    @property
    def journal(self) -> Journal:
        with self._guard:
            if self._journal is None:
                self._journal = Journal(self.host.user_dir() / "journal.sqlite3")
            return self._journal

    @property
    def prices(self) -> PriceBook:
        with self._guard:
            if self._prices is None:
                self._prices = PriceBook(self.host.user_dir() / "prices.json")
            return self._prices

    def models_dir(self) -> Path:
        """The user's model files (what ``catalog add`` writes): they survive pack updates."""
        return self.host.user_dir() / "models"

    # -- work -------------------------------------------------------------------------------
    @property
    def pool(self) -> DaemonPool:
        """The threads jobs run in: RUNCOMFY_MAX_CONCURRENT_JOBS of them (default 16), so
        waiting jobs never queue behind Python's default pool (cores + 4)."""
        with self._guard:
            if self._pool is None:
                self._pool = DaemonPool(self.settings.max_concurrent_jobs())
            return self._pool

    def gate(self, base_url: str) -> RateGate:
        """The rate gate every job to this API host shares."""
        with self._guard:
            return self._gates.setdefault(base_url.rstrip("/"), RateGate(
                clock=self.clock.monotonic, sleep=self.clock.sleep))

    def client(self, *, policy: RetryPolicy | None = None, timeout=None) -> RunComfyClient:
        """An API client from the settings (a missing or bad token fails here, unsent)."""
        s = self.settings
        base = s.base_url()
        return RunComfyClient(base, s.api_token(), policy=policy or self.policy,
                              timeout=timeout or self.timeout, clock=self.clock, gate=self.gate(base),
                              max_download_bytes=s.max_download_bytes(),
                              download_deadline_s=s.download_deadline_s())

    def output_folder(self) -> Path:
        """Where results are saved; the first call also sweeps what dead downloads left."""
        folder = output_folder(self.host.output_dir())
        with self._guard:
            first, self._swept = not self._swept, True
        if first:
            sweep_parts(folder)
        return folder

    def decoding(self, options: dict, ledger=None) -> Decoding:
        """How a job's files become values, under this process's settings."""
        s = self.settings
        return Decoding(options, s.result_memory_budget(), s.max_image_pixels(),
                        self.host.video_from_file, self.host.output_dir(), ledger)
