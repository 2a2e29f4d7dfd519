"""HTTP to the RunComfy API: one session, error bodies turned into sentences, retries.

Two retry rules, because a submit costs money:
- reads and cancel (status, result, cancel, catalog) are retried with backoff and jitter
  on 429 (honouring Retry-After), 5xx, 500001 and dropped connections;
- a submit is retried only when it surely never reached the service: the connection was
  refused, the host name did not resolve, the TCP handshake timed out, or the service
  answered 429.  Any other failure after the body may have been sent (a timeout, a reset,
  a 5xx from the service or a gateway, an answer without a usable request id) raises
  SubmitUncertain: a job may exist and bill.  A 4xx means nothing was submitted.

Everything that can fail *before* a byte is sent (the body does not encode, the token
cannot go in a header) fails as such, never as an uncertain submit.  Answers are read
up to MAX_ANSWER bytes within the read timeout, so no answer can exhaust memory, and one
nested more than MAX_DEPTH containers deep is unreadable like any other (no RecursionError).
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import requests
from urllib3.exceptions import NewConnectionError

from ..core.errors import ApiError, Billing, ConfigError, RunComfyError, SubmitUncertain, clip, redact

USER_AGENT = "comfyui-runcomfy-model-api/0.1"
MAX_ANSWER = 8 * 1024 * 1024      # a JSON answer larger than this is not read
ANSWER_CHUNK = 8192               # decoded per step: bounds what a compressed answer inflates to
ANSWER_DEADLINE_S = 120.0         # an answer trickling in for longer than this is dropped


@dataclass
class RetryPolicy:
    attempts: int = 6          # tries for reads that failed (5xx, dropped connection)
    submit_attempts: int = 4   # tries for a submit that surely never arrived (429s aside)
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    submit_budget_s: float = 120.0   # a submit (all its tries) ends within this; journal claims rely on it
    rate_limit_budget_s: float = 300.0   # a read answered 429 keeps waiting its Retry-After this long
    rate_limited_tries: int = 60     # and at most this many 429s (a Retry-After of 0 cannot spin)

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
SAY_BILLING = {400002}    # codes whose sentence already says what they mean for money


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
        for item in detail[:20]:
            if isinstance(item, dict):
                loc = [str(p) for p in item.get("loc", []) if p != "body"] if isinstance(
                    item.get("loc"), list) else []
                where = f"field '{'.'.join(loc)}': " if loc else ""
                parts.append(where + clip(item.get("msg", item)))
            else:
                parts.append(clip(item))
        return clip("; ".join(parts), 400)
    return clip(detail) if detail else ""


def error_from_body(status: int, data) -> ApiError | None:
    """An ApiError when the body (on any status, 200 included) or the status says so."""
    code = data.get("error_code") if isinstance(data, dict) else None
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    if not code and status < 400:
        return None
    msg = ""
    detail = None
    if isinstance(data, dict):
        msg = clip(data.get("error_message") or data.get("message") or "")
        detail = data.get("detail")
        if not msg and isinstance(data.get("error"), (str, dict)):
            err = data["error"]
            msg = clip(err if isinstance(err, str) else err.get("message") or err)
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
    return ApiError(text, http_status=status, code=code, retryable=retryable, detail=detail,
                    says_billing=code in SAY_BILLING)


MAX_DEPTH = 100                   # containers in containers: no API answer comes near
TOO_DEEP = f"JSON nested more than {MAX_DEPTH} levels deep, which the pack cannot read"


class _TooDeep(ValueError):
    pass


def parse_answer(raw: bytes | bytearray, secret: str | None = None) -> tuple[object, str]:
    """(the JSON value, "") or (something, why it is unusable): never a RecursionError.

    Every text in it (strings, keys, or the body when it is not JSON) comes out redacted:
    ``secret`` and any ``Bearer …`` value are replaced before anything else reads it, so
    a service repeating the token cannot put it in an error, the journal, a log or a route.
    """
    try:
        return _clean(json.loads(raw), secret), ""
    except (RecursionError, _TooDeep):
        return {}, TOO_DEEP
    except ValueError:
        text = clip(redact(raw.decode("utf-8", "replace"), secret))
        return {"message": text}, f"not JSON: {text}"


def _clean(value, secret: str | None, depth: int = 0):
    """``value`` with every string redacted; _TooDeep past MAX_DEPTH nested containers."""
    if isinstance(value, str):
        return redact(value, secret)
    if isinstance(value, (dict, list)) and depth >= MAX_DEPTH:
        raise _TooDeep
    if isinstance(value, dict):
        return {redact(k, secret): _clean(v, secret, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, secret, depth + 1) for v in value]
    return value


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


def err_is_429(error) -> bool:
    return isinstance(error, ApiError) and error.http_status == 429


def header_safe(token: str) -> bool:
    """A token can go in an HTTP header: visible ASCII only (no spaces, line breaks, ü…)."""
    return bool(token) and all(0x21 <= ord(c) <= 0x7e for c in token)


def encode_json(body) -> bytes:
    """The exact bytes sent.  NaN, ±Inf and unencodable text are refused (nothing sent)."""
    try:
        return json.dumps(body, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (ValueError, TypeError, UnicodeEncodeError) as e:
        raise RunComfyError(f"The request body cannot be sent as JSON ({clip(e)}); nothing was "
                            "sent.", billing=Billing.NOT_SENT) from None


class Transport:
    """Sends JSON requests to one API origin with the Bearer token, and retries."""

    def __init__(self, base_url: str, token: str, *, policy: RetryPolicy | None = None,
                 timeout=(10, 30), sleep=time.sleep, session: requests.Session | None = None,
                 clock=time.monotonic, gate=None):
        if not header_safe(token):
            raise ConfigError("The RunComfy API token contains spaces, line breaks or characters "
                              "that cannot be sent in an HTTP header, so nothing was sent. Copy "
                              "the key again from runcomfy.com (Profile → API keys) and set it in "
                              "Settings → RunComfy or RUNCOMFY_API_TOKEN.")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.policy = policy or RetryPolicy()
        self.timeout = timeout
        self.sleep = sleep
        self.clock = clock
        self.session = session or requests.Session()
        self.session.trust_env = False   # no proxies from the environment see the token
        self.calls = 0                   # HTTP attempts made (for tests and benchmarks)
        self.answer_bytes = 0            # bytes of every answer read (the catalog refresh's budget)
        self.gate = gate                 # pacing.RateGate shared by every job on this host

    def __repr__(self):  # never show the token
        return f"Transport({self.base_url!r})"

    def request(self, method: str, path: str, *, body=None, params=None, submit: bool = False,
                max_answer: int | None = None):
        """One call with its retry rule; ``body`` is a JSON value or already-encoded bytes.

        A 429 is the service asking to wait, not a failure: it does not use up the tries
        (with ten jobs sharing one rate gate, a storm of 429s would otherwise fall on
        whichever job happens to ask first after each pause).  Waiting is bounded in time
        instead: ``rate_limit_budget_s`` for a read, ``submit_budget_s`` for a submit."""
        payload = None if body is None else body if isinstance(body, bytes) else encode_json(body)
        attempts = self.policy.submit_attempts if submit else self.policy.attempts
        budget_end = self.clock() + (self.policy.submit_budget_s if submit else self.policy.rate_limit_budget_s)
        failures = limited = 0
        while True:
            if self.gate is not None:
                self.gate.wait(submit)
            try:
                data = self._once(method, path, payload, params, submit, max_answer)
                if self.gate is not None:
                    self.gate.passed(submit)
                return data
            except requests.RequestException as exc:
                if submit and not never_arrived(exc):
                    raise SubmitUncertain(f"The job submission to RunComfy got no answer "
                                          f"({redact(type(exc).__name__)})") from None
                last = RunComfyError(f"Could not reach RunComfy at {self.base_url} "
                                     f"({clip(redact(str(exc), self._token))}).")
                retry_after = None
            except ApiError as err:
                if err_is_429(err) and self.gate is not None:
                    self.gate.hold(err.retry_after, submit)     # every job waits, not only this one
                if not err.retryable:
                    raise
                last, retry_after = err, err.retry_after
            if err_is_429(last):
                limited += 1
                pause = self.gate.remaining() if self.gate is not None else \
                    self.policy.delay(limited - 1, retry_after)
                out_of_budget = (limited >= self.policy.rate_limited_tries
                                 or self.clock() + pause > budget_end)
            else:
                failures += 1
                pause = self.policy.delay(failures - 1, retry_after)
                out_of_budget = failures >= attempts or (submit and self.clock() + pause > budget_end)
            if out_of_budget:
                raise last
            if not (self.gate is not None and err_is_429(last)):  # the gate's wait() sleeps a 429
                self.sleep(pause)

    def _once(self, method, path, payload, params, submit: bool, max_answer: int | None = None):
        headers = {"Authorization": f"Bearer {self._token}", "User-Agent": USER_AGENT,
                   "Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            prepared = self.session.prepare_request(requests.Request(
                method, self.base_url + path, data=payload, params=params, headers=headers))
        except (requests.RequestException, ValueError, UnicodeError) as e:
            raise RunComfyError(f"The request to RunComfy could not be prepared "
                                f"({clip(redact(str(e), self._token))}); nothing was sent.",
                                billing=Billing.NOT_SENT) from None
        self.calls += 1
        resp = self.session.send(prepared, timeout=self.timeout, allow_redirects=False, stream=True)
        with resp:
            data, problem = self._read(resp, max_answer)
        if submit:
            self._check_submit_answer(resp.status_code, data, problem)
        if 300 <= resp.status_code < 400:  # never follow a redirect with the token attached
            raise ApiError(f"RunComfy answered with a redirect (HTTP {resp.status_code}); "
                           "not followed, to keep the token on the API host.",
                           http_status=resp.status_code)
        err = error_from_body(resp.status_code, data)
        if err is not None:
            err.retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            raise err
        if problem or not isinstance(data, dict):
            raise ApiError(f"RunComfy answered something unexpected: {problem or clip(json.dumps(data))}",
                           http_status=resp.status_code, retryable=bool(problem))
        return data

    def _read(self, resp, max_answer: int | None = None) -> tuple[object, str]:
        """(the JSON answer, "" ) or (something, why it is unusable): at most ``max_answer`` bytes
        (default MAX_ANSWER; a catalog page has its own limit)."""
        max_answer = max_answer or MAX_ANSWER
        raw = bytearray()
        give_up = self.clock() + ANSWER_DEADLINE_S
        for chunk in resp.iter_content(ANSWER_CHUNK):
            raw += chunk
            if len(raw) > max_answer:
                self.answer_bytes += len(raw)
                return {}, f"an answer larger than {max_answer / 2**20:g} MiB (not read)"
            if self.clock() > give_up:
                self.answer_bytes += len(raw)
                return {}, f"an answer still arriving after {ANSWER_DEADLINE_S:.0f} s (dropped)"
        self.answer_bytes += len(raw)
        return parse_answer(raw, self._token) if raw else ({}, "")

    @staticmethod
    def _check_submit_answer(status: int, data, problem: str) -> None:
        """A submit answered 5xx, 3xx, 500001 or 2xx-but-unreadable may have created a job."""
        code = data.get("error_code") if isinstance(data, dict) else None
        if status == 429 or (400 <= status < 500 and status != 408):
            return                      # refused: nothing was submitted (checked by the caller)
        if status >= 500 or status in (408,) or 300 <= status < 400 or code == 500001:
            said = error_from_body(status, data) if status >= 400 or code else None
            why = clip(str(said)) if said is not None else f"HTTP {status}"
            raise SubmitUncertain(f"RunComfy did not confirm the job submission ({why})")
        if problem and not code:
            raise SubmitUncertain(f"RunComfy's answer to the job submission was unusable ({problem})")
