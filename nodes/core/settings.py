"""Every setting of the pack, declared once (``SETTINGS``), and the config file they live in.

A setting is read from the environment first (``RUNCOMFY_…``), then from the pack's config
file ``<ComfyUI user>/runcomfy/config.json`` (its key is the environment name without
``RUNCOMFY_``, in lower case: ``daily_limit_usd``), else it takes its default.  Each has one
parser that says what a value means; a value it cannot read is an error naming the setting
and where it is set, never silently the default.  ``0`` and negative numbers: refused for
every amount of time, size or count; for the daily limit, ``0`` means "no paid jobs".

``Settings`` reads them for one user folder (the runtime holds one).  The config file is
written owner-only (0600) and may hold the token.  A config file that cannot be read (not
JSON, not an object, unreadable) is a ConfigFileError naming the file, the line and the
column: every setting read then fails, so no paid job is submitted while the daily limit it
may hold is unknown, and the pack never rewrites it.
"""
from __future__ import annotations

import getpass
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .dburl import journal_url, redacted
from .errors import ConfigError
from .files import write_private_json
from .parsers import DEFAULT_BASE_URL, api_url, dollars, job_count, name, positive, threshold
from .process import total_memory

TOKEN_ENV = ("RUNCOMFY_API_TOKEN", "RUNCOMFY_API_KEY")
LIMIT_ENV = "RUNCOMFY_DAILY_LIMIT_USD"
MEMBER_LIMIT_ENV = "RUNCOMFY_MEMBER_DAILY_LIMIT_USD"
CONFIRM_ENV = "RUNCOMFY_CONFIRM_ABOVE_USD"
JOURNAL_ENV = "RUNCOMFY_JOURNAL_URL"
MIN_TOKEN, MAX_TOKEN = 8, 1024
GB = 1024 ** 3
MiB = 1024 * 1024
NO_TOKEN = ("No RunComfy API token is set, so nothing was sent. Set it in ComfyUI's Settings → "
            "RunComfy, or set the environment variable RUNCOMFY_API_TOKEN before starting "
            "ComfyUI (create a key on runcomfy.com under Profile → API keys).")


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


# -- the table ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    env: str                         # environment variable; the config key derives from it
    parse: Callable[[str], object]   # text → value (ValueError: "not a number", "which must …")
    default: object                  # a value, or a callable giving it
    unit: str                        # how the README and messages name its value
    what: str                        # the README's sentence
    shown: bool = False              # also set in Settings → RunComfy (the page lists these)
    default_text: str = ""           # how the README says the default, when not the value itself
    label: str = ""                  # its name on the Settings page
    clear_label: str = "Default"     # the page's button that clears it
    numeric: bool = True             # the page takes it as a number (else as text)
    redact: Callable[[str], str] | None = None   # how the page shows it (it holds a secret)

    @property
    def key(self) -> str:
        return self.env.lower().replace("runcomfy_", "", 1)

    def default_shown(self) -> str:
        if self.default_text or self.default is None:
            return self.default_text or "none"
        return f"`{self.default}`" if isinstance(self.default, str) else f"{self.default:g}"


def _machine() -> str:
    return socket.gethostname() or "this machine"


def _member() -> str:
    try:
        user = getpass.getuser()
    except (OSError, KeyError):            # no user name (some containers)
        user = "someone"
    return f"{user}@{_machine()}"


def _half_memory_gb() -> float:
    machine = total_memory()
    return machine / 2 / GB if machine else 8.0


SETTINGS: tuple[Setting, ...] = (
    Setting(LIMIT_ENV, dollars, None, "USD",
            "refuse, before submitting, a job that would take today's spend past this; 0 means no "
            "paid jobs at all (reused results still load)", shown=True,
            label="Daily spend limit (USD)", clear_label="No limit"),
    Setting(CONFIRM_ENV, threshold, 5.0, "USD",
            "before a Queue whose RunComfy jobs together are estimated at this or more, ask (the "
            "total, the nodes it comes from, today's spend); 0 asks before every paid Queue, "
            "`never` never asks", shown=True, label="Ask before a Queue costing at least (USD)",
            clear_label="Default ($5)", numeric=False),
    Setting("RUNCOMFY_MAX_CONCURRENT_JOBS", job_count, 16, "jobs",
            "jobs one ComfyUI runs at once (list items, several nodes): 1 to 256"),
    Setting("RUNCOMFY_BASE_URL", api_url, DEFAULT_BASE_URL, "address", "the API", numeric=False),
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
    Setting(JOURNAL_ENV, journal_url, None, "address",
            "a PostgreSQL database holding one journal and one budget for a team's ComfyUIs "
            "(see Teams and render farms in the README); unset: this machine's sqlite journal",
            shown=True, label="Team journal (PostgreSQL URL)", clear_label="This machine only",
            numeric=False, redact=redacted, default_text="none"),
    Setting("RUNCOMFY_MEMBER", name, _member, "name",
            "who runs this ComfyUI's jobs, as the team's journal records and shows them", shown=True,
            label="Your name in the team", numeric=False, default_text="user@host"),
    Setting(MEMBER_LIMIT_ENV, dollars, None, "USD",
            "with a team journal: refuse, before submitting, a job that would take this member's "
            "spend today past this", shown=True, label="Your daily limit in the team (USD)",
            clear_label="No limit"),
    Setting("RUNCOMFY_MACHINE", name, _machine, "name",
            "this machine's name in a team's journal (set it where host names change, e.g. in "
            "containers); its downloads and claims are told apart by it", numeric=False,
            default_text="the host name"),
)
BY_ENV = {s.env: s for s in SETTINGS}
BY_KEY = {s.key: s for s in SETTINGS}


