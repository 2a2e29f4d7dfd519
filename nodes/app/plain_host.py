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
