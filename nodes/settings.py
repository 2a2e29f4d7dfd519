"""Every setting of the pack, declared once (``SETTINGS``), and the config file they live in.

A setting is read from the environment first (``RUNCOMFY_…``), then from the pack's config
file ``<ComfyUI user>/runcomfy/config.json`` (its key is the environment name without
``RUNCOMFY_``, in lower case: ``daily_limit_usd``), else it takes its default.  Each has one
parser that says what a value means; a value it cannot read is an error naming the setting
and where it is set, never silently the default.  ``0`` and negative numbers: refused for
every amount of time, size or count; for the daily limit, ``0`` means "no paid jobs".

The config file is written owner-only (0600) and may hold the token.  A config file that
cannot be read (not JSON, not an object, unreadable) is a ConfigFileError naming the file,
the line and the column: every setting read then fails, so no paid job is submitted while
the daily limit it may hold is unknown, and the pack never rewrites it.
"""
from __future__ import annotations

import json
import math
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .comfy import host
from .errors import ConfigError

DEFAULT_BASE_URL = "https://model-api.runcomfy.net"
TOKEN_ENV = ("RUNCOMFY_API_TOKEN", "RUNCOMFY_API_KEY")
LIMIT_ENV = "RUNCOMFY_DAILY_LIMIT_USD"
MIN_TOKEN, MAX_TOKEN = 8, 1024
GB = 1024 ** 3
MiB = 1024 * 1024
NO_TOKEN = ("No RunComfy API token is set, so nothing was sent. Set it in ComfyUI's Settings → "
            "RunComfy, or set the environment variable RUNCOMFY_API_TOKEN before starting "
            "ComfyUI (create a key on runcomfy.com under Profile → API keys).")


# -- the config file ----------------------------------------------------------------------------
class ConfigFileError(ConfigError):
    """The config file exists but cannot be read.  ``line``/``column`` where JSON parsing stopped."""

    def __init__(self, path: Path, reason: str, line: int | None = None, column: int | None = None):
        self.path, self.reason, self.line, self.column = Path(path), reason, line, column
        where = f" at line {line}, column {column}" if line is not None else ""
        super().__init__(
            f"The RunComfy config file {path} cannot be read: {reason}{where}. Fix it by hand (it "
            "is JSON: a trailing comma or a missing quote is the usual cause), or delete it and set "
            "the token and daily limit again in Settings → RunComfy. Until then no paid job is "
            "submitted (the daily limit may be in it), and the pack does not rewrite the file.")


def config_path() -> Path:
    return host.user_dir() / "config.json"


