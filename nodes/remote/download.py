"""Download a paid result file safely: stream to disk, cap the size, never leak the token.

Rules (see PROTOCOL.md, "Result downloads"):
* only ``https://`` to a public host; a link into this computer or its network (loopback,
  private, link-local, unspecified addresses, ``localhost``), and plain ``http://`` to one,
  only when ``api_base`` is itself on such a host (the bundled simulator): see link_refusal.
  Every redirect hop is re-checked before it is requested, at most ``MAX_REDIRECTS`` hops;
* ``Authorization: Bearer <token>`` goes only to the origin (scheme, host, port) of
  ``api_base``.  It is set per hop by a requests auth hook, which also *removes* any
  Authorization coming from a caller's ``session`` (default headers, ``session.auth``)
  or from ``~/.netrc``.  The caller's session object itself is never modified.
* the body is written to ``<dest>.part`` and renamed to ``dest`` only when complete.
* 3 attempts (backoff 0.5 s, 1 s) for connection errors, timeouts, HTTP 5xx and truncated
  bodies; none for 4xx, refused URLs, redirect loops or oversize files.
* bounded in time: a download that receives less than STALL_BYTES in STALL_S (a stall, or
  a server trickling a byte at a time) is cut and retried; all attempts together end
  within the overall deadline (RUNCOMFY_DOWNLOAD_TIMEOUT_MIN, default 30).  Progress is
  reported at least every second, so the node's status never freezes while it waits;
* the body is stored exactly as sent: a compressed (``Content-Encoding``) answer is refused,
  never inflated (the pack asks for ``identity``, and inflating is unbounded work);
* every failure is a DownloadError naming the URL (shortened, token redacted); an exception
  raised by ``progress`` (e.g. the user cancelling) propagates unchanged, and the part file
  is removed.
"""
from __future__ import annotations

import http.client
import inspect
import ipaddress
import os
import re
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.auth import AuthBase

from ..core.errors import DownloadError, clip, redact
from ..core.settings import BY_ENV

MiB = 1024 * 1024
MAX_ENV = "RUNCOMFY_MAX_DOWNLOAD_MB"
DEFAULT_MAX_BYTES = int(BY_ENV[MAX_ENV].default * MiB)
CHUNK = MiB
MAX_REDIRECTS = 5
BACKOFF = (0.5, 1.0)          # sleeps between the 3 attempts
PROGRESS_EVERY = 0.2          # seconds: at most ~5 progress calls per second
TICK_S = 1.0                  # ... and at least one per second while waiting for bytes
STALL_S = 30.0                # less than STALL_BYTES in this window is a stall
STALL_BYTES = 64 * 1024
DEADLINE_ENV = "RUNCOMFY_DOWNLOAD_TIMEOUT_MIN"
DEFAULT_DEADLINE_S = BY_ENV[DEADLINE_ENV].default * 60
URL_SHOWN = 160               # characters of a URL quoted in a message
_REDIRECTS = (301, 302, 303, 307, 308)
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
              urllib3.exceptions.HTTPError, http.client.HTTPException)
_KEEP = ("The file is still on RunComfy; run the node again to fetch it without paying, "
         "or open the link.")


class _Retry(Exception):
    """A failure worth another attempt; carries the user-facing reason."""


def shown(url: str) -> str:
    """A URL as quoted in a message: at most URL_SHOWN characters."""
    return clip(url, URL_SHOWN)


def host_address(host: str):
    """The IP address a URL's host is written as, or None for a DNS name.

    Brackets and a trailing dot are allowed; an IPv4-mapped IPv6 address (``::ffff:127.0.0.1``)
    is its IPv4 address; the legacy IPv4 forms a name lookup also accepts (``127.1``,
    ``2130706433``, ``0x7f.0.0.1``) are read as the address they stand for.
    """
    host = (host or "").strip().strip("[]").rstrip(".").lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = _legacy_ipv4(host)
    mapped = getattr(ip, "ipv4_mapped", None)
    return mapped or ip


