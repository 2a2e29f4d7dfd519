"""Files the pack writes in the user folder: replaced at once, never through a planted link."""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path


def write_private_json(path: Path, data) -> None:
    """Write a JSON file of the pack's user folder, readable by its owner only (the folder
    too): see write_atomic."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    write_atomic(path, json.dumps(data, indent=2), mode=0o600)


def write_atomic(path: Path, text: str | bytes, *, mode: int = 0o666) -> None:
    """Replace ``path`` with ``text`` (UTF-8; bytes as they are) at once, through a temporary
    file created new.

    The temporary file gets a random name and is opened with O_EXCL and O_NOFOLLOW, so a
    file or symlink planted at a predictable temp path is never followed or reused; its
    ``mode`` is masked by the umask (0o666: like any new file; 0o600: owner only).
    os.replace then swaps the name itself (a symlink at ``path`` is replaced, not followed).
    """
    path = Path(path)
    fd, tmp = _new_temp_file(path, mode)
    try:
        data = text.encode("utf-8") if isinstance(text, str) else text
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
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
