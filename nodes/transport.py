"""HTTP to the RunComfy API: one session, error bodies turned into sentences, retries.

Two retry rules, because a submit costs money:
- reads and cancel (status, result, cancel, catalog) are retried with backoff and jitter
  on 429 (honouring Retry-After), 5xx, 500001 and dropped connections;
- a submit is retried only when it surely never reached the service: the connection was
  refused or the host name did not resolve, or the service answered 429 (a 4xx means
  nothing was submitted).  A timeout or reset after sending raises SubmitUncertain.
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import requests
from urllib3.exceptions import NewConnectionError

from .errors import ApiError, RunComfyError, SubmitUncertain, redact

USER_AGENT = "comfyui-runcomfy-model-api/0.1"


@dataclass
class RetryPolicy:
    attempts: int = 6          # total tries for reads
    submit_attempts: int = 4   # total tries for a submit that surely never arrived
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        raw = min(self.max_delay, self.base_delay * 2 ** attempt)
        return raw * random.uniform(0.75, 1.25)


# What each known error code means for the user.  {msg} is the service's own text.
CODE_SENTENCES = {
    400001: "RunComfy does not know this model id. Check the model id in the model file. Service said: {msg}",
    400002: "Your RunComfy balance is too low for this job, so nothing was charged. Top up on runcomfy.com, then queue again. Service said: {msg}",
    400004: "RunComfy has a problem with the account or token. Check the token in Settings → RunComfy. Service said: {msg}",
    401001: "RunComfy rejected the API token. Set a valid token in Settings → RunComfy or RUNCOMFY_API_TOKEN. Service said: {msg}",
    403001: "This request belongs to another RunComfy account; use that account's token to read it. Service said: {msg}",
    404001: "RunComfy has no such request (not found or expired). Service said: {msg}",
    422001: "RunComfy refused the inputs: {detail}",
    500001: "RunComfy had an internal error. Service said: {msg}",
}


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def detail_text(detail) -> str:
    """422 `detail` (a list of {loc, msg}) → 'field 'x': message; …'."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = [str(p) for p in item.get("loc", []) if p != "body"]
                where = f"field '{'.'.join(loc)}': " if loc else ""
                parts.append(where + str(item.get("msg", item)))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail) if detail else ""


def error_from_body(status: int, data) -> ApiError | None:
    """An ApiError when the body (on any status, 200 included) or the status says so."""
    code = data.get("error_code") if isinstance(data, dict) else None
    if not code and status < 400:
        return None
    msg = ""
    detail = None
    if isinstance(data, dict):
        msg = str(data.get("error_message") or data.get("message") or "")
        detail = data.get("detail")
        if not msg and isinstance(data.get("error"), (str, dict)):
            err = data["error"]
            msg = err if isinstance(err, str) else str(err.get("message") or err)
    if not code:
        code = {401: 401001, 403: 403001, 404: 404001, 422: 422001, 429: None}.get(status)
    template = CODE_SENTENCES.get(code) if code else None
    if status == 429:
        text = f"RunComfy is rate limiting requests (HTTP 429). {msg}".strip()
    elif template:
        text = template.format(msg=msg or detail_text(detail) or f"HTTP {status}",
                               detail=detail_text(detail) or msg or f"HTTP {status}")
    else:
        text = f"RunComfy answered HTTP {status}{f' (code {code})' if code else ''}: {msg or detail_text(detail) or 'no details'}"
    retryable = status == 429 or status >= 500 or code == 500001
    return ApiError(text, http_status=status, code=code, retryable=retryable, detail=detail)


def never_arrived(exc: requests.RequestException) -> bool:
    """True only when the request surely never reached the server.

    urllib3 reports a refused connection, an unreachable host and a failed DNS lookup
    as NewConnectionError (NameResolutionError is a subclass); a connect timeout means
    the TCP handshake never finished.  Anything later (reset, read timeout) is unknown.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


class Transport:
    """Sends JSON requests to one API origin with the Bearer token, and retries."""

    def __init__(self, base_url: str, token: str, *, policy: RetryPolicy | None = None,
                 timeout=(10, 30), sleep=time.sleep, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.policy = policy or RetryPolicy()
        self.timeout = timeout
        self.sleep = sleep
        self.session = session or requests.Session()
        self.session.trust_env = False   # no proxies from the environment see the token
        self.calls = 0                   # HTTP attempts made (for tests and benchmarks)

    def __repr__(self):  # never show the token
        return f"Transport({self.base_url!r})"

    def request(self, method: str, path: str, *, body=None, params=None, submit: bool = False):
        attempts = self.policy.submit_attempts if submit else self.policy.attempts
        last: RunComfyError | None = None
        for attempt in range(attempts):
            try:
                return self._once(method, path, body, params)
            except requests.RequestException as exc:
                if submit and not never_arrived(exc):
                    raise SubmitUncertain(
                        "The job submission to RunComfy got no answer ("
                        f"{redact(type(exc).__name__)}); a job may have been created and billed. "
                        "Check your requests on runcomfy.com before queueing again.") from None
                last = RunComfyError(f"Could not reach RunComfy at {self.base_url} "
                                     f"({redact(str(exc), self._token)[:200]}).")
                retry_after = None
            except ApiError as err:
                if not err.retryable or (submit and err.http_status != 429):
                    raise
                last, retry_after = err, err.retry_after
            if attempt + 1 < attempts:
                self.sleep(self.policy.delay(attempt, retry_after))
        raise last

    def _once(self, method, path, body, params):
        self.calls += 1
        headers = {"Authorization": f"Bearer {self._token}", "User-Agent": USER_AGENT,
                   "Accept": "application/json"}
        resp = self.session.request(method, self.base_url + path, json=body, params=params,
                                    headers=headers, timeout=self.timeout, allow_redirects=False)
        try:
            data = resp.json() if resp.content else {}
        except ValueError:
            data = {"message": resp.text[:300]}
        if 300 <= resp.status_code < 400:  # never follow a redirect with the token attached
            raise ApiError(f"RunComfy answered with a redirect (HTTP {resp.status_code}); "
                           "not followed, to keep the token on the API host.",
                           http_status=resp.status_code)
        err = error_from_body(resp.status_code, data)
        if err is not None:
            err.retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            raise err
        if not isinstance(data, dict):
            raise ApiError(f"RunComfy answered something unexpected: {json.dumps(data)[:200]}",
                           http_status=resp.status_code)
        return data
