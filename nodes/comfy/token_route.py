"""The pack's small HTTP route for the API token: ``/runcomfy/token`` (GET, POST, DELETE).

The Settings page (web/runcomfy.js) uses it to show whether a token is set and to save
or clear one.  Who may call it is decided in guard.py (same origin only).  The token is kept in the pack's owner-only config file (settings.set_token)
and never in ComfyUI's own settings file, a widget, a workflow or a log line.  Answers
carry only ``set``, the last four characters and where the token comes from.
"""
from __future__ import annotations

import logging

from aiohttp import web

from ..core.errors import redact
from ..core.settings import MIN_TOKEN, ConfigFileError, Settings, env_token
from ..core.settings import token_problem as problem_of
from .guard import json_body, refuse, reply, same_origin

log = logging.getLogger("runcomfy")

PATH = "/runcomfy/token"


# -- what the page may see ----------------------------------------------------------------
def status(settings: Settings) -> dict:
    """Whether a token is set, its last 4 characters and where it comes from — never more;
    ``problem`` says what is wrong with the config file, when it cannot be read."""
    token, env_var = env_token()
    problem = settings.problem()
    source = "environment" if token else "none"
    if not token and not problem:
        token, source = settings.token_source()
    saved = not problem and bool(str(settings.read_config().get("api_token") or "").strip())
    last4 = token[-4:] if token and len(token) >= MIN_TOKEN else ""
    message = problem or {
        "environment": f"{env_var} is set in ComfyUI's environment and wins over a token saved "
                       "here; unset it and restart ComfyUI to use the saved one.",
        "config": "Saved in the RunComfy config file in your ComfyUI user folder (owner-only).",
        "none": "No token set. Paste one from runcomfy.com (Profile → API keys).",
    }[source]
    return {"set": bool(token), "last4": last4, "source": source, "env_var": env_var,
            "saved": saved, "message": message, "problem": problem}


# -- handlers -----------------------------------------------------------------------------
def handlers(settings: Settings) -> dict:
    """(method → handler) of the token route, bound to one user folder's settings."""

    @same_origin
    async def get_token(request: web.Request) -> web.Response:
        return reply(status(settings))

    @same_origin
    @json_body
    async def post_token(request: web.Request, data) -> web.Response:
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
        return save(settings, token or None)

    @same_origin
    async def delete_token(request: web.Request) -> web.Response:
        return save(settings, None)

    return {"GET": get_token, "POST": post_token, "DELETE": delete_token}


def token_problem(token: str) -> str | None:
    """Why this string cannot be a token (None: fine; "" clears).  Never quotes it."""
    return None if token == "" else problem_of(token)


def save(settings: Settings, token: str | None) -> web.Response:
    try:
        settings.set_token(token)
    except ConfigFileError as e:
        return refuse(409, str(e))               # never rewrite a file we cannot read
    except OSError as e:
        log.warning("RunComfy: could not write the config file %s (%s)", settings.config_path,
                    type(e).__name__)
        return refuse(500, redact(f"Could not write {settings.config_path}: {e.strerror or e}", token))
    log.info("RunComfy: API token %s from the Settings page", "saved" if token else "cleared")
    return reply(status(settings))


def register(routes, settings: Settings) -> None:
    """Add the token route to an aiohttp RouteTableDef (ComfyUI's PromptServer.instance.routes).

    ComfyUI serves every such route both at its path and under /api (the page calls
    /api/runcomfy/token).  Registering twice is a no-op.
    """
    if any(getattr(r, "path", None) == PATH for r in routes):
        return
    for method, handler in handlers(settings).items():
        routes.route(method, PATH)(handler)
