"""What the pack needs from the program it runs in (ComfyUI, or nothing), as an interface.

The layers below the ComfyUI adapter receive a ``Host`` and never import ComfyUI: its
folders, live status on a node, the progress bar, the Cancel button and ComfyUI's own VIDEO
type.  ``nodes/comfy/host.py`` has the two implementations: ComfyUI's (each call with a
plain fallback) and the plain one (tests, the demo, the catalog tool).
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

from .errors import ConfigError


class HostError(ConfigError):
    """The host cannot say where the user's folders are: nothing paid may run then (the
    journal that keeps jobs from being paid twice lives there)."""


class Host(Protocol):
    def user_dir(self) -> Path:
        """<ComfyUI user>/runcomfy: config, journal, price cache, user model files."""

    def output_dir(self) -> Path:
        """ComfyUI's output folder (results are saved in its runcomfy/ subfolder)."""

    def interrupted(self) -> bool:
        """True once the user pressed Cancel."""

    def raise_interrupt(self) -> None:
        """Raise what the host treats as a clean interrupt."""

    def show_status(self, node_id, text: str, notes=()) -> None:
        """Live text on a node (with standing notes under it)."""

    def show_progress(self, node_id, value: float, total: float) -> None:
        """The node's progress bar."""

    def video_from_file(self, path):
        """The host's own VIDEO value for a file."""
