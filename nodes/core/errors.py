"""Errors a user reads on the node.  Every message is a sentence they can act on.

None of these messages ever contains the API token: the client never puts it in
one, every text of an API answer is redacted as it is read (transport.parse_answer, so
even a service repeating the token cannot), and ``redact`` is applied to anything a
library or a file host says.
"""
from __future__ import annotations

import copy
import re
from enum import Enum


class Billing(Enum):
    """What a failure means for money: a fact the error carries, said where it reaches the user."""
    NOT_SENT = "not sent"        # nothing left this computer (the message says so itself)
    NOT_BILLED = "not billed"    # RunComfy refused the submit: no job exists
    UNKNOWN = "unknown"          # the submit was not confirmed: a paid job may exist
    BILLED = "billed"            # the job ran (it completed, or failed after running)


MAYBE_BILLED = ("a job may have been created and billed. Check your requests on runcomfy.com "
                "(or load it with RunComfy Load Result) before queueing again.")


class RunComfyError(Exception):
    """Base for every error this pack raises on purpose.

    ``message`` is what went wrong; the rest are facts the sentence the user reads is made
    from (``str(error)``): ``billing`` (what it means for money) and ``cost`` (USD the
    service stated), ``refetch`` (running the node again downloads the paid result for
    free), ``item`` ((index, count) of a list's item it concerns).  ``with_facts`` gives the
    same error with more facts: an error is never rewritten as text."""

    def __init__(self, message: str = "", *, billing: Billing | None = None,
                 cost: float | None = None, refetch: bool = False, item: tuple | None = None):
        super().__init__(message)
        self.message, self.billing, self.cost = message, billing, cost
        self.refetch, self.item = refetch, item

    def with_facts(self, **facts) -> "RunComfyError":
        twin = copy.copy(self)
        for name, value in facts.items():
            if not hasattr(twin, name):
                raise AttributeError(f"{type(self).__name__} has no fact {name!r}")
            setattr(twin, name, value)
        return twin

    def __str__(self) -> str:
        text = " ".join(part for part in (self.message, self.billing_sentence()) if part)
        if self.item is not None:
            index, count = self.item
            text = f"Item {index} of {count}: {text} Nothing was submitted for any item."
        return text

    def billing_sentence(self) -> str:
        cost = f" (${self.cost:.2f})" if self.cost else ""
        if self.billing is Billing.NOT_BILLED:
            return "Not billed: RunComfy did not create the job."
        if self.billing is Billing.UNKNOWN:
            return MAYBE_BILLED[0].upper() + MAYBE_BILLED[1:]
        if self.billing is Billing.BILLED:
            again = " Running the node again downloads it again without paying." if self.refetch else ""
            return f"The job itself completed on RunComfy and is billed{cost}.{again}"
        return ""


class InputError(RunComfyError):
    """A widget value or input image the model would reject.  Raised before paying."""


class SpendLimitReached(RunComfyError):
    """This job would take today's spend past a daily limit (or its price cannot be known
    while a limit is set).  Raised before submitting.  Facts: today's ``spent`` (charged) and
    ``running`` (estimates of jobs not yet priced) as the limit counts them, the job's
    ``estimate`` (None: unknown, ``unknown_why``), the ``limit`` and ``where`` it is set, the
    ``jobs`` it counts (a list's new jobs are checked together).  With a team journal:
    ``scope`` says which limit ("team": the whole team's spend, "member": this member's, named
    ``member``), and ``other`` is the spend of the other scope (the member's for a team limit,
    the team's for a member limit)."""

    def __init__(self, *, spent: float, running: float, estimate: float | None, limit: float,
                 where: str, jobs: int = 1, unknown_why: str = "", scope: str = "",
                 member: str = "", other: float | None = None):
        super().__init__("", billing=Billing.NOT_SENT)
        self.spent, self.running, self.estimate, self.limit = spent, running, estimate, limit
        self.where, self.jobs, self.unknown_why = where, jobs, unknown_why
        self.scope, self.member, self.other = scope, member, other

    def _names(self) -> tuple[str, str]:
        """(whose spend, which limit) as the sentence says them."""
        if self.scope == "team":
            return "The team's RunComfy spend today", "the team's daily limit"
        if self.scope == "member":
            return f"Your RunComfy spend today (as {self.member})", "your daily limit in the team"
        return "Today's RunComfy spend", "the daily limit"

    def __str__(self) -> str:
        allowed = f"${self.limit:.2f}" + (" (no paid jobs)" if self.limit == 0 else "")
        this = "this job" if self.jobs == 1 else f"the {self.jobs} new jobs of this list together"
        whose, which = self._names()
        if self.estimate is None:
            text = (f"{which[0].upper() + which[1:]} of {allowed} is set ({self.where}), and {this}'s "
                    f"price cannot be estimated ({self.unknown_why}), so it was not submitted and "
                    "nothing was paid. Clear the limit to run it.")
        else:
            other = ""
            if self.other is not None:
                other = (f"; yours as {self.member}: ${self.other:.2f}" if self.scope == "team"
                         else f"; the team's: ${self.other:.2f}")
            text = (f"{whose} is ${self.spent + self.running:.2f} (${self.spent:.2f} charged, "
                    f"${self.running:.2f} for jobs not yet priced{other}) and {this} "
                    f"{'is' if self.jobs == 1 else 'are'} ≈ ${self.estimate:.2f}, which would pass "
                    f"{which} of {allowed} ({self.where}). Nothing was submitted. Raise the "
                    "limit, or wait for tomorrow (your computer's calendar day).")
        return f"Item {self.item[0]} of {self.item[1]}: {text}" if self.item else text


