"""The daily limit's check, as the job pipeline applies it (inside the journal's claim)."""
from __future__ import annotations

from ..core.errors import SpendLimitReached
from ..core.settings import Settings, limit_place


def spend_check(est, settings: Settings, jobs: int = 1):
    """The daily limit check the journal runs inside the claim (None: no limit is set).
    ``est``: the estimate of the ``jobs`` new jobs together."""
    limit, source = settings.daily_limit()
    if limit is None:
        return None
    where = limit_place(source)

    def check(spent: float, running: float) -> None:
        usd = getattr(est, "usd", None)
        if usd is None or spent + running + usd > limit + 1e-9:
            raise SpendLimitReached(spent=spent, running=running, estimate=usd, limit=limit,
                                    where=where, jobs=jobs,
                                    unknown_why=getattr(est, "detail", "") or "no price is known for it")
    return check