def read_config() -> dict:
    """The config file's contents; {} when there is none.  Raises ConfigFileError otherwise."""
    path = config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigFileError(path, getattr(e, "strerror", None) or str(e)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigFileError(path, f"it is not valid JSON ({e.msg})", e.lineno, e.colno) from None
    except RecursionError:
        raise ConfigFileError(path, "it is nested too deeply to be a settings file") from None
    if not isinstance(data, dict):
        raise ConfigFileError(path, f"it holds a JSON {type(data).__name__}, not an object "
                                    "({\"key\": value, …})")
    return data


def config_problem() -> str:
    """What is wrong with the config file ('' when it is fine or absent)."""
    try:
        read_config()
        return ""
    except ConfigFileError as e:
        return str(e)


def update_config(**changes) -> None:
    """Set (or with None remove) keys of the config file; a file that cannot be read is
    never rewritten (ConfigFileError)."""
    data = read_config()
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
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


# -- parsers: text as typed → the value, or ValueError saying what is allowed -------------------
def positive(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise ValueError("which must be more than 0")
    return value


def dollars(text: str) -> float:
    try:
        value = _number(text)
    except ValueError:
        raise ValueError("not an amount of US dollars (e.g. 5 or 12.50)") from None
    if value < 0:
        raise ValueError("which must be 0 (no paid jobs) or more")
    return value


def job_count(text: str) -> int:
    value = _number(text)
    if value != int(value) or not 1 <= value <= 256:
        raise ValueError("which must be a whole number from 1 to 256")
    return int(value)


def api_url(text: str) -> str:
    if not text.lower().startswith(("https://", "http://")) or len(text) > 2000:
        raise ValueError("which must be an http(s):// address such as " + DEFAULT_BASE_URL)
    return text.rstrip("/")


def _number(text: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError("not a number") from None
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


# -- the table ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    env: str                         # environment variable; the config key derives from it
    parse: Callable[[str], object]   # text → value (ValueError: "not a number", "which must …")
    default: object                  # a value, or a callable giving it
    unit: str                        # how the README and messages name its value
    what: str                        # the README's sentence
    shown: bool = False              # also set in Settings → RunComfy
    default_text: str = ""           # how the README says the default, when not the value itself

    @property
    def key(self) -> str:
        return self.env.lower().replace("runcomfy_", "", 1)

    def default_shown(self) -> str:
        if self.default_text or self.default is None:
            return self.default_text or "none"
        return f"`{self.default}`" if isinstance(self.default, str) else f"{self.default:g}"


def _half_memory_gb() -> float:
    from .remote.process import total_memory
    machine = total_memory()
    return machine / 2 / GB if machine else 8.0


SETTINGS: tuple[Setting, ...] = (
    Setting(LIMIT_ENV, dollars, None, "USD",
            "refuse, before submitting, a job that would take today's spend past this; 0 means no "
            "paid jobs at all (reused results still load)", shown=True),
    Setting("RUNCOMFY_MAX_CONCURRENT_JOBS", job_count, 16, "jobs",
            "jobs one ComfyUI runs at once (list items, several nodes): 1 to 256"),
    Setting("RUNCOMFY_BASE_URL", api_url, DEFAULT_BASE_URL, "address", "the API"),
    Setting("RUNCOMFY_TIMEOUT_MIN", positive, 30.0, "minutes",
            "longest a job may *run* (queue time not counted)"),
    Setting("RUNCOMFY_QUEUE_TIMEOUT_MIN", positive, 120.0, "minutes",
            "longest a job may wait in RunComfy's queue; then it is cancelled (a queued job is not "
            "billed). If RunComfy will not cancel it, the node waits as long again, then stops "
            "waiting (the job can still be fetched later)"),
    Setting("RUNCOMFY_MAX_DOWNLOAD_MB", positive, 1024.0, "MB", "largest result file"),
    Setting("RUNCOMFY_DOWNLOAD_TIMEOUT_MIN", positive, 30.0, "minutes",
            "longest a download may take"),
    Setting("RUNCOMFY_MAX_RESULT_GB", positive, _half_memory_gb, "GB",
            "memory decoded results may take (one result, or all items of a list)",
            default_text="half the machine's memory"),
    Setting("RUNCOMFY_MAX_IMAGE_MP", positive, 100.0, "megapixels", "pixels of one result image"),
)
BY_ENV = {s.env: s for s in SETTINGS}


def markdown_table() -> str:
    """The README's table of settings, made from SETTINGS (a test keeps the README in step)."""
    rows = ["| environment | `config.json` key | in | default | what |", "|---|---|---|---|---|"]
    for st in SETTINGS:
        where = f"`{st.key}`" + (" (also Settings → RunComfy)" if st.shown else "")
        rows.append(f"| `{st.env}` | {where} | {st.unit} | {st.default_shown()} | {st.what} |")
    return "\n".join(rows) + "\n"


def where_set(setting: Setting, source: str) -> str:
    """How a message names the place a setting's value came from."""
    if source == "environment":
        return setting.env
    page = " (Settings → RunComfy)" if setting.shown else ""
    return f"'{setting.key}' in {config_path()}{page}"


def lookup(setting: Setting) -> tuple[object, str]:
    """(value, source) — source is 'environment', 'settings' (the config file) or 'default'.
    Raises ConfigError naming the setting, its value and what is allowed."""
    raw, source = os.environ.get(setting.env, "").strip(), "environment"
    if not raw:
        saved = read_config().get(setting.key)
        raw, source = ("" if saved is None else str(saved).strip()), "settings"
    if not raw:
        default = setting.default() if callable(setting.default) else setting.default
        return default, "default"
    try:
        return setting.parse(raw), source
    except ValueError as e:
        raise ConfigError(f"{where_set(setting, source)} is {raw[:40]!r}, {e} ({setting.unit}). "
                          "Fix or clear it; nothing was sent.") from None


def value_of(env: str):
    return lookup(BY_ENV[env])[0]


def check() -> None:
    """Every setting a job uses, read once: raises on the first that cannot be used, so a bad
    value (or an unreadable config file) is found before anything is submitted."""
    read_config()
    for setting in SETTINGS:
        lookup(setting)


# -- the token (kept apart from the table: it is never shown, logged or quoted) -------------------
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
    if token:
        problem = token_problem(token.strip())
        if problem:
            raise ConfigError(problem)
    update_config(api_token=token.strip() if token else None)


# -- what the rest of the pack reads ---------------------------------------------------------------
def base_url() -> str:
    return value_of("RUNCOMFY_BASE_URL")


def run_timeout_s() -> float:
    return value_of("RUNCOMFY_TIMEOUT_MIN") * 60


def queue_timeout_s() -> float:
    return value_of("RUNCOMFY_QUEUE_TIMEOUT_MIN") * 60


def max_download_bytes() -> int:
    return int(value_of("RUNCOMFY_MAX_DOWNLOAD_MB") * MiB)


def download_deadline_s() -> float:
    return value_of("RUNCOMFY_DOWNLOAD_TIMEOUT_MIN") * 60


def daily_limit() -> tuple[float | None, str]:
    """(the daily spend limit in USD or None, where it is set: 'environment' or 'settings').
    0 is a limit: no paid jobs.  An unreadable value is an error, never silently no limit."""
    value, source = lookup(BY_ENV[LIMIT_ENV])
    return (None, "") if value is None else (value, source)


def limit_place(source: str) -> str:
    """How a refusal names where the daily limit is set."""
    return LIMIT_ENV if source == "environment" else "Settings → RunComfy → daily limit"


def set_daily_limit(value: float | None) -> None:
    update_config(daily_limit_usd=None if value is None else float(value))


def result_memory_budget() -> int:
    """Bytes decoded results (frames or an image batch) may take: RUNCOMFY_MAX_RESULT_GB."""
    return int(value_of("RUNCOMFY_MAX_RESULT_GB") * GB)


def max_image_pixels() -> int:
    """Pixels one result image may have: RUNCOMFY_MAX_IMAGE_MP megapixels."""
    return int(value_of("RUNCOMFY_MAX_IMAGE_MP") * 1_000_000)


def max_concurrent_jobs() -> int:
    """How many RunComfy jobs run at once in this process (never tied to the number of
    cores: a waiting job uses no CPU)."""
    return value_of("RUNCOMFY_MAX_CONCURRENT_JOBS")
