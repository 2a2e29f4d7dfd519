"""The pack's small HTTP route for the API token: ``/runcomfy/token`` (GET, POST, DELETE).

The Settings page (web/runcomfy.js) uses it to show whether a token is set and to save
or clear one.  The token is kept in the pack's owner-only config file (settings.set_token)
and never in ComfyUI's own settings file, a widget, a workflow or a log line.  Answers
carry only ``set``, the last four characters and where the token comes from.

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
import os
from urllib.parse import urlsplit

from aiohttp import web

from .. import settings
from ..errors import redact

log = logging.getLogger("runcomfy")

PATH = "/runcomfy/token"
MAX_BODY = 16 * 1024
MIN_TOKEN = settings.MIN_TOKEN
DEFAULT_PORTS = {"http": 80, "https": 443}
ALLOWED_FETCH_SITES = ("same-origin", "none")
NO_STORE = {"Cache-Control": "no-store"}


# -- what the page may see ----------------------------------------------------------------
def status() -> dict:
    """Whether a token is set, its last 4 characters and where it comes from — never more."""
    token, source = settings.token_source()
    env_var = next((n for n in settings.TOKEN_ENV if os.environ.get(n, "").strip()), "")
    saved = bool(str(settings.read_config().get("api_token") or "").strip())
    last4 = token[-4:] if token and len(token) >= MIN_TOKEN else ""
    message = {
        "environment": f"{env_var} is set in ComfyUI's environment and wins over a token saved "
                       "here; unset it and restart ComfyUI to use the saved one.",
        "config": "Saved in the RunComfy config file in your ComfyUI user folder (owner-only).",
        "none": "No token set. Paste one from runcomfy.com (Profile → API keys).",
    }[source]
    return {"set": bool(token), "last4": last4, "source": source, "env_var": env_var,
            "saved": saved, "message": message}


def reply(data: dict, status_code: int = 200) -> web.Response:
    return web.json_response(data, status=status_code, headers=NO_STORE)


def refuse(status_code: int, message: str) -> web.Response:
    return reply({"error": message}, status_code)


# -- who may call -------------------------------------------------------------------------
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
        return "Send the token as JSON (Content-Type: application/json)."
    return None


# -- handlers -----------------------------------------------------------------------------
async def get_token(request: web.Request) -> web.Response:
    problem = caller_problem(request)
    return refuse(403, problem) if problem else reply(status())


async def post_token(request: web.Request) -> web.Response:
    problem = caller_problem(request)
    if problem:
        return refuse(403, problem)
    if (request.content_length or 0) > MAX_BODY:
        return refuse(413, "Request too large for a token.")
    raw = bytearray()
    while chunk := await request.content.readany():
        raw += chunk
        if len(raw) > MAX_BODY:
            return refuse(413, "Request too large for a token.")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return refuse(400, 'Send JSON like {"token": "..."}.')
    if not isinstance(data, dict) or "token" not in data:
        return refuse(400, 'Send JSON like {"token": "..."}.')
    token = data["token"]
    if token is None:
        token = ""
    if not isinstance(token, str):
        return refuse(400, "The token must be a string.")
    problem = token_problem(token)
    if problem:
        return refuse(400, problem)
    return save(token or None)


async def delete_token(request: web.Request) -> web.Response:
    problem = caller_problem(request)
    return refuse(403, problem) if problem else save(None)


def token_problem(token: str) -> str | None:
    """Why this string cannot be a token (None: fine; "" clears).  Never quotes it."""
    return None if token == "" else settings.token_problem(token)


def save(token: str | None) -> web.Response:
    try:
        settings.set_token(token)
    except OSError as e:
        log.warning("RunComfy: could not write the config file %s (%s)", settings.config_path(),
                    type(e).__name__)
        return refuse(500, redact(f"Could not write {settings.config_path()}: {e.strerror or e}", token))
    log.info("RunComfy: API token %s from the Settings page", "saved" if token else "cleared")
    return reply(status())


def register(routes) -> None:
    """Add the token route to an aiohttp RouteTableDef (ComfyUI's PromptServer.instance.routes).

    ComfyUI serves every such route both at its path and under /api (the page calls
    /api/runcomfy/token).  Registering twice is a no-op.
    """
    if any(getattr(r, "path", None) == PATH for r in routes):
        return
    routes.get(PATH)(get_token)
    routes.post(PATH)(post_token)
    routes.delete(PATH)(delete_token)