def _legacy_ipv4(host: str):
    if not host or not re.fullmatch(r"[0-9a-fx.]+", host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _local_name(host: str) -> bool:
    host = (host or "").strip().rstrip(".").lower()
    return host == "localhost" or host.endswith(".localhost")


def is_loopback(host: str) -> bool:
    """True for localhost (and ``*.localhost``), 127.0.0.0/8 and ::1 (brackets and a trailing
    dot allowed, IPv4-mapped forms too)."""
    ip = host_address(host)
    return ip.is_loopback if ip is not None else _local_name(host)


def is_local(host: str) -> bool:
    """True for a host on this computer or its network: ``localhost`` and ``*.localhost``, and
    every address that is not public: loopback (127/8, ::1), private (10/8, 172.16/12,
    192.168/16, fc00::/7), link-local (169.254/16, fe80::/10), unspecified (0.0.0.0, ::),
    shared, reserved and multicast ones.  Other DNS names are not looked up (see link_refusal)."""
    ip = host_address(host)
    if ip is None:
        return _local_name(host)
    return (not ip.is_global or ip.is_private or ip.is_loopback or ip.is_link_local
            or ip.is_unspecified or ip.is_reserved or ip.is_multicast)


def link_refusal(url: str, api_base: str | None) -> str | None:
    """Why a result link may not be fetched (None: it may).  Pure: no lookup, no connection.

    ``https://`` to a public host is always fine.  A host on this computer or its network
    (is_local), and plain ``http://`` to one, only when the API itself is on such a host
    (the bundled simulator on 127.0.0.1); plain ``http://`` to a public host never.  DNS
    names are judged by their name only (``localhost``, ``*.localhost``): a lookup here would
    not bind the later connection (DNS rebinding), and an https link to any other name
    still needs a publicly trusted certificate for that name, which services on this
    computer or network (ComfyUI's own API, a router, a cloud metadata endpoint) lack.
    """
    origin = _origin(url)
    scheme, host = origin[:2] if origin else ("", "")
    if scheme not in ("http", "https") or not host:
        return "it is not a valid https:// link"
    api = _origin(api_base) if api_base else None
    api_local = api is not None and bool(api[1]) and is_local(api[1])
    if is_local(host) and not api_local:
        return (f"it points into this computer or its local network ({clip(host, 60)}), and "
                "only an API running there (like the bundled simulator) may send such links")
    if scheme == "http" and not (is_local(host) and api_local):
        return "plain http:// is only allowed to this computer, when the API runs there too"
    return None


def _check_url(url: str, api_base: str | None, first: str | None = None) -> None:
    """Refuse, before any connection, a link link_refusal refuses (each redirect hop too)."""
    why = link_refusal(url, api_base)
    if why is None:
        return
    where = f"{shown(first)}: it redirected to {shown(url)}, but" if first else f"{shown(url)}:"
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


def download(url: str, dest: "str | Path", *, api_base: str | None = None, token: str | None = None,
             max_bytes: int = DEFAULT_MAX_BYTES, timeout=(10, STALL_S), progress=None,
             session: "requests.Session | None" = None, part: "Path | None" = None,
             deadline: float = DEFAULT_DEADLINE_S) -> Path:
    """Fetch ``url`` into ``dest`` (see module doc).  Returns the final path; raises DownloadError.

    ``api_base`` is the API the link came from: its origin alone gets ``token``, and only when
    it is on this computer or its network may the link (or a redirect) point there too.

    ``part`` is the file written while downloading (default ``<dest>.part``); ``deadline``
    the seconds all attempts may take (default from RUNCOMFY_DOWNLOAD_TIMEOUT_MIN).
    """
    dest = Path(dest)
    part = Path(part) if part else dest.with_name(dest.name + ".part")
    limit = int(max_bytes)
    sess = session or requests.Session()
    attempts = len(BACKOFF) + 1
    budget = _Budget(deadline)
    try:
        _check_url(url, api_base)
        dest.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, attempts + 1):
            try:
                _attempt(sess, url, part, limit, timeout, progress, token, api_base, budget)
                os.replace(part, dest)
                return dest
            except _Retry as e:
                reason = str(e)
            except requests.Timeout:
                reason = "the server did not answer in time"
            except _TRANSIENT as e:
                reason = f"the connection failed ({type(e).__name__})"
            part.unlink(missing_ok=True)
            if budget.over():
                raise DownloadError(f"Could not download the result from {shown(url)}: {reason}, and "
                                    f"the {budget.seconds / 60:g}-minute limit for a download "
                                    f"({DEADLINE_ENV}) has passed. {_KEEP}")
            if attempt < attempts:
                time.sleep(BACKOFF[attempt - 1])
        raise DownloadError(f"Could not download the result from {shown(url)}: {reason} "
                            f"(tried {attempts} times). {_KEEP}")
    except DownloadError as e:
        raise DownloadError(redact(str(e), token)) from None
    except requests.RequestException as e:
        raise DownloadError(redact(f"Could not download the result from {shown(url)}: {clip(e)}. "
                                   f"{_KEEP}", token)) from None
    except OSError as e:  # disk full, permission denied, ...
        raise DownloadError(redact(f"Could not save the result from {shown(url)} to {dest}: "
                                   f"{clip(e)}. Free some space or fix the output folder. {_KEEP}",
                                   token)) from None
    finally:
        part.unlink(missing_ok=True)
        if session is None:
            sess.close()


