"""A RunComfy-compatible Model API on 127.0.0.1, for tests, benchmarks and the demo.

Implements submit, status, result, cancel and the catalog (see shared/PROTOCOL.md),
checks the Bearer token, validates bodies against the model schemas (422 with
`detail`), walks jobs through their timeline and serves real MP4 and PNG outputs.

Faults are switched on per run (``Simulator.fault(...)`` or ``--fault`` on the command
line) or per request: a prompt containing ``[sim:fail]``, ``[sim:run=12]``, … (see
``magic``).  Every request is logged in ``Simulator.log`` for tests to count.
"""
from __future__ import annotations

import re
import tempfile
import threading
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

from .catalog import Catalog
from .handler import Handler
from .jobs import Clock, Job, MediaStore, image_params, input_picture, new_request_id, video_params


@dataclass
class Fault:
    kind: str            # 429 500 500001 504 drop hold slow error redirect truncate trickle
                         # corrupt fail cancelled empty status
    endpoint: str = "*"  # submit status result cancel model models file, or "*"
    times: int = 1       # requests it applies to; -1 = every one
    retry_after: float | None = None
    delay: float = 0.0
    status: int = 400
    code: int = 400002
    message: str = "Insufficient balance"


class Simulator:
    def __init__(self, token: str = "sim-token", *, queue_s: float = 1.0, run_s: float = 3.0,
                 port: int = 0, media_dir: str | None = None, max_side: int | None = None,
                 frame_cap: int | None = None, clock: Clock | None = None, timeline=None,
                 video_shape: str = "video", image_shape: str = "images", catalog=None):
        self.token = token
        self.queue_s, self.run_s = queue_s, run_s
        self.clock = clock or Clock()
        self.timeline = timeline          # optional callable(model_id, body) -> (queue_s, run_s)
        self.video_shape, self.image_shape = video_shape, image_shape
        self.catalog = catalog or Catalog()
        self._tmp = None if media_dir else tempfile.TemporaryDirectory(prefix="runcomfy-sim-")
        self.media = MediaStore(Path(media_dir or self._tmp.name), max_side, frame_cap)
        self.jobs: dict[str, Job] = {}
        self.log: list[dict] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self.api = self._server(port, "api")
        self.second = self._server(0, "second")   # "another host" for redirected downloads

    # -- lifecycle ---------------------------------------------------------------------
    def _server(self, port: int, role: str) -> ThreadingHTTPServer:
        handler = type("Handler", (Handler,), {"sim": self, "role": role})
        srv = ThreadingHTTPServer(("127.0.0.1", port), handler)
        srv.daemon_threads = True
        return srv

    def start(self) -> "Simulator":
        for srv in (self.api, self.second):
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                             daemon=True).start()
        return self

    def stop(self) -> None:
        for srv in (self.api, self.second):
            srv.shutdown()
            srv.server_close()
        if self._tmp:
            self._tmp.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.api.server_address[1]}"

    @property
    def second_url(self) -> str:
        return f"http://127.0.0.1:{self.second.server_address[1]}"

    # -- faults and log ----------------------------------------------------------------
    def fault(self, kind: str, endpoint: str = "*", times: int = 1, **kw) -> Fault:
        f = Fault(str(kind), endpoint, times, **kw)
        with self.lock:
            self.faults.append(f)
        return f

    def take_fault(self, endpoint: str, kinds=None) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.times != 0 and f.endpoint in ("*", endpoint) and (kinds is None or f.kind in kinds):
                    f.times -= 1 if f.times > 0 else 0
                    return f
        return None

    def calls(self, endpoint: str | None = None, role: str = "api") -> list[dict]:
        return [e for e in self.log if e["role"] == role and (endpoint is None or e["endpoint"] == endpoint)]

    def submitted_bodies(self, model_id: str | None = None) -> list[dict]:
        return [j.body for j in self.jobs.values() if model_id in (None, j.model_id)]

    # -- jobs ----------------------------------------------------------------------------
    def create_job(self, model_id: str, body: dict, job_fault: str = "") -> Job:
        tokens = magic(body)
        queue_s, run_s = (self.timeline(model_id, body) if self.timeline
                          else (self.queue_s, self.run_s))
        queue_s = float(tokens.get("queue", queue_s))
        run_s = float(tokens.get("run", run_s))
        fault = job_fault or next((k for k in ("fail", "cancelled", "empty") if k in tokens), "")
        kind = self.catalog.output_kind(model_id)
        job = Job(new_request_id(), model_id, body, kind, self.clock.now(), queue_s, run_s, fault)
        job.shape = tokens.get("shape") or (self.video_shape if kind == "video" else self.image_shape)
        job.count = int(tokens.get("n", 1))
        with self.lock:
            self.jobs[job.request_id] = job
        return job

    def queue_position(self, job: Job, now: float) -> int:
        """1 + the jobs submitted earlier that are still waiting in the queue."""
        with self.lock:
            ahead = [j for j in self.jobs.values()
                     if j.submitted_at < job.submitted_at and j.state(now) == "in_queue"]
        return len(ahead) + 1

    def outputs(self, job: Job, base: str) -> dict:
        if job.fault == "empty":
            return {}
        ext = "mp4" if job.output_kind == "video" else "png"
        urls = [f"{base}/files/{job.request_id}/output_{i}.{ext}" for i in range(job.count)]
        shape = job.shape
        return {shape: urls if shape.endswith("s") else urls[0]}

    def file_for(self, job: Job, name: str) -> Path | None:
        m = re.match(r"output_(\d+)\.(mp4|png)$", name)
        if not m or int(m.group(1)) >= job.count:
            return None
        if job.output_kind == "video":
            p = video_params(job.body)
            return self.media.video(p["frames"], p["fps"], p["width"], p["height"],
                                    input_picture(job.body))
        return self.media.image(**image_params(job.body), index=int(m.group(1)))


def magic(body: dict) -> dict:
    """Per-request switches written in any string value: '[sim:run=12]', '[sim:fail]'."""
    found = {}
    for value in body.values():
        if isinstance(value, str) and "[sim:" in value:
            for token in re.findall(r"\[sim:([^\]]+)\]", value):
                key, _, val = token.partition("=")
                found[key.strip()] = val.strip() or True
    return found

