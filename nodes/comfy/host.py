"""Everything that touches ComfyUI internals lives here: ComfyUI as the pack's host (core/host.py).

``ComfyHost`` is ComfyUI: its user and output folders, live text and the progress bar on a
node, the Cancel button and ComfyUI's own VIDEO type, each call with the plain host's
behaviour (app/plain_host.py) as its fallback where a fallback is safe.  The folders are not:
inside ComfyUI, a user folder ComfyUI cannot name is an error (HostError), never another
folder, because the journal that keeps jobs from being paid twice lives there.

The rest of the pack receives a host and never imports ComfyUI, so it runs and is tested
without ComfyUI installed.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from ..app.plain_host import PlainHost
from ..core.host import HostError

log = logging.getLogger("runcomfy")


class ComfyHost(PlainHost):
    """The pack inside ComfyUI (``RUNCOMFY_USER_DIR`` / ``RUNCOMFY_OUTPUT_DIR`` still win)."""

    def user_dir(self) -> Path:
        env = os.environ.get("RUNCOMFY_USER_DIR")
        if env:
            return Path(env)
        try:
            import folder_paths  # ComfyUI's module
            return Path(folder_paths.get_user_directory()) / "runcomfy"
        except Exception as e:  # noqa: BLE001 - any failure: no journal may be guessed
            raise HostError(f"ComfyUI's user folder cannot be read ({type(e).__name__}: {e}), so the "
                            "RunComfy journal cannot be found and no paid job is run (a journal "
                            "kept elsewhere could pay twice for the same inputs). Set "
                            "RUNCOMFY_USER_DIR, or check ComfyUI's --user-directory.") from None

    def output_dir(self) -> Path:
        env = os.environ.get("RUNCOMFY_OUTPUT_DIR")
        if env:
            return Path(env)
        try:
            import folder_paths
            return Path(folder_paths.get_output_directory())
        except Exception as e:  # noqa: BLE001
            raise HostError(f"ComfyUI's output folder cannot be read ({type(e).__name__}: {e}); set "
                            "RUNCOMFY_OUTPUT_DIR or check ComfyUI's --output-directory.") from None

    def interrupted(self) -> bool:
        try:
            import comfy.model_management as mm
            return bool(mm.processing_interrupted())
        except Exception:
            return False

    def raise_interrupt(self) -> None:
        """Raise the exception ComfyUI treats as a clean interrupt."""
        try:
            import comfy.model_management as mm
            exc = mm.InterruptProcessingException
        except Exception:
            return super().raise_interrupt()
        raise exc()

    def show_status(self, node_id, text: str, notes=()) -> None:
        server = prompt_server()
        if server is not None and node_id is not None:
            try:
                server.send_progress_text("\n".join([text, *notes]), node_id)
                return
            except Exception:
                pass
        log.info("%s", text)

    def show_progress(self, node_id, value: float, total: float) -> None:
        if prompt_server() is None or node_id is None:
            return
        try:
            import comfy.utils
            hook = comfy.utils.PROGRESS_BAR_HOOK
            if hook is not None:   # hook(value, total, preview, prompt_id=None, node_id=None)
                hook(value, total, None, node_id=node_id)
        except Exception:
            pass
        except BaseException as exc:
            # On Cancel the hook raises ComfyUI's interrupt (a BaseException) in this worker
            # thread *and clears the flag*.  Raised here it would abort a paid download, and the
            # cleared flag would hide the Cancel from every other waiting job: re-arm it instead;
            # the job's own polling turns it into the interrupt in one place (app/waiting.py).
            if not _rearm_interrupt(exc):
                raise

    def video_from_file(self, path):
        """ComfyUI's native VIDEO object for a file (the plain stand-in if it cannot be made)."""
        try:
            from comfy_api.latest import InputImpl
            return InputImpl.VideoFromFile(str(path))
        except Exception:
            return super().video_from_file(path)


def _rearm_interrupt(exc: BaseException) -> bool:
    try:
        import comfy.model_management as mm
        if isinstance(exc, mm.InterruptProcessingException):
            mm.interrupt_current_processing(True)
            return True
    except Exception:
        pass
    return False


def prompt_server():
    try:
        from server import PromptServer
        return PromptServer.instance
    except Exception:
        return None


def in_comfyui() -> bool:
    """True when the pack runs inside ComfyUI (its server exists)."""
    return prompt_server() is not None


def add_routes(register) -> bool:
    """Let ``register(routes)`` add the pack's HTTP routes to ComfyUI's server.

    ComfyUI creates PromptServer before loading custom nodes and copies ``routes`` into
    its app (also under /api) afterwards, so this works at import time.  False outside it.
    """
    routes = getattr(prompt_server(), "routes", None)
    if routes is None:
        return False
    try:
        register(routes)
        return True
    except Exception:
        log.warning("RunComfy: could not add the pack's HTTP routes (Settings token, jobs "
                    "panel); set RUNCOMFY_API_TOKEN instead.", exc_info=True)
        return False


def existing_node_ids() -> set[str]:
    """Node ids ComfyUI (core and the packs loaded before this one) already has; empty
    outside ComfyUI.  ComfyUI's own module is ``nodes`` too: only its mappings count."""
    try:
        import folder_paths  # noqa: F401 - only inside ComfyUI
        import importlib
        core = importlib.import_module("nodes")
        mappings = getattr(core, "NODE_CLASS_MAPPINGS", None)
        return set(mappings) if isinstance(mappings, dict) else set()
    except Exception:
        return set()


def register_nodes(classes: dict, names: dict, like: type | None) -> bool:
    """Add (or replace) node classes in ComfyUI while it runs, as this pack's nodes: ComfyUI
    names the pack as their source (``RELATIVE_PYTHON_MODULE``, copied from ``like``, a class
    it loaded from the pack at start).  False outside ComfyUI."""
    if prompt_server() is None:
        return False
    try:
        import importlib
        core = importlib.import_module("nodes")        # ComfyUI's own module
        module = getattr(like, "RELATIVE_PYTHON_MODULE", None)
        for node_id, cls in classes.items():
            if module:
                cls.RELATIVE_PYTHON_MODULE = module
            core.NODE_CLASS_MAPPINGS[node_id] = cls
        core.NODE_DISPLAY_NAME_MAPPINGS.update(names)
        return True
    except Exception:  # noqa: BLE001 - a failure here must not stop a refresh or a job
        log.warning("RunComfy: could not add the catalog's new nodes to ComfyUI", exc_info=True)
        return False


def send_event(event: str, data: dict) -> None:
    """A message to every open ComfyUI page (the web extension listens)."""
    server = prompt_server()
    if server is None:
        return
    try:
        server.send_sync(event, data)
    except Exception:  # noqa: BLE001
        log.warning("RunComfy: could not tell the open pages about %s", event, exc_info=True)
