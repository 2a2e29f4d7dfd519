"""Download a paid result file safely: stream to disk, cap the size, never leak the token.

Rules (see PROTOCOL.md, "Result downloads"):
* only ``https://``, or plain ``http://`` to a loopback host (the bundled simulator);
  every redirect hop is re-checked before it is requested, at most ``MAX_REDIRECTS`` hops;
* ``Authorization: Bearer <token>`` goes only to the origin (scheme, host, port) of
  ``api_base``.  It is set per hop by a requests auth hook, which also *removes* any
  Authorization coming from a caller's ``session`` (default headers, ``session.auth``)
  or from ``~/.netrc``.  The caller's session object itself is never modified.
* the body is written to ``<dest>.part`` and renamed to ``dest`` only when complete.
* 3 attempts (backoff 0.5 s, 1 s) for connection errors, timeouts, HTTP 5xx and truncated
  bodies; none for 4xx, refused URLs, redirect loops or oversize files.
* every failure is a DownloadError naming the URL (token redacted); an exception raised by
  ``progress`` (e.g. the user cancelling) propagates unchanged, and ``.part`` is removed.
"""
from __future__ import annotations

import http.client
import ipaddress
import os
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.auth import AuthBase

from .errors import DownloadError, redact

MiB = 1024 * 1024
DEFAULT_MAX_BYTES = 1024 * MiB
MAX_ENV = "RUNCOMFY_MAX_DOWNLOAD_MB"
CHUNK = MiB
MAX_REDIRECTS = 5
BACKOFF = (0.5, 1.0)          # sleeps between the 3 attempts
PROGRESS_EVERY = 0.2          # seconds: at most ~5 progress calls per second
_REDIRECTS = (301, 302, 303, 307, 308)
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
              urllib3.exceptions.HTTPError, http.client.HTTPException)
_UNSET = object()
_KEEP = ("The file is still on RunComfy; run the node again to fetch it without paying, "
         "or open the link.")