class ConfigError(RunComfyError):
    """Missing or unusable setup (token, base URL)."""


class ApiError(RunComfyError):
    """The service answered with an error.  ``says_billing``: the message already states what
    it means for money (a balance too low: "nothing was charged"), so no sentence is added."""

    def __init__(self, message: str, *, http_status: int = 0, code: int | None = None,
                 retryable: bool = False, detail=None, retry_after: float | None = None,
                 says_billing: bool = False):
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.retryable = retryable
        self.detail = detail            # the service's 422 `detail`, as sent
        self.retry_after = retry_after  # seconds, from a Retry-After header
        self.says_billing = says_billing

    def billing_sentence(self) -> str:
        return "" if self.says_billing else super().billing_sentence()


class SubmitUncertain(RunComfyError):
    """A submit whose outcome is unknown: it may have reached the service (no answer, a 5xx,
    an unusable answer, the process killed mid-submit), so a paid job may exist.

    ``reason``: what happened, as the journal keeps it.  ``earlier_at``: set when it is an
    *earlier* run's submit of the same inputs the journal found unconfirmed (when it was)."""

    def __init__(self, reason: str, *, earlier_at: str = ""):
        super().__init__(reason, billing=Billing.UNKNOWN)
        self.reason, self.earlier_at = reason, earlier_at

    def __str__(self) -> str:
        if self.earlier_at:
            return (f"The last submit of these exact inputs ({self.earlier_at}) was not confirmed by "
                    f"RunComfy ({self.reason or 'no answer'}), so a paid job may exist. Check your "
                    "requests on runcomfy.com (a job found there can be loaded with RunComfy Load "
                    "Result); press Queue again to submit anew.")
        return f"{self.reason}; {MAYBE_BILLED}"


class JobFailed(RunComfyError):
    """The job ended without a result (failed or cancelled).  ``cost``: what the service
    says it charged (0.0 when it says not billed), None when it did not say."""

    def __init__(self, message: str, *, request_id: str = "", status: str = "",
                 cost: float | None = None):
        super().__init__(message, cost=cost)
        self.request_id = request_id
        self.status = status


class JobTimeout(RunComfyError):
    """The job ran longer than the configured limit (the job itself may still finish)."""


class Interrupted(RunComfyError):
    """The user pressed Cancel."""


class ResultTooLarge(RunComfyError):
    """A result would take more memory than the budget allows.  The file itself is kept."""


class DecodeError(RunComfyError):
    """A result file could not be read (missing, damaged, not what it says, a bad range).
    The file is kept; the next run downloads the result again."""


class DownloadError(RunComfyError):
    """A result file could not be fetched or is damaged.  The URL is kept in the message."""


QUOTE_MAX = 200   # characters of any text the service sent that a message may quote


def clip(text, limit: int = QUOTE_MAX) -> str:
    """Service text fit for a sentence: one line, at most ``limit`` characters."""
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_TOKENISH = re.compile(r"(Bearer\s+)[^\s'\"]+", re.I)


def redact(text: str, secret: str | None = None) -> str:
    """Remove a token (and anything that looks like a Bearer header) from text."""
    text = _TOKENISH.sub(r"\1***", str(text))
    if secret:
        text = text.replace(secret, "***")
    return text
