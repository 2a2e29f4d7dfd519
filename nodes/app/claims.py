"""Whose claim or download lease is dead: a holder on this machine whose process is gone, or
any holder past its deadline (another machine's process cannot be checked)."""
from __future__ import annotations

import os
import time

from ..core.process import pid_alive
from ..remote.journal import Entry


def claim_dead(rt, entry: Entry) -> bool:
    """A submit claim or download lease whose holder is gone (or past its deadline)."""
    if entry.claim_until is not None and time.time() > entry.claim_until:
        return True
    return owner_dead(rt, entry.owner)


def owner_dead(rt, owner: str) -> bool:
    owner_host, _, rest = owner.partition(":")
    pid, _, _token = rest.partition(":")
    if owner_host != rt.machine or not pid.isdigit():
        return False                           # another machine: only its deadline tells
    if int(pid) == os.getpid():
        return owner != rt.owner               # an earlier process that had our pid
    return not pid_alive(int(pid))