class _Budget:
    """The overall deadline of one download, over all its attempts."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def over(self) -> bool:
        return time.monotonic() > self.end


def _attempt(sess, url, part, limit, timeout, progress, token, api_base, budget) -> None:
    current = url
    api_origin = _origin(api_base) if api_base else None
    for _hop in range(MAX_REDIRECTS + 1):
        _check_url(current, api_base, None if current == url else url)
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
                raise DownloadError(f"Could not download the result from {shown(url)}: the server "
                                    f"answered HTTP {resp.status_code} {clip(resp.reason or '', 60)}".rstrip() +
                                    ". The file may have expired or been removed; open the link to check.")
            _save(resp, url, part, limit, progress, budget)
            return
    raise DownloadError(f"Could not download the result from {shown(url)}: more than {MAX_REDIRECTS} "
                        "redirects (a redirect loop?). Open the link in a browser to check it.")


def _save(resp, url, part, limit, progress, budget) -> None:
    encoding = resp.headers.get("Content-Encoding", "identity").strip().lower() or "identity"
    if encoding != "identity":
        raise DownloadError(f"Could not download the result from {shown(url)}: the server sent it "
                            f"compressed ({clip(encoding, 30)}) although the pack asked for the file "
                            f"as is; refusing to inflate it. Open the link in a browser to check it.")
    total = resp.headers.get("Content-Length")
    total = int(total) if total and total.isdigit() else None
    too_big = (f"Could not download the result from {shown(url)}: the file is larger than the "
               f"{_fmt(limit)} limit. Raise {MAX_ENV} if you expect results this big.")
    if total is not None and total > limit:
        raise DownloadError(too_big)
    with open(part, "wb") as f, _Ticker(progress, total) as ticker:
        try:
            while True:
                chunk = _read_some(resp.raw)
                if not chunk:
                    break
                if ticker.add(len(chunk)) > limit:
                    raise DownloadError(too_big)
                f.write(chunk)
                ticker.check(budget)
        except _TRANSIENT as e:
            of = f" of {_fmt(total)}" if total else ""
            raise _Retry(f"the server closed the connection after {_fmt(ticker.received)}{of} "
                         f"({type(e).__name__})") from e
    received = ticker.received
    if total is not None and received != total:
        raise _Retry(f"the server sent {_fmt(received)} of {_fmt(total)}")
    if progress:
        progress(received, total if total is not None else received)


def _read_some(raw) -> bytes:
    """Whatever bytes have arrived (up to CHUNK), exactly as sent: never inflated."""
    read1 = getattr(raw, "read1", None)
    if read1 is not None:
        return read1(CHUNK, decode_content=False) if _takes_decode(read1) else read1(CHUNK)
    return raw.read(64 * 1024, decode_content=False)


def _takes_decode(fn) -> bool:
    try:
        return "decode_content" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


class _Ticker:
    """Counts bytes, throttles progress calls (≤ 5/s), and calls progress at least once a
    second from a helper thread while the next bytes are awaited; detects stalls."""

    def __init__(self, progress, total):
        self.progress, self.total = progress, total
        self.received = 0
        self._last_call = time.monotonic()
        self._window = [(time.monotonic(), 0)]   # (time, bytes received) samples
        self._failure: list = []
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def __enter__(self):
        if self.progress is not None:
            threading.Thread(target=self._tick, name="runcomfy-download-tick", daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._stop.set()

    def add(self, n: int) -> int:
        self.received += n
        now = time.monotonic()
        if self.progress is not None and now - self._last_call >= PROGRESS_EVERY:
            self._call(now)
        return self.received

    def check(self, budget) -> None:
        """Raise on a progress failure, a stall, or the overall deadline."""
        if self._failure:
            raise self._failure[0]
        now = time.monotonic()
        self._window.append((now, self.received))
        while len(self._window) > 1 and now - self._window[1][0] >= STALL_S:
            self._window.pop(0)
        start_t, start_bytes = self._window[0]
        if now - start_t >= STALL_S and self.received - start_bytes < STALL_BYTES:
            raise _Retry(f"the download stalled ({_fmt(self.received - start_bytes)} in the last "
                         f"{STALL_S:.0f} s)")
        if budget.over():
            raise _Retry(f"the download was still not finished after {budget.seconds / 60:g} min")

    def _call(self, now: float) -> None:
        with self._lock:
            self._last_call = now
            self.progress(self.received, self.total)

    def _tick(self) -> None:
        while not self._stop.wait(TICK_S / 4):
            if time.monotonic() - self._last_call >= TICK_S:
                try:
                    self._call(time.monotonic())
                except BaseException as exc:   # re-raised by the downloading thread
                    self._failure.append(exc)
                    return
