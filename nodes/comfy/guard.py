"""Who may call the pack's HTTP routes (token, jobs, estimate, settings), and JSON helpers.

Who may call it
---------------
ComfyUI listens on a local port, and any web page the user visits can make the browser
send requests there.  The browser's same-origin policy stops such a page from *reading*
the answers (this route sends no CORS headers), but not from *sending* requests, so a
hostile page could otherwise replace or clear the token.  Three checks close that off:

* ``Origin``: browsers send it on every POST and DELETE (and on cross-origin requests of
  any kind).  When present it must equal the origin the request was addressed to:
  scheme, host and port of the request itself (``Host``; behind a reverse proxy also
  ``X-Forwarded-Host``/``X-Forwarded-Proto``, which a web page cannot set without a CORS
  preflight that ComfyUI never grants).  ``Origin: null`` (sandboxed frames, file://)
  is refused.  Scripts such as curl send no Origin and are allowed: they run as the user.
* ``Sec-Fetch-Site``: when present it must be ``same-origin`` or ``none`` (typed in the
  address bar).  ``same-site`` is refused too: another port on localhost is "same site".
  This also covers ComfyUI started with ``--enable-cors-header``, whose CORS middleware
  would otherwise let other origins through.
* POST must be ``Content-Type: application/json``.  An HTML form can only send
  urlencoded, multipart or text/plain bodies, and a script on another origin cannot send
  JSON without a preflight, so a cross-site form post never reaches the config file.

Not covered: DNS rebinding (a hostile name re-pointed at 127.0.0.1 makes the page
same-origin); ComfyUI's own API has the same exposure.  The route can at worst replace or
clear the token, never reveal it.
"""
from __future__ import annotations

import json
import logging
import math
from urllib.parse import urlsplit

from aiohttp import web

log = logging.getLogger("runcomfy")

DEFAULT_PORTS = {"http": 80, "https": 443}
ALLOWED_FETCH_SITES = ("same-origin", "none")
NO_STORE = {"Cache-Control": "no-store"}
MAX_BODY = 16 * 1024


def reply(data: dict, status_code: int = 200) -> web.Response:
    """A JSON answer in standard JSON only (no NaN or Infinity, which a browser cannot parse)."""
    try:
        text = json.dumps(data, allow_nan=False)
    except ValueError:
        log.warning("RunComfy: a route's answer held a number JSON cannot carry; answered 500")
        status_code, text = 500, json.dumps({"error": "The answer held a number that is not finite."})
    return web.json_response(text=text, status=status_code, headers=NO_STORE)


def bounded_int(value, default, lo: int, hi: int):
    """A count a caller sent (query text or JSON), held within [lo, hi]; ``default`` when it is
    not a whole number (true/false included)."""
    if isinstance(value, bool):
        return default
    try:
        return max(lo, min(hi, int(value)))
    except (TypeError, ValueError):
        return default


def refuse(status_code: int, message: str) -> web.Response:
    return reply({"error": message}, status_code)


def _origin(scheme: str, netloc: str):
    """(scheme, host, port) of scheme://netloc, or None when it is not a web origin."""
    scheme = (scheme or "").strip().lower()
    if scheme not in DEFAULT_PORTS or not netloc:
        return None
    try:
        parts = urlsplit(f"//{netloc.strip()}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return scheme, host.lower().rstrip("."), port or DEFAULT_PORTS[scheme]


def _first(value: str | None) -> str:
    return (value or "").split(",")[0].strip()


def own_origins(request: web.Request) -> set:
    """The origins this request was addressed to (directly, or through a reverse proxy)."""
    schemes = {request.scheme, _first(request.headers.get("X-Forwarded-Proto"))}
    hosts = {request.headers.get("Host") or request.host,
             _first(request.headers.get("X-Forwarded-Host"))}
    found = {_origin(s, h) for s in schemes if s for h in hosts if h}
    return {o for o in found if o}


def caller_problem(request: web.Request) -> str | None:
    """Why this request may not touch the token (None: it may).  See the module docstring."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site.strip().lower() not in ALLOWED_FETCH_SITES:
        return "Only the ComfyUI page itself may use this route (cross-site request refused)."
    origin = request.headers.get("Origin")
    if origin is not None:
        parts = urlsplit(origin.strip()) if origin.strip().lower() != "null" else None
        theirs = _origin(parts.scheme, parts.netloc) if parts else None
        if theirs is None or theirs not in own_origins(request):
            return "Only the ComfyUI page itself may use this route (other origin refused)."
    if request.method == "POST" and request.content_type != "application/json":
        return "Send JSON (Content-Type: application/json)."
    return None


async def read_json(request: web.Request, max_body: int = MAX_BODY):
    """The request's JSON body (at most ``max_body`` bytes), or a Response refusing it."""
    if (request.content_length or 0) > max_body:
        return refuse(413, "Request too large.")
    raw = bytearray()
    while chunk := await request.content.readany():
        raw += chunk
        if len(raw) > max_body:
            return refuse(413, "Request too large.")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_not_finite, parse_float=_finite)
    except NotFinite:
        return refuse(400, "The request holds a number that is not finite (NaN, Infinity, or one "
                           "too large such as 1e309); send finite numbers.")
    except (UnicodeDecodeError, ValueError, RecursionError):
        return refuse(400, "Send a JSON body.")


class NotFinite(ValueError):
    """A request number that is NaN, ±Infinity or overflows a float."""


def _not_finite(text: str):
    raise NotFinite(text)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotFinite(text)
    return value


def same_origin(handler):
    """A route handler that answers the ComfyUI page only (see the module docstring)."""
    async def checked(request: web.Request) -> web.Response:
        problem = caller_problem(request)
        return refuse(403, problem) if problem else await handler(request)
    return checked


def json_body(handler):
    """A route handler that receives the request's JSON body as its second argument."""
    async def parsed(request: web.Request) -> web.Response:
        data = await read_json(request)
        return data if isinstance(data, web.Response) else await handler(request, data)
    return parsed