def markdown_table() -> str:
    """The README's table of settings, made from SETTINGS (a test keeps the README in step)."""
    rows = ["| environment | `config.json` key | in | default | what |", "|---|---|---|---|---|"]
    for st in SETTINGS:
        where = f"`{st.key}`" + (" (also Settings → RunComfy)" if st.shown else "")
        rows.append(f"| `{st.env}` | {where} | {st.unit} | {st.default_shown()} | {st.what} |")
    return "\n".join(rows) + "\n"



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


def env_token() -> tuple[str, str]:
    """(token, the variable it is in) from the environment, or ("", "")."""
    for name in TOKEN_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            return value, name
    return "", ""


LIMIT_PAGE = {LIMIT_ENV: "daily limit", MEMBER_LIMIT_ENV: "your daily limit in the team"}


def limit_place(source: str, env: str = LIMIT_ENV) -> str:
    """How a refusal names where a daily limit is set."""
    return env if source == "environment" else f"Settings → RunComfy → {LIMIT_PAGE[env]}"


class Settings:
    """The settings of one user folder (``folder``: a path, or a callable giving it when
    first needed, so a host that cannot name its folders fails a job, not the start)."""

    def __init__(self, folder: "Path | Callable[[], Path]"):
        self._folder = folder

    @property
    def config_path(self) -> Path:
        folder = self._folder() if callable(self._folder) else self._folder
        return Path(folder) / "config.json"

    # -- the file --------------------------------------------------------------------------
    def read_config(self) -> dict:
        """The config file's contents; {} when there is none.  Raises ConfigFileError otherwise."""
        path = self.config_path
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

    def problem(self) -> str:
        """What is wrong with the config file ('' when it is fine or absent)."""
        try:
            self.read_config()
            return ""
        except ConfigFileError as e:
            return str(e)

    def update(self, **changes) -> None:
        """Set (or with None remove) keys of the config file; a file that cannot be read is
        never rewritten (ConfigFileError)."""
        data = self.read_config()
        for key, value in changes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        write_private_json(self.config_path, data)

    # -- the table -------------------------------------------------------------------------
    def where_set(self, setting: Setting, source: str) -> str:
        """How a message names the place a setting's value came from."""
        if source == "environment":
            return setting.env
        page = " (Settings → RunComfy)" if setting.shown else ""
        return f"'{setting.key}' in {self.config_path}{page}"

    def lookup(self, setting: Setting) -> tuple[object, str]:
        """(value, source) — source is 'environment', 'settings' (the config file) or 'default'.
        Raises ConfigError naming the setting, its value and what is allowed."""
        raw, source = os.environ.get(setting.env, "").strip(), "environment"
        if not raw:
            saved = self.read_config().get(setting.key)
            raw, source = ("" if saved is None else str(saved).strip()), "settings"
        if not raw:
            default = setting.default() if callable(setting.default) else setting.default
            return default, "default"
        try:
            return setting.parse(raw), source
        except ValueError as e:
            shown = "set" if setting.redact else f"{raw[:40]!r}"    # a secret is never quoted
            raise ConfigError(f"{self.where_set(setting, source)} is {shown}, {e} "
                              f"({setting.unit}). Fix or clear it; nothing was sent.") from None

    def value(self, env: str):
        return self.lookup(BY_ENV[env])[0]

    def check(self) -> None:
        """Every setting a job uses, read once: raises on the first that cannot be used, so a
        bad value (or an unreadable config file) is found before anything is submitted."""
        self.read_config()
        for setting in SETTINGS:
            self.lookup(setting)

    # -- the token (apart from the table: it is never shown, logged or quoted) --------------
    def token_source(self) -> tuple[str | None, str]:
        """(token, where it came from) — where is 'environment', 'config' or 'none'."""
        token, _ = env_token()
        if token:
            return token, "environment"
        value = str(self.read_config().get("api_token") or "").strip()
        return (value, "config") if value else (None, "none")

    def api_token(self) -> str:
        token, source = self.token_source()
        if not token:
            raise ConfigError(NO_TOKEN)
        problem = token_problem(token)
        if problem:
            where = env_token()[1] if source == "environment" else "the token saved in Settings → RunComfy"
            raise ConfigError(f"{where}: {problem} Nothing was sent.")
        return token

    def set_token(self, token: str | None) -> None:
        """Save (or with None/"" clear) the token; a string that cannot be one is refused."""
        if token:
            problem = token_problem(token.strip())
            if problem:
                raise ConfigError(problem)
        self.update(api_token=token.strip() if token else None)

    # -- what the rest of the pack reads -----------------------------------------------------
    def base_url(self) -> str:
        return self.value("RUNCOMFY_BASE_URL")

    def run_timeout_s(self) -> float:
        return self.value("RUNCOMFY_TIMEOUT_MIN") * 60

    def queue_timeout_s(self) -> float:
        return self.value("RUNCOMFY_QUEUE_TIMEOUT_MIN") * 60

    def max_download_bytes(self) -> int:
        return int(self.value("RUNCOMFY_MAX_DOWNLOAD_MB") * MiB)

    def download_deadline_s(self) -> float:
        return self.value("RUNCOMFY_DOWNLOAD_TIMEOUT_MIN") * 60

    def daily_limit(self) -> tuple[float | None, str]:
        """(the daily spend limit in USD or None, where it is set: 'environment' or 'settings').
        0 is a limit: no paid jobs.  An unreadable value is an error, never silently no limit."""
        value, source = self.lookup(BY_ENV[LIMIT_ENV])
        return (None, "") if value is None else (value, source)

    def member_limit(self) -> tuple[float | None, str]:
        """(this member's daily limit in a team, where it is set), as daily_limit."""
        value, source = self.lookup(BY_ENV[MEMBER_LIMIT_ENV])
        return (None, "") if value is None else (value, source)

    def confirm_above(self) -> float | None:
        """Ask before a Queue estimated at this many USD or more (None: never ask)."""
        value = self.value(CONFIRM_ENV)
        return None if value == "never" else value

    def journal_url(self) -> str | None:
        """The team journal's PostgreSQL URL (None: this machine's sqlite journal).  It holds a
        password: never log, show or quote it (core/dburl.py names the database safely)."""
        return self.value(JOURNAL_ENV)

    def member(self) -> str:
        return self.value("RUNCOMFY_MEMBER")

    def machine(self) -> str:
        return self.value("RUNCOMFY_MACHINE")

    def set_daily_limit(self, value: float | None) -> None:
        self.update(daily_limit_usd=None if value is None else float(value))

    def view(self, setting: Setting) -> dict:
        """One setting as the Settings page shows it (never the token: it is not in the table)."""
        problem = self.problem()
        saved = None if problem else self.read_config().get(setting.key)
        try:
            value, source = self.lookup(setting)
        except ConfigError as e:
            value, source, problem = None, "", str(e)
        if setting.redact is not None:
            value = None if value is None else setting.redact(str(value))
            saved = None if saved is None else setting.redact(str(saved))
        return {"key": setting.key, "env_var": setting.env, "label": setting.label or setting.key,
                "unit": setting.unit, "what": setting.what, "clear_label": setting.clear_label,
                "numeric": setting.numeric, "secret": setting.redact is not None,
                "value": value, "source": source if value is not None else "", "saved": saved,
                "env_set": bool(os.environ.get(setting.env, "").strip()), "problem": problem}

    def save_shown(self, key: str, value) -> None:
        """Set (None or "": clear) a setting the page shows, parsed as when it is read: a value
        that cannot work is refused (ValueError saying what is allowed), never saved."""
        setting = BY_KEY.get(key)
        if setting is None or not setting.shown:
            raise ValueError(f"{key!r} is not a setting of this page")
        if value in (None, ""):
            self.update(**{key: None})
            return
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"{setting.label or key}: give a value in {setting.unit}, or null to clear it")
        parsed = setting.parse(str(value))
        self.update(**{key: parsed})

    def result_memory_budget(self) -> int:
        """Bytes decoded results (frames or an image batch) may take: RUNCOMFY_MAX_RESULT_GB."""
        return int(self.value("RUNCOMFY_MAX_RESULT_GB") * GB)

    def max_image_pixels(self) -> int:
        """Pixels one result image may have: RUNCOMFY_MAX_IMAGE_MP megapixels."""
        return int(self.value("RUNCOMFY_MAX_IMAGE_MP") * 1_000_000)

    def max_concurrent_jobs(self) -> int:
        """How many RunComfy jobs run at once in this process (never tied to the number of
        cores: a waiting job uses no CPU)."""
        return self.value("RUNCOMFY_MAX_CONCURRENT_JOBS")
