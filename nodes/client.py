"""The RunComfy Model API's calls: submit, status, result, cancel, and the catalog."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from . import settings
from .download import download
from .errors import ApiError
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


def output_urls(output) -> dict[str, list[str]]:
    """All four output shapes (image, video, images, videos) → {"videos": [...], "images": [...]}."""
    found = {"videos": [], "images": []}
    if not isinstance(output, dict):
        return found
    for single, plural in (("video", "videos"), ("image", "images")):
        for value in (output.get(single), output.get(plural)):
            items = value if isinstance(value, list) else [value]
            for item in items:
                url = item.get("url") if isinstance(item, dict) else item
                if isinstance(url, str) and url and url not in found[plural]:
                    found[plural].append(url)
    return found


def error_text(data: dict) -> str:
    """The service's own words about a failed job."""
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return str(err.get("message") or err.get("error_message") or err.get("detail") or err)
    return str(err or data.get("error_message") or data.get("message") or "no reason given")


@dataclass
class Submission:
    request_id: str
    status_url: str = ""
    result_url: str = ""
    cancel_url: str = ""


class RunComfyClient:
    """One object per API origin and token.  A missing token fails here, before any request."""

    def __init__(self, base_url: str | None = None, token: str | None = None, *,
                 policy: RetryPolicy | None = None, timeout=(10, 30), sleep=None):
        kwargs = {"policy": policy, "timeout": timeout}
        if sleep is not None:
            kwargs["sleep"] = sleep
        self.transport = Transport(base_url or settings.base_url(),
                                   token or settings.api_token(), **kwargs)

    @property
    def base_url(self) -> str:
        return self.transport.base_url

    def submit(self, model_id: str, body: dict) -> Submission:
        data = self.transport.request("POST", "/v1/models/" + quote(model_id, safe="/"),
                                      body=body, submit=True)
        rid = data.get("request_id")
        if not rid:
            raise ApiError(f"RunComfy accepted the job but sent no request id: {str(data)[:200]}",
                           http_status=200)
        return Submission(str(rid), data.get("status_url", ""), data.get("result_url", ""),
                          data.get("cancel_url", ""))

    def status(self, request_id: str) -> dict:
        return self.transport.request("GET", f"/v1/requests/{quote(request_id, safe='')}/status")

    def result(self, request_id: str, include_cost: bool = True) -> dict:
        """The result, or (before completion) the current status: it can be polled."""
        params = {"include_cost": "true"} if include_cost else None
        return self.transport.request("GET", f"/v1/requests/{quote(request_id, safe='')}/result",
                                      params=params)

    def cancel(self, request_id: str) -> dict:
        return self.transport.request("POST", f"/v1/requests/{quote(request_id, safe='')}/cancel")

    def download(self, url: str, dest, progress=None):
        """Fetch a result file; the token goes only to this API's own origin."""
        return download(url, dest, api_base=self.base_url, token=self.transport._token,
                        progress=progress)

    def model(self, model_id: str) -> dict:
        return self.transport.request("GET", "/v1/models/" + quote(model_id, safe="/"))
