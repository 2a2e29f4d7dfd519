"""The pack's host when no program hosts it (tests, the demo, the catalog tool).

Folders: the ones given, else RUNCOMFY_USER_DIR / RUNCOMFY_OUTPUT_DIR, else under the home
folder and the temp folder.  Status goes to the log, Cancel is never pressed, and a VIDEO is
the plain stand-in (results/local_video.py).  ComfyUI's host (comfy/host.py) builds on it.
"""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from ..core.errors import Interrupted

log = logging.getLogger("runcomfy")


class PlainHost:
    def __init__(self, user_dir=None, output_dir=None):
        self._user_dir, self._output_dir = user_dir, output_dir

    def user_dir(self) -> Path:
        env = self._user_dir or os.environ.get("RUNCOMFY_USER_DIR")
        return Path(env) if env else Path(os.path.expanduser("~")) / ".config" / "comfyui-runcomfy"

    def output_dir(self) -> Path:
        env = self._output_dir or os.environ.get("RUNCOMFY_OUTPUT_DIR")
        return Path(env) if env else Path(tempfile.gettempdir()) / "runcomfy-output"

    def interrupted(self) -> bool:
        return False

    def raise_interrupt(self) -> None:
        raise Interrupted()

    def show_status(self, node_id, text: str, notes=()) -> None:
        log.info("%s", text)

    def show_progress(self, node_id, value: float, total: float) -> None:
        pass

    def video_from_file(self, path):
        from ..results.local_video import LocalVideo     # deferred: PyAV loads on first use
        return LocalVideo(path)


# -- the folder the command-line tools use ---------------------------------------------------
PACK_ROOT = Path(__file__).resolve().parents[2]


def comfyui_user_dir(pack_root: Path | None = None) -> Path | None:
    """``<ComfyUI>/user/runcomfy`` when the pack sits in ``<ComfyUI>/custom_nodes/<pack>``
    (where ComfyUI's ``folder_paths.get_user_directory()`` is, unless started with
    ``--user-directory``; then give ``--user-dir``)."""
    comfy = Path(pack_root or PACK_ROOT).resolve().parent.parent
    if (comfy / "main.py").is_file() and (comfy / "custom_nodes").is_dir():
        return comfy / "user" / "runcomfy"
    return None


def cli_user_dir(given: str | None) -> Path:
    """--user-dir, else RUNCOMFY_USER_DIR (ComfyUI honours it too), else the ComfyUI user
    folder next to the pack, else the plain host's folder.  A --user-dir
    that is ComfyUI's own user folder (what ComfyUI's --user-directory names: it holds
    ``default/`` or ``runcomfy/``) means its ``runcomfy`` subfolder, where the pack reads."""
    if given:
        folder = Path(given).expanduser()
        looks_like_comfyui_user = (folder / "runcomfy").is_dir() or (folder / "default").is_dir()
        return folder / "runcomfy" if folder.name != "runcomfy" and looks_like_comfyui_user else folder
    return PlainHost().user_dir() if os.environ.get("RUNCOMFY_USER_DIR") else \
        comfyui_user_dir() or PlainHost().user_dir()
