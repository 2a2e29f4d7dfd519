"""The RunComfy Model API's calls: submit, status, result, cancel, and the catalog."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import quote

from ..core.errors import JobFailed, SubmitUncertain, clip
from ..spec.kinds import OUTPUT_KINDS, output_kind_of_link
from .download import DEFAULT_DEADLINE_S, DEFAULT_MAX_BYTES, download
from .transport import RetryPolicy, Transport

QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED, UNKNOWN = (
    "queued", "running", "completed", "failed", "cancelled", "unknown")
_STATUS = {
    "in_queue": QUEUED, "queued": QUEUED, "pending": QUEUED,
    "in_progress": RUNNING, "running": RUNNING, "processing": RUNNING,
    "completed": COMPLETED, "succeeded": COMPLETED, "success": COMPLETED,
    "failed": FAILED, "error": FAILED,
    "cancelled": CANCELLED, "canceled": CANCELLED,
}


def normalize_status(raw) -> str:
    """The documented and the client-observed spellings → one of six states."""
    return _STATUS.get(str(raw or "").strip().lower(), UNKNOWN)


MAX_OUTPUT_FILES = 64     # files one result may name; more is not a real model's answer
MAX_URL = 8192            # characters; a longer "link" is refused, never quoted whole


def output_urls(output) -> dict[str, list[str]]:
    """Every output shape (each output kind's keys: ``video``, ``images`` …) → {kind: [url, …]}.

    Kinds appear in OUTPUT_KINDS order and only when they carry a URL.  An entry may be a
    string or an object with a ``url``.  Raises JobFailed on an answer no model would send.
    """
    found: dict[str, list[str]] = {}
    if not isinstance(output, dict):
        return found
    count = 0
    for kind in OUTPUT_KINDS:
        single = kind.name
        for value in (output.get(key) for key in kind.result_keys):
            items = value if isinstance(value, list) else [value]
            for item in items[: MAX_OUTPUT_FILES + 1]:
                url = item.get("url") if isinstance(item, dict) else item
                if not isinstance(url, str) or not url or url in found.get(single, []):
                    continue
                if len(url) > MAX_URL:
                    raise JobFailed(f"RunComfy sent a result link {len(url)} characters long "
                                    f"({clip(url, 80)}); refusing it.")
                count += 1
                if count > MAX_OUTPUT_FILES:
                    raise JobFailed(f"RunComfy's result names more than {MAX_OUTPUT_FILES} files; "
                                    "refusing it as not a real result.")
                found.setdefault(single, []).append(url)
    return found or links_by_name(output)


def links_by_name(output: dict) -> dict[str, list[str]]:
    """For an answer without the documented keys (``video_url``, ``result: {"file": …}``):
    its links, each kind told by the link's file extension, else by its key naming one kind
    ("video_url").  A link neither tells is left out."""
    found: dict[str, list[str]] = {}
    for key, url in web_links(output, MAX_OUTPUT_FILES):
        kind = output_kind_of_link(key, url)
        if kind and url not in found.get(kind, []):
            found.setdefault(kind, []).append(url)
    return {k.name: found[k.name] for k in OUTPUT_KINDS if k.name in found}


def web_links(output, most: int) -> list[tuple[str, str]]:
    """(key, link) of the http(s) links in an answer, up to four containers down: at most
    ``most`` links, after looking at no more than 4 × MAX_OUTPUT_FILES values."""
    found: list[tuple[str, str]] = []
    budget = [4 * MAX_OUTPUT_FILES]

    def visit(key: str, value, depth: int) -> None:
        budget[0] -= 1
        if depth > 4 or budget[0] < 0 or len(found) >= most:
            return
        if isinstance(value, dict):
            for k, v in list(value.items())[:MAX_OUTPUT_FILES]:
                visit(str(k), v, depth + 1)
        elif isinstance(value, list):
            for v in value[:MAX_OUTPUT_FILES]:
                visit(key, v, depth + 1)
        elif isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) <= MAX_URL:
            found.append((key, value))

    visit("output", output, 0)
    return found


def error_text(data: dict) -> str:
    """The service's own words about a failed job (at most ~200 characters)."""
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return clip(err.get("message") or err.get("error_message") or err.get("detail") or err)
    return clip(err or data.get("error_message") or data.get("message") or "no reason given")


MAX_REQUEST_ID = 200


def usable_request_id(rid) -> bool:
    """An id the pack can poll with (it is always URL-quoted; file names use safe_id)."""
    return (isinstance(rid, str) and 0 < len(rid) <= MAX_REQUEST_ID and rid.strip() == rid
            and not any(ord(c) < 0x20 or ord(c) == 0x7f for c in rid))


def safe_id(request_id) -> str:
    """The first 8 characters of a request id that can go in a file name or a sentence.

    Ids come from the service: anything but letters, digits, '-' and '_' is dropped (a
    hostile '/../../x' or a NUL never reaches a path); an id with none left gets a hash.
    """
    text = re.sub(r"[^A-Za-z0-9_-]", "", str(request_id or ""))[:8]
    if text:
        return text
    return "id" + hashlib.sha256(str(request_id).encode("utf-8", "replace")).hexdigest()[:6]


@dataclass
class Submission:
    request_id: str


class RunComfyClient:
    """One object per API origin and token (both given: the runtime reads them from the
    settings; a missing token fails there, before any request)."""

    def __init__(self, base_url: str, token: str, *, policy: RetryPolicy | None = None,
                 timeout=(10, 30), clock=None, gate=None, max_download_bytes: int = DEFAULT_MAX_BYTES,
                 download_deadline_s: float = DEFAULT_DEADLINE_S):
        kwargs = {"policy": policy, "timeout": timeout, "gate": gate}
        if clock is not None:
            kwargs.update(sleep=clock.sleep, clock=clock.monotonic)
        self.transport = Transport(base_url, token, **kwargs)
        self.max_download_bytes, self.download_deadline_s = max_download_bytes, download_deadline_s

    @property
    def base_url(self) -> str:
        return self.transport.base_url

    def submit(self, model_id: str, body) -> Submission:
        """Submit a job (``body``: a JSON object or its encoded bytes).  Paid from here on."""
        data = self.transport.request("POST", "/v1/models/" + quote(model_id, safe="/"),
                                      body=body, submit=True)
        rid = data.get("request_id")
        if not usable_request_id(rid):
            raise SubmitUncertain(f"RunComfy accepted the job but its request id is missing or "
                                  f"unusable ({clip(repr(rid), 80)})")
        return Submission(rid)

    def status(self, request_id: str) -> dict:
        return self.transport.request("GET", f"/v1/requests/{quote(request_id, safe='')}/status")

    def result(self, request_id: str, include_cost: bool = True) -> dict:
        """The result, or (before completion) the current status: it can be polled."""
        params = {"include_cost": "true"} if include_cost else None
        return self.transport.request("GET", f"/v1/requests/{quote(request_id, safe='')}/result",
                                      params=params)

    def cancel(self, request_id: str) -> dict:
        return self.transport.request("POST", f"/v1/requests/{quote(request_id, safe='')}/cancel")

    def download(self, url: str, dest, progress=None, part=None):
        """Fetch a result file; the token goes only to this API's own origin."""
        return download(url, dest, api_base=self.base_url, token=self.transport._token,
                        progress=progress, part=part, max_bytes=self.max_download_bytes,
                        deadline=self.download_deadline_s)

    def models(self, params: dict, max_answer: int | None = None) -> dict | list:
        """One page of the catalog listing (read up to ``max_answer`` bytes)."""
        return self.transport.request("GET", "/v1/models", params=params, max_answer=max_answer)

    def model(self, model_id: str) -> dict:
        return self.transport.request("GET", "/v1/models/" + quote(model_id, safe="/"))
