"""Shared fixtures: a running simulator, a client for it, an isolated user folder, the
runtime a test runs the pack on (its own folders; nothing shared between tests), and a real
PostgreSQL server with a fresh database per test."""
import itertools
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nodes.app.plain_host import PlainHost  # noqa: E402
from nodes.app.runtime import Runtime  # noqa: E402
from nodes.core.clock import Clock  # noqa: E402
from nodes.comfy.registry import build_mappings  # noqa: E402
from nodes.remote.client import RunComfyClient  # noqa: E402
from nodes.remote.transport import RetryPolicy  # noqa: E402
from simulator import Simulator  # noqa: E402
from tools.postgres import TempPostgres  # noqa: E402

FAST = RetryPolicy(base_delay=0.01, max_delay=0.05, max_retry_after=0.2)
SCALE = 20.0      # simulated seconds per real second: the simulator's jobs and the pack's waits


@pytest.fixture
def clock():
    """The time a test's simulator and pack share: a job of 3 simulated seconds polled every
    simulated second takes 0.3 real seconds, and every interval keeps its meaning."""
    return Clock(SCALE)


@pytest.fixture
def sim(clock):
    """A simulator with short jobs and small outputs (320 px, fast to encode)."""
    s = Simulator("test-token", queue_s=0.2, run_s=0.4, max_side=320, clock=clock).start()
    yield s
    s.stop()


@pytest.fixture
def client(sim, clock):
    return RunComfyClient(sim.base_url, sim.token, policy=FAST, timeout=(2, 5), clock=clock)


@pytest.fixture(autouse=True)
def user_dirs(tmp_path, monkeypatch):
    """Every test gets its own ComfyUI user and output folder, and no token from the machine."""
    monkeypatch.setenv("RUNCOMFY_USER_DIR", str(tmp_path / "user"))
    monkeypatch.setenv("RUNCOMFY_OUTPUT_DIR", str(tmp_path / "output"))
    for name in ("RUNCOMFY_API_TOKEN", "RUNCOMFY_API_KEY", "RUNCOMFY_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def rt(user_dirs, clock):
    """The runtime the test runs the pack on: its folders are the test's own, its time the
    simulator's."""
    return Runtime(PlainHost(), clock=clock, timeout=(2, 5))


@pytest.fixture
def fast_rt(user_dirs, clock):
    """A runtime whose API clients retry at once (FAST), for tests that count retries."""
    return Runtime(PlainHost(), clock=clock, policy=FAST, timeout=(2, 5))


@pytest.fixture
def env(sim, monkeypatch):
    """The simulator as the service: its address and token set as ComfyUI would have them."""
    monkeypatch.setenv("RUNCOMFY_BASE_URL", sim.base_url)
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", sim.token)
    return sim


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the session (tools/postgres.py), started when a test first
    needs it and removed at the end.  If it cannot start (not installed, say) the tests that
    need it error with the reason; they are never skipped."""
    pg = TempPostgres()
    try:
        yield pg.start()
    finally:
        pg.cleanup()


_databases = itertools.count(1)


@pytest.fixture
def pg_url(postgres):
    """A fresh, empty database of the test's own on ``postgres``, owned by the login role
    runcomfy (no superuser: it can make its own tables there, as a studio would allow), and
    its URL: postgresql://runcomfy:<password>@127.0.0.1:<port>/t_<n>.  Dropped afterwards
    unless a connection to it is still open."""
    name = f"t_{next(_databases)}"
    postgres.start()          # a test before may have stopped it
    yield postgres.create_database(name)
    postgres.drop_database(name)


def node_class(node_id: str, rt=None):
    """The node class ComfyUI gets for ``node_id`` (built on ``rt``, or a plain runtime)."""
    return build_mappings(rt or Runtime(PlainHost()))[0][node_id]
