"""Money sentences and the daily limit's check, as the job service applies them."""
from __future__ import annotations

from ..errors import SpendLimitReached
from .journal import Entry


def billed_sentence(entry: Entry) -> str:
    """What a failure after the job completed means for money."""
    cost = f" (${entry.cost:.2f})" if entry.cost else ""
    return f"The job itself completed on RunComfy and is billed{cost}."


def spend_check(est):
    """The daily limit check the journal runs inside the claim (None: no limit is set)."""
    from ..settings import daily_limit, limit_place
    limit, source = daily_limit()
    if limit is None:
        return None
    where = limit_place(source)
    allowed = f"${limit:.2f}" + (" (no paid jobs)" if limit == 0 else "")

    def check(spent: float, running: float) -> None:
        if est is None or getattr(est, "usd", None) is None:
            why = getattr(est, "detail", "") or "no price is known for it"
            raise SpendLimitReached(
                f"A daily spend limit of {allowed} is set ({where}), and this job's price cannot "
                f"be estimated ({why}), so it was not submitted and nothing was paid. Clear the "
                "limit to run it.")
        if spent + running + est.usd > limit + 1e-9:
            raise SpendLimitReached(
                f"Today's RunComfy spend is ${spent + running:.2f} (${spent:.2f} charged, "
                f"${running:.2f} for jobs not yet priced) and this job is ≈ ${est.usd:.2f}, which "
                f"would pass the daily limit of {allowed} ({where}). Nothing was submitted. Raise "
                "the limit, or wait for tomorrow (your computer's calendar day).")
    return check
