"""Errors a user reads on the node.  Every message is a sentence they can act on.

None of these messages ever contains the API token: the client never puts it in
one, every text of an API answer is redacted as it is read (transport.parse_answer, so
even a service repeating the token cannot), and ``redact`` is applied to anything a
library or a file host says.
"""
from __future__ import annotations

import re


class RunComfyError(Exception):
    """Base for every error this pack raises on purpose."""


class InputError(RunComfyError):
    """A widget value or input image the model would reject.  Raised before paying."""


class SpendLimitReached(RunComfyError):
    """This job would take today's spend past the daily limit.  Raised before submitting."""


class ConfigError(RunComfyError):
    """Missing or unusable setup (token, base URL)."""


class ApiError(RunComfyError):
    """The service answered with an error."""

    def __init__(self, message: str, *, http_status: int = 0, code: int | None = None,
                 retryable: bool = False, detail=None, retry_after: float | None = None):
        super().__init__(message)
        self.http_status = http_status
        self.code = code
        self.retryable = retryable
        self.detail = detail            # the service's 422 `detail`, as sent
        self.retry_after = retry_after  # seconds, from a Retry-After header


class SubmitUncertain(RunComfyError):
    """The submit may have reached the service (timeout, reset): a job may exist and bill."""


class JobFailed(RunComfyError):
    """The job ended without a result (failed or cancelled).  ``cost``: what the service
    says it charged (0.0 when it says not billed), None when it did not say."""

    def __init__(self, message: str, *, request_id: str = "", status: str = "",
                 cost: float | None = None):
        super().__init__(message)
        self.request_id = request_id
        self.status = status
        self.cost = cost


def add_sentence(error: Exception, sentence: str) -> Exception:
    """The same error (type and fields kept) with one more sentence for the user."""
    error.args = (f"{error} {sentence}".strip(),) + tuple(error.args[1:])
    return error


class JobTimeout(RunComfyError):
    """The job ran longer than the configured limit (the job itself may still finish)."""


class Interrupted(RunComfyError):
    """The user pressed Cancel."""


class ResultTooLarge(RunComfyError):
    """A result would take more memory than the budget allows.  The file itself is kept."""


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
