"""Where the API token and base URL come from.

Order: the environment (RUNCOMFY_API_TOKEN, then RUNCOMFY_API_KEY), then the pack's
config file ``<ComfyUI user>/runcomfy/config.json``, written owner-only (0600).  The
token never enters a widget, a workflow or a log line.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from . import host
from .errors import ConfigError

DEFAULT_BASE_URL = "https://model-api.runcomfy.net"
TOKEN_ENV = ("RUNCOMFY_API_TOKEN", "RUNCOMFY_API_KEY")
NO_TOKEN = ("No RunComfy API token is set, so nothing was sent. Set it in ComfyUI's Settings → "
            "RunComfy, or set the environment variable RUNCOMFY_API_TOKEN before starting "
            "ComfyUI (create a key on runcomfy.com under Profile → API keys).")


def config_path() -> Path:
    return host.user_dir() / "config.json"


def read_config() -> dict:
    try:
        data = json.loads(config_path().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_config(data: dict) -> None:
    """Write the config file readable by its owner only (it may hold the token)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def token_source() -> tuple[str | None, str]:
    """(token, where it came from) — where is 'environment', 'config' or 'none'."""
    for name in TOKEN_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            return value, "environment"
    value = str(read_config().get("api_token") or "").strip()
    return (value, "config") if value else (None, "none")


def api_token() -> str:
    token, _ = token_source()
    if not token:
        raise ConfigError(NO_TOKEN)
    return token


def set_token(token: str | None) -> None:
    data = read_config()
    if token:
        data["api_token"] = token.strip()
    else:
        data.pop("api_token", None)
    write_config(data)


def base_url() -> str:
    return (os.environ.get("RUNCOMFY_BASE_URL") or read_config().get("base_url")
            or DEFAULT_BASE_URL).rstrip("/")


def run_timeout_s() -> float:
    """Longest a job may *run* (queue time not counted): RUNCOMFY_TIMEOUT_MIN, default 30."""
    try:
        return float(os.environ.get("RUNCOMFY_TIMEOUT_MIN") or read_config().get("timeout_min") or 30) * 60
    except ValueError:
        return 30 * 60.0
