"""Shared fixtures: a running simulator, a client for it, and an isolated user folder."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nodes.remote.client import RunComfyClient  # noqa: E402
from nodes.remote.transport import RetryPolicy  # noqa: E402
from simulator import Simulator  # noqa: E402

FAST = RetryPolicy(base_delay=0.01, max_delay=0.05, max_retry_after=0.2)


@pytest.fixture
def sim():
    """A simulator with short jobs and small outputs (320 px, fast to encode)."""
    s = Simulator("test-token", queue_s=0.2, run_s=0.4, max_side=320).start()
    yield s
    s.stop()


@pytest.fixture
def client(sim):
    return RunComfyClient(sim.base_url, sim.token, policy=FAST, timeout=(2, 5))


@pytest.fixture(autouse=True)
def user_dirs(tmp_path, monkeypatch):
    """Every test gets its own ComfyUI user and output folder, and no token from the machine."""
    monkeypatch.setenv("RUNCOMFY_USER_DIR", str(tmp_path / "user"))
    monkeypatch.setenv("RUNCOMFY_OUTPUT_DIR", str(tmp_path / "output"))
    for name in ("RUNCOMFY_API_TOKEN", "RUNCOMFY_API_KEY", "RUNCOMFY_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path
