"""Where the API token and base URL come from.

Order: the environment (RUNCOMFY_API_TOKEN, then RUNCOMFY_API_KEY), then the pack's
config file ``<ComfyUI user>/runcomfy/config.json``, written owner-only (0600).  The
token never enters a widget, a workflow or a log line.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from .comfy import host
from .errors import ConfigError

DEFAULT_BASE_URL = "https://model-api.runcomfy.net"
TOKEN_ENV = ("RUNCOMFY_API_TOKEN", "RUNCOMFY_API_KEY")
MIN_TOKEN, MAX_TOKEN = 8, 1024
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
    write_private_json(config_path(), data)


def write_private_json(path: Path, data) -> None:
    """Write a JSON file of the pack's user folder, readable by its owner only (the folder
    too): see write_atomic."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    write_atomic(path, json.dumps(data, indent=2), mode=0o600)


def write_atomic(path: Path, text: str, *, mode: int = 0o666) -> None:
    """Replace ``path`` with ``text`` (UTF-8) at once, through a temporary file created new.

    The temporary file gets a random name and is opened with O_EXCL and O_NOFOLLOW, so a
    file or symlink planted at a predictable temp path is never followed or reused; its
    ``mode`` is masked by the umask (0o666: like any new file; 0o600: owner only).
    os.replace then swaps the name itself (a symlink at ``path`` is replaced, not followed).
    """
    path = Path(path)
    fd, tmp = _new_temp_file(path, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _new_temp_file(path: Path, mode: int) -> tuple[int, Path]:
    """(an fd, its path): a file made new beside ``path``, named ``.<stem>-<random>.tmp``."""
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_BINARY", 0))
    for _ in range(16):
        tmp = path.with_name(f".{path.stem}-{secrets.token_hex(8)}.tmp")
        try:
            return os.open(tmp, flags, mode), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"Could not create a temporary file beside {path}: every name tried "
                          "already exists.")


def token_source() -> tuple[str | None, str]:
    """(token, where it came from) — where is 'environment', 'config' or 'none'."""
    for name in TOKEN_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            return value, "environment"
    value = str(read_config().get("api_token") or "").strip()
    return (value, "config") if value else (None, "none")


def api_token() -> str:
    token, source = token_source()
    if not token:
        raise ConfigError(NO_TOKEN)
    problem = token_problem(token)
    if problem:
        where = next((n for n in TOKEN_ENV if os.environ.get(n, "").strip()), "") \
            if source == "environment" else "the token saved in Settings → RunComfy"
        raise ConfigError(f"{where}: {problem} Nothing was sent.")
    return token


def token_problem(token: str) -> str | None:
    """Why this string cannot be a token (None: fine).  The message never quotes it."""
    if len(token) > MAX_TOKEN:
        return f"That is not an API token: it is longer than {MAX_TOKEN} characters."
    if not all(0x21 <= ord(c) <= 0x7e for c in token):
        return ("That is not an API token: it contains spaces, line breaks, control or "
                "non-ASCII characters, which cannot be sent in an HTTP header. Copy the key "
                "again from runcomfy.com.")
    if len(token) < MIN_TOKEN:
        return f"That is not an API token: it is shorter than {MIN_TOKEN} characters."
    return None


def set_token(token: str | None) -> None:
    """Save (or with None/"" clear) the token; a string that cannot be one is refused."""
    data = read_config()
    if token:
        problem = token_problem(token.strip())
        if problem:
            raise ConfigError(problem)
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


def queue_timeout_s() -> float:
    """Longest a job may wait in RunComfy's queue before it is cancelled (not billed):
    RUNCOMFY_QUEUE_TIMEOUT_MIN, default 120."""
    return _env_number("RUNCOMFY_QUEUE_TIMEOUT_MIN", 120) * 60


GB = 1024 ** 3


def _env_number(name: str, default: float) -> float:
    """A positive number from the environment, else from the config file (the same name
    without ``RUNCOMFY_``, lower case, as ``timeout_min``), else ``default``."""
    raw = os.environ.get(name, "").strip() or str(read_config().get(name.lower().replace("runcomfy_", ""), ""))
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if value > 0 and value == value and value != float("inf") else default


LIMIT_ENV = "RUNCOMFY_DAILY_LIMIT_USD"


def daily_limit() -> tuple[float | None, str]:
    """(the daily spend limit in USD or None, where it is set: 'environment' or 'settings').
    The environment wins over Settings → RunComfy; an unreadable value is an error, never
    silently no limit."""
    raw = os.environ.get(LIMIT_ENV, "").strip()
    source = "environment"
    if not raw:
        raw, source = str(read_config().get("daily_limit_usd") or "").strip(), "settings"
    if not raw:
        return None, ""
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (value >= 0 and value != float("inf")):
        where = LIMIT_ENV if source == "environment" else "Settings → RunComfy → daily limit"
        raise ConfigError(f"{where} is {raw!r}, not an amount of US dollars (e.g. 5 or 12.50). "
                          "Fix or clear it; nothing was sent.")
    return value, source


def set_daily_limit(value: float | None) -> None:
    data = read_config()
    if value is None:
        data.pop("daily_limit_usd", None)
    else:
        data["daily_limit_usd"] = float(value)
    write_config(data)


def result_memory_budget() -> int:
    """Bytes one decoded result (frames or an image batch) may take: RUNCOMFY_MAX_RESULT_GB,
    else half the machine's memory (8 GiB when it cannot be read)."""
    from .remote.process import total_memory
    machine = total_memory()
    default = machine / 2 / GB if machine else 8.0
    return int(_env_number("RUNCOMFY_MAX_RESULT_GB", default) * GB)


def max_image_pixels() -> int:
    """Pixels one result image may have: RUNCOMFY_MAX_IMAGE_MP megapixels, default 100."""
    return int(_env_number("RUNCOMFY_MAX_IMAGE_MP", 100.0) * 1_000_000)


def max_concurrent_jobs() -> int:
    """How many RunComfy jobs run at once in this process: RUNCOMFY_MAX_CONCURRENT_JOBS,
    default 16 (never tied to the number of cores: a waiting job uses no CPU)."""
    return max(1, min(256, int(_env_number("RUNCOMFY_MAX_CONCURRENT_JOBS", 16))))
