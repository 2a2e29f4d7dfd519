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
import time
import uuid
from pathlib import Path

from ..core.clock import Clock
from ..core.errors import ConfigError
from ..core.host import Host
from ..core.settings import Settings
from ..remote.client import RunComfyClient
from ..remote.journal import JobStore, JournalError
from ..remote.journal_pg import PostgresJournal
from ..remote.journal_sqlite import SqliteJournal
from ..remote.locks import KeyedLocks
from ..remote.pacing import RateGate
from ..remote.pool import DaemonPool
from ..remote.transport import RetryPolicy
from ..results.files import output_folder, sweep_parts
from ..results.outputs import Decoding
from ..spec.prices import PriceBook
from .background import Background
from .progress import Progress
from .recording import Recorder
from .sync import CatalogSync

REOPEN_AFTER_S = 10.0     # a team journal that could not be opened is tried again after this


class Runtime:
    def __init__(self, host: Host, *, clock: Clock | None = None, policy: RetryPolicy | None = None,
                 timeout=(10, 30)):
        self.host = host
        self.clock = clock or Clock()
        self.policy, self.timeout = policy or RetryPolicy(), timeout   # for every API client
        self.settings = Settings(host.user_dir)
        self.machine = machine_name(self.settings)
        self.owner = f"{self.machine}:{os.getpid()}:{uuid.uuid4().hex[:12]}"   # of claims and leases
        self.locks = KeyedLocks()
        self.background = Background()
        self.catalog = CatalogSync(self)                 # the catalog snapshot and its refreshes
        self.recorder = Recorder(lambda: self.journal, self.background)   # writes made when it is back
        self.progress = Progress()                       # this process's running jobs, for the panel
        self._guard = threading.Lock()
        self._journal_guard = threading.Lock()           # opening a team journal may take seconds
        self._journal: JobStore | None = None
        self._journal_key: object = None                 # the URL (or folder) it was opened for
        self._journal_failed: tuple | None = None        # (key, error, when) of the last failure
        self._prices: PriceBook | None = None
        self._thumbs = None
        self._pool: DaemonPool | None = None
        self._gates: dict[str, RateGate] = {}
        self._swept = False

    # -- stores, opened on first use (a folder the host cannot name fails a job, not the start)
    @property
    def journal(self) -> JobStore:
        """This machine's sqlite journal, or the team's PostgreSQL one when RUNCOMFY_JOURNAL_URL
        is set (opened again when the setting changes).  Never a silent fall-back from one to
        the other: a team journal that cannot be opened fails every job before its submit."""
        try:
            url, member = self.settings.journal_url(), self.settings.member()
        except ConfigError:
            if self._journal is not None:     # a settings file broken mid-job: keep writing the
                return self._journal          # job's record where it was begun
            raise
        key = (url or str(self.host.user_dir()), member)       # a new name: reopened
        with self._journal_guard:
            if self._journal is not None and self._journal_key == key:
                return self._journal
            failed = self._journal_failed
            if failed and failed[0] == key and time.monotonic() - failed[2] < REOPEN_AFTER_S:
                raise failed[1]
            try:
                journal = self._open_journal(url, member)
            except JournalError as e:
                self._journal_failed = (key, e, time.monotonic())
                raise
            old, self._journal, self._journal_key, self._journal_failed = self._journal, journal, key, None
        if old is not None and hasattr(old, "close"):
            old.close()
        return journal

    def close(self) -> None:
        """Let go of the journal's connections (a team journal keeps a few open)."""
        with self._journal_guard:
            journal, self._journal, self._journal_key = self._journal, None, None
        if journal is not None and hasattr(journal, "close"):
            journal.close()

    def _open_journal(self, url: str | None, member: str) -> JobStore:
        if url:
            return PostgresJournal(url, machine=self.machine, member=member)
        return SqliteJournal(self.host.user_dir() / "journal.sqlite3", machine=self.machine, member=member)

    @property
    def thumbs(self):
        """The jobs panel's thumbnails, beside the journal (made from files on disk only)."""
        from ..results.thumbs import ThumbFolder     # deferred: PyAV and PIL load on first use
        with self._guard:
            if self._thumbs is None:
                self._thumbs = ThumbFolder(self.host.user_dir() / "thumbs")
            return self._thumbs

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


def machine_name(settings: Settings) -> str:
    """RUNCOMFY_MACHINE, else the host name (a settings file that cannot be read must not stop
    the start: the jobs then fail on it, before any submit)."""
    try:
        return settings.machine()
    except ConfigError:
        return socket.gethostname()
