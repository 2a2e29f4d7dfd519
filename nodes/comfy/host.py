"""Everything that touches ComfyUI internals lives here, each with a plain fallback.

The rest of the pack calls these functions and never imports ComfyUI itself, so the
pack (and its tests) run without ComfyUI installed.  Outside ComfyUI, folders come from
environment variables (RUNCOMFY_USER_DIR, RUNCOMFY_OUTPUT_DIR) or the system temp dir,
status goes to the log, and Cancel is never pressed.
"""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger("runcomfy")


def _folder_paths():
    try:
        import folder_paths  # ComfyUI's module
        return folder_paths
    except Exception:
        return None


def in_comfyui() -> bool:
    """True when the pack runs inside ComfyUI (its server exists)."""
    return _prompt_server() is not None


def user_dir() -> Path:
    """Where the pack keeps user data (config, journal, user models): <ComfyUI user>/runcomfy."""
    env = os.environ.get("RUNCOMFY_USER_DIR")
    if env:
        return Path(env)
    fp = _folder_paths()
    if fp is not None:
        return Path(fp.get_user_directory()) / "runcomfy"
    return Path(os.path.expanduser("~")) / ".config" / "comfyui-runcomfy"


def output_dir() -> Path:
    env = os.environ.get("RUNCOMFY_OUTPUT_DIR")
    if env:
        return Path(env)
    fp = _folder_paths()
    if fp is not None:
        return Path(fp.get_output_directory())
    return Path(tempfile.gettempdir()) / "runcomfy-output"


def interrupted() -> bool:
    """True when the user pressed ComfyUI's Cancel."""
    try:
        import comfy.model_management as mm
        return bool(mm.processing_interrupted())
    except Exception:
        return False


def raise_interrupt() -> None:
    """Raise the exception ComfyUI treats as a clean interrupt (or our own outside it)."""
    try:
        import comfy.model_management as mm
        exc = mm.InterruptProcessingException
    except Exception:
        from ..errors import Interrupted as exc
    raise exc()


def show_status(node_id, text: str, notes=()) -> None:
    """Live text on the node (with standing notes under it); outside ComfyUI, the log."""
    server = _prompt_server()
    if server is not None and node_id is not None:
        try:
            server.send_progress_text("\n".join([text, *notes]), node_id)
            return
        except Exception:
            pass
    log.info("%s", text)


def show_progress(node_id, value: float, total: float) -> None:
    server = _prompt_server()
    if server is None or node_id is None:
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
        # the job's own polling turns it into the interrupt in one place (service.wait).
        if not _rearm_interrupt(exc):
            raise


def _rearm_interrupt(exc: BaseException) -> bool:
    try:
        import comfy.model_management as mm
        if isinstance(exc, mm.InterruptProcessingException):
            mm.interrupt_current_processing(True)
            return True
    except Exception:
        pass
    return False


def _prompt_server():
    try:
        from server import PromptServer
        return PromptServer.instance
    except Exception:
        return None


def add_routes(register) -> bool:
    """Let ``register(routes)`` add the pack's HTTP routes to ComfyUI's server.

    ComfyUI creates PromptServer before loading custom nodes and copies ``routes`` into
    its app (also under /api) afterwards, so this works at import time.  False outside it.
    """
    routes = getattr(_prompt_server(), "routes", None)
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
    if _folder_paths() is None:
        return set()
    try:
        import importlib
        core = importlib.import_module("nodes")
        mappings = getattr(core, "NODE_CLASS_MAPPINGS", None)
        return set(mappings) if isinstance(mappings, dict) else set()
    except Exception:
        return set()


def video_from_file(path):
    """ComfyUI's native VIDEO object for a file; outside ComfyUI a plain stand-in with the
    same methods the pack uses (results/local_video.py)."""
    try:
        from comfy_api.latest import InputImpl
        return InputImpl.VideoFromFile(str(path))
    except Exception:
        from ..results.local_video import LocalVideo
        return LocalVideo(path)