class _Retry(Exception):
    """A failure worth another attempt; carries the user-facing reason."""


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (brackets and a trailing dot allowed)."""
    host = (host or "").strip().strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(url: str, first: str | None = None) -> None:
    """Refuse, before any connection, a URL that is not https (or http to loopback)."""
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname or ""
    except ValueError:
        scheme, host = "", ""
    if _origin(url) is None:
        host = ""  # unparsable port: refuse below
    if scheme == "https" and host:
        return
    if scheme == "http" and host and is_loopback(host):
        return
    why = ("plain http:// is only allowed to this computer" if scheme == "http" and host
           else "it is not a valid https:// link")
    where = f"{first}: it redirected to {url}, but" if first else f"{url}:"
    raise DownloadError(f"Refusing to download the result from {where} {why}. "
                        "Result files must come from RunComfy storage over HTTPS.")


def _origin(url: str):
    """(scheme, host, port) of a URL, or None when it cannot be parsed."""
    try:
        p = urlsplit(url)
        scheme = p.scheme.lower()
        port = p.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        return None
    return scheme, (p.hostname or "").lower(), port


class _HopAuth(AuthBase):
    """Sets the Bearer header for the API origin, strips any Authorization otherwise."""

    def __init__(self, token: str | None):
        self.token = token

    def __call__(self, r):
        r.headers.pop("Authorization", None)
        if self.token:
            r.headers["Authorization"] = f"Bearer {self.token}"
        return r


def _fmt(n: int) -> str:
    return f"{n / MiB:.1f} MB" if n >= MiB // 10 else f"{n} bytes"


def _max_bytes(max_bytes) -> int:
    if max_bytes is not _UNSET:
        return int(max_bytes)
    raw = os.environ.get(MAX_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    try:
        value = int(float(raw) * MiB)
    except (ValueError, OverflowError):
        value = 0
    if value <= 0:
        raise DownloadError(f"{MAX_ENV}={raw!r} is not a positive number of megabytes; fix or unset it.")
    return value


def download(url: str, dest: "str | Path", *, api_base: str | None = None, token: str | None = None,
             max_bytes: int = _UNSET, timeout=(10, 60), progress=None,
             session: "requests.Session | None" = None) -> Path:
    """Fetch ``url`` into ``dest`` (see module doc).  Returns the final path; raises DownloadError."""
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    limit = _max_bytes(max_bytes)
    sess = session or requests.Session()
    attempts = len(BACKOFF) + 1
    try:
        api_origin = _origin(api_base) if api_base else None
        _check_url(url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, attempts + 1):
            try:
                _attempt(sess, url, part, limit, timeout, progress, token, api_origin)
                os.replace(part, dest)
                return dest
            except _Retry as e:
                reason = str(e)
            except requests.Timeout:
                reason = "the server did not answer in time"
            except _TRANSIENT as e:
                reason = f"the connection failed ({type(e).__name__})"
            part.unlink(missing_ok=True)
            if attempt < attempts:
                time.sleep(BACKOFF[attempt - 1])
        raise DownloadError(f"Could not download the result from {url}: {reason} "
                            f"(tried {attempts} times). {_KEEP}")
    except DownloadError as e:
        raise DownloadError(redact(str(e), token)) from None
    except requests.RequestException as e:
        raise DownloadError(redact(f"Could not download the result from {url}: {e}. {_KEEP}", token)) from None
    except OSError as e:  # disk full, permission denied, ...
        raise DownloadError(redact(f"Could not save the result from {url} to {dest}: {e}. "
                                   f"Free some space or fix the output folder. {_KEEP}", token)) from None
    finally:
        part.unlink(missing_ok=True)
        if session is None:
            sess.close()


def _attempt(sess, url, part, limit, timeout, progress, token, api_origin) -> None:
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        _check_url(current, None if current == url else url)
        send_token = token if api_origin and _origin(current) == api_origin else None
        resp = sess.get(current, headers={"Accept-Encoding": "identity"}, auth=_HopAuth(send_token),
                        allow_redirects=False, stream=True, timeout=timeout)
        with resp:
            if resp.status_code in _REDIRECTS and resp.headers.get("Location"):
                current = urljoin(current, resp.headers["Location"])
                continue
            if resp.status_code >= 500:
                raise _Retry(f"the server answered HTTP {resp.status_code}")
            if not 200 <= resp.status_code < 300:
                raise DownloadError(f"Could not download the result from {url}: the server answered "
                                    f"HTTP {resp.status_code} {resp.reason or ''}".rstrip() +
                                    ". The file may have expired or been removed; open the link to check.")
            _save(resp, url, part, limit, progress)
            return
    raise DownloadError(f"Could not download the result from {url}: more than {MAX_REDIRECTS} "
                        "redirects (a redirect loop?). Open the link in a browser to check it.")


def _save(resp, url, part, limit, progress) -> None:
    total = resp.headers.get("Content-Length")
    total = int(total) if total and total.isdigit() else None
    too_big = (f"Could not download the result from {url}: the file is larger than the "
               f"{_fmt(limit)} limit. Raise {MAX_ENV} if you expect results this big.")
    if total is not None and total > limit:
        raise DownloadError(too_big)
    received, last = 0, time.monotonic()
    with open(part, "wb") as f:
        try:
            for chunk in resp.iter_content(CHUNK):
                received += len(chunk)
                if received > limit:
                    raise DownloadError(too_big)
                f.write(chunk)
                if progress and time.monotonic() - last >= PROGRESS_EVERY:
                    last = time.monotonic()
                    progress(received, total)
        except _TRANSIENT as e:
            of = f" of {_fmt(total)}" if total else ""
            try:  # bytes off the wire, including a last partial chunk never handed to us
                received = max(received, int(resp.raw.tell()))
            except Exception:
                pass
            raise _Retry(f"the server closed the connection after {_fmt(received)}{of} "
                         f"({type(e).__name__})") from e
    identity = resp.headers.get("Content-Encoding", "identity").lower() == "identity"
    if total is not None and identity and received != total:
        raise _Retry(f"the server sent {_fmt(received)} of {_fmt(total)}")
    if progress:
        progress(received, total if total is not None else received)
