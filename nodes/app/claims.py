"""Claims and download leases: whose is dead, and keeping ours alive.

A claim (the right to submit these inputs) lives CLAIM_TTL_S on the journal's clock and is
renewed by a heartbeat while its holder submits; a holder that stops renewing (killed, its
machine gone) is recognised within that time by every machine sharing the journal.  On this
machine a holder whose process is gone is recognised at once (by its process id)."""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager

from ..core.process import pid_alive
from ..remote.journal import Entry, quietly

CLAIM_TTL_S = 60.0            # a claim not renewed for this long is dead
BEAT_S = CLAIM_TTL_S / 4      # how often its holder renews it


def claim_dead(rt, entry: Entry) -> bool:
    """A submit claim or download lease whose holder is gone (or stopped renewing it)."""
    return entry.claim_expired or owner_dead(rt, entry.owner)


def owner_dead(rt, owner: str) -> bool:
    owner_host, _, rest = owner.partition(":")
    pid, _, _token = rest.partition(":")
    if owner_host != rt.machine or not pid.isdigit():
        return False                           # another machine: only its heartbeat tells
    if int(pid) == os.getpid():
        return owner != rt.owner               # an earlier process that had our pid
    return not pid_alive(int(pid))


@contextmanager
def heartbeat(rt, entry_id: int):
    """Renew this process's claim on ``entry_id`` while the block runs (a submit can take as
    long as its retry budget, longer than the claim lives)."""
    stop = threading.Event()

    def beat():
        while not stop.wait(BEAT_S):
            quietly(rt.journal.renew_claim, entry_id, rt.owner, CLAIM_TTL_S)
    thread = threading.Thread(target=beat, name=f"runcomfy-claim-{entry_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
