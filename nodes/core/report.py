"""How a job tells the user what happens: the interface every layer is handed.

The node's implementation (``nodes/comfy/status.py``) turns these calls into live status
text and a progress bar; ``Silent`` says nothing (background work).
"""
from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    def say(self, stage: str, text: str) -> None:
        """A change of stage ("submitting", "queued", "downloading" …) and its line of text."""

    def note(self, text: str) -> None:
        """A fact worth keeping under the status (an image resized, a job reused …)."""

    def event(self, e) -> None:
        """A job event (remote.job.Event) while it is submitted and polled."""

    def downloading(self, received: int, total: int | None) -> None:
        """Bytes of a result file received so far."""

    def decoding(self, done: int, total: int) -> None:
        """Frames of a result decoded so far."""

    def done(self, text: str) -> None:
        """The run's last line."""


class Silent:
    """A reporter for background work: says nothing."""

    def say(self, stage, text):
        pass

    def note(self, text):
        pass

    def event(self, e):
        pass

    def downloading(self, received, total):
        pass

    def decoding(self, done, total):
        pass

    def done(self, text):
        pass
