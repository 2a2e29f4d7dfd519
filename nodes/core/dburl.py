"""A PostgreSQL journal URL (RUNCOMFY_JOURNAL_URL): checked, and shown without its password.

``postgresql://role:password@host:port/database?sslmode=require`` (``postgres://`` too).  The
password is a secret like the token: a message, a log line or a route names the database by
``where()`` (host, port, database) or shows ``redacted()``; only the driver sees the URL.
"""
from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

SCHEMES = ("postgresql", "postgres")
MASK = "•••"


def journal_url(text: str) -> str:
    """The settings parser: a PostgreSQL URL, or ValueError saying what is allowed."""
    parts = urlsplit(text.strip())
    if parts.scheme not in SCHEMES or not parts.hostname or len(text) > 2000:
        raise ValueError("which must be a PostgreSQL address such as "
                         "postgresql://role:password@host:5432/database")
    try:
        parts.port
    except ValueError:
        raise ValueError("its port is not a number from 1 to 65535") from None
    return text.strip()


def password_of(url: str) -> str:
    return unquote(urlsplit(url).password or "")


def where(url: str) -> str:
    """'host:port/database' — how messages name the database."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parts.port or 5432}/{parts.path.lstrip('/') or parts.username or '?'}"


def redacted(url: str) -> str:
    """The URL with its password masked (and nothing else changed)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


def scrubbed(text: str, url: str) -> str:
    """``text`` (a driver's message) with the URL's password and the URL itself masked."""
    secret = password_of(url)
    text = text.replace(url, redacted(url))
    return text.replace(secret, MASK) if len(secret) >= 1 else text
