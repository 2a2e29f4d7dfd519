"""The daily limits' check, as the job pipeline applies it (inside the journal's claim).

On one machine: RUNCOMFY_DAILY_LIMIT_USD against today's spend.  With a team journal
(PostgreSQL) every limit counts the whole team's spend, checked in the claim's transaction so
machines cannot pass it together: this machine's daily limit and the budget the team journal
holds (the stricter wins: no machine can loosen the team's budget), and this member's own limit
against what this member spent."""
from __future__ import annotations

from ..core.errors import SpendLimitReached
from ..core.settings import LIMIT_ENV, MEMBER_LIMIT_ENV, Settings, limit_place
from ..remote.journal import Spend

TEAM_BUDGET_PLACE = "the team journal's budget: python -m nodes.journal budget"


def spend_check(est, settings: Settings, shared: bool, jobs: int = 1):
    """The check the journal runs inside the claim (None: no limit can apply).
    ``est``: the estimate of the ``jobs`` new jobs together; ``shared``: a team journal."""
    limit, source = settings.daily_limit()
    member_limit, member_source = settings.member_limit() if shared else (None, "")
    if limit is None and not shared:
        return None
    member = settings.member() if shared else ""
    usd = getattr(est, "usd", None)
    unknown_why = getattr(est, "detail", "") or "no price is known for it"

    def check(spend: Spend) -> None:
        team = "team" if spend.shared else ""
        rules = []                          # (scope, limit, where, spent, running, other)
        if limit is not None:
            rules.append((team, limit, limit_place(source, LIMIT_ENV), spend.spent, spend.running,
                          spend.member_total if spend.shared else None))
        if spend.team_limit is not None:
            rules.append(("team", spend.team_limit, TEAM_BUDGET_PLACE, spend.spent, spend.running,
                          spend.member_total))
        if member_limit is not None:
            rules.append(("member", member_limit, limit_place(member_source, MEMBER_LIMIT_ENV),
                          spend.member_spent, spend.member_running, spend.total))
        for scope, most, where, spent, running, other in rules:
            if usd is None or spent + running + usd > most + 1e-9:
                raise SpendLimitReached(spent=spent, running=running, estimate=usd, limit=most,
                                        where=where, jobs=jobs, unknown_why=unknown_why,
                                        scope=scope, member=member, other=other)
    return check
