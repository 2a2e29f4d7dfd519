"""A RunComfy-compatible Model API on 127.0.0.1, for tests, benchmarks and the demo.

Implements submit, status, result, cancel and the catalog (see shared/PROTOCOL.md),
checks the Bearer token, validates bodies against the model schemas (422 with
`detail`), walks jobs through their timeline and serves real MP4 (with or without an AAC
track), PNG, WAV, MP3 and binary glTF (.glb) outputs; ``?include_cost=true`` charges by the
model's price unit.

Faults are switched on per run (``Simulator.fault(...)`` or ``--fault`` on the command
line; for the listing, only from an offset on or after some requests) or per request: a prompt containing ``[sim:fail]``, ``[sim:run=12]``, … (see
``magic``).  ``submit_rate`` limits submits per second (HTTP 429 with Retry-After beyond
it).  Every request is logged in ``Simulator.log`` for tests to count (a listing request
with its ``offset`` and ``limit``: ``listing_requests()``).

The catalog can be grown (``catalog_size``), given unusable entries (``broken_entries``)
and changed while running (``add_model``, ``remove_model``, ``change_schema``,
``insert_property``): see ``catalog.py``.
"""
from __future__ import annotations

import math
import re
import sys
import tempfile
import threading
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

from .catalog import Catalog
from .handler import CONTENT_TYPES, Handler
from .jobs import JOB_FAULTS, Clock, Job, MediaStore, new_request_id
from .plan import plan_job
from .pricing import charge


class QuietHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that does not print a traceback when a client hangs up
    (the pack cuts stalled downloads and trickling answers on purpose)."""
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


@dataclass
class Fault:
    kind: str            # 429 500 500001 504 drop hold slow error redirect truncate trickle
                         # corrupt fail cancelled empty status
    endpoint: str = "*"  # submit status result cancel model models file, or "*"
                         # ("truncate" on "models": half a listing page, then the line closes)
    times: int = 1       # requests it applies to; -1 = every one
    retry_after: float | None = None
    delay: float = 0.0
    status: int = 400
    code: int = 400002
    message: str = "Insufficient balance"
    min_offset: int | None = None   # only listing requests (endpoint "models") at this offset or beyond
    after: int = 0       # let this many matching requests through first

    def matches(self, endpoint: str, kinds, offset: int | None) -> bool:
        return (self.times != 0 and self.endpoint in ("*", endpoint)
                and (kinds is None or self.kind in kinds)
                and (self.min_offset is None or (offset is not None and offset >= self.min_offset)))


class Simulator:
    def __init__(self, token: str = "sim-token", *, queue_s: float = 1.0, run_s: float = 3.0,
                 port: int = 0, media_dir: str | None = None, max_side: int | None = None,
                 frame_cap: int | None = None, clock: Clock | None = None, timeline=None,
                 video_shape: str = "video", image_shape: str = "images", catalog=None,
                 audio_shape: str = "audio", mesh_shape: str = "model_mesh",
                 submit_rate: float | None = None, catalog_size: int | None = None,
                 broken_entries=False, max_limit: int | None = None):
        self.token = token
        self.queue_s, self.run_s = queue_s, run_s
        self.clock = clock or Clock()
        self.timeline = timeline          # optional callable(model_id, body) -> (queue_s, run_s)
        self.shapes = {"video": video_shape, "image": image_shape, "audio": audio_shape,
                       "3d": mesh_shape}
        self.submit_limit = TokenBucket(submit_rate, self.clock) if submit_rate else None
        self.catalog = catalog or Catalog()
        if catalog_size:
            self.catalog.fill_to(catalog_size)
        if broken_entries:
            self.catalog.add_broken(broken_entries)
        self.max_limit = max_limit        # the most models a listing page holds (None: as asked)
        self._tmp = None if media_dir else tempfile.TemporaryDirectory(prefix="runcomfy-sim-")
        self.media = MediaStore(Path(media_dir or self._tmp.name), max_side, frame_cap)
        self.jobs: dict[str, Job] = {}
        self.log: list[dict] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self.api = self._server(port, "api")
        self.second = self._server(0, "second")   # "another host" for redirected downloads

    # -- lifecycle ---------------------------------------------------------------------
    def _server(self, port: int, role: str) -> QuietHTTPServer:
        handler = type("Handler", (Handler,), {"sim": self, "role": role})
        return QuietHTTPServer(("127.0.0.1", port), handler)

    def start(self) -> "Simulator":
        for srv in (self.api, self.second):
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.01},
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

    # the output key per kind, as attributes too (tests set ``sim.video_shape = "videos"``)
    video_shape = property(lambda self: self.shapes["video"],
                           lambda self, v: self.shapes.__setitem__("video", v))
    image_shape = property(lambda self: self.shapes["image"],
                           lambda self, v: self.shapes.__setitem__("image", v))
    audio_shape = property(lambda self: self.shapes["audio"],
                           lambda self, v: self.shapes.__setitem__("audio", v))
    mesh_shape = property(lambda self: self.shapes["3d"],
                          lambda self, v: self.shapes.__setitem__("3d", v))

    # -- faults and log ----------------------------------------------------------------
    def fault(self, kind: str, endpoint: str = "*", times: int = 1, **kw) -> Fault:
        f = Fault(str(kind), endpoint, times, **kw)
        with self.lock:
            self.faults.append(f)
        return f

    def take_fault(self, endpoint: str, kinds=None, offset: int | None = None) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.matches(endpoint, kinds, offset):
                    if f.after > 0:
                        f.after -= 1
                        continue
                    f.times -= 1 if f.times > 0 else 0
                    return f
        return None

    def calls(self, endpoint: str | None = None, role: str = "api") -> list[dict]:
        return [e for e in self.log if e["role"] == role and (endpoint is None or e["endpoint"] == endpoint)]

    def listing_requests(self) -> list[dict]:
        """Each ``GET /v1/models`` so far: its offset, limit, search, include_schema, status."""
        return [{k: e.get(k) for k in ("offset", "limit", "search", "include_schema", "status")}
                for e in self.calls("models")]

    # -- the catalog, changed while running (thread-safe; see catalog.py) ------------------
    def add_model(self, doc: dict) -> None:
        self.catalog.add_model(doc)

    def remove_model(self, model_id: str) -> bool:
        return self.catalog.remove_model(model_id)

    def change_schema(self, model_id: str, input_schema: dict) -> dict:
        return self.catalog.change_schema(model_id, input_schema)

    def insert_property(self, model_id: str, key: str, prop: dict, index: int | None = None,
                        required: bool = False) -> dict:
        return self.catalog.insert_property(model_id, key, prop, index, required)

    def submitted_bodies(self, model_id: str | None = None) -> list[dict]:
        return [j.body for j in self.jobs.values() if model_id in (None, j.model_id)]

    # -- jobs ----------------------------------------------------------------------------
    def create_job(self, model_id: str, body: dict, job_fault: str = "") -> Job:
        tokens = magic(body)
        queue_s, run_s = (self.timeline(model_id, body) if self.timeline
                          else (self.queue_s, self.run_s))
        queue_s = float(tokens.get("queue", queue_s))
        run_s = float(tokens.get("run", run_s))
        fault = job_fault or next((k for k in JOB_FAULTS if k in tokens), "")
        if fault == "moderation":
            run_s = 0.0       # flagged as soon as it leaves the queue
        doc = self.catalog.get(model_id) or {}
        kind = doc.get("output", "video")
        job = Job(new_request_id(), model_id, body, kind, self.clock.now(), queue_s, run_s, fault)
        job.shape = tokens.get("shape") or self.shapes.get(kind, "video")
        job.plan = plan_job(kind, doc.get("input_schema") or {}, body, tokens)
        job.count = job.plan.count
        with self.lock:
            self.jobs[job.request_id] = job
        return job

    def cost(self, job: Job, now: float) -> float:
        """What the job is charged: by the price unit and its output; 0 when not billed."""
        if not job.billed(now):
            return 0
        stated = magic(job.body).get("cost")
        if stated is not None:                 # [sim:cost=-100]: a hostile or broken cost
            return float(stated)
        price = self.catalog.pricing(job.model_id)
        return charge(price["base_price_usd"], price["price_unit"], job.plan)

    def queue_position(self, job: Job, now: float) -> int:
        """1 + the jobs submitted earlier that are still waiting in the queue."""
        with self.lock:
            ahead = [j for j in self.jobs.values()
                     if j.submitted_at < job.submitted_at and j.state(now) == "in_queue"]
        return len(ahead) + 1

    def outputs(self, job: Job, base: str) -> dict:
        """The result's ``output``: the primary files under the job's shape, extras by kind.

        A file is a bare link, except a 3D model's: an object ``{"url", "content_type",
        "file_name"}``, as 3D models on RunComfy answer (``{"model_mesh": {"url": …}}``).
        """
        if job.fault == "empty":
            return {}
        files = job.plan.files
        urls = [f"{base}/files/{job.request_id}/output_{i}.{f.ext}" for i, f in enumerate(files)]
        urls = [file_object(u, f.ext) if f.kind in FILE_OBJECTS else u for u, f in zip(urls, files)]
        shape, primary = job.shape, urls[:job.count]
        out = {shape: primary} if shape.endswith("s") else {shape: primary[0]} if primary else {}
        for kind, index in job.plan.extras.items():
            out.setdefault(kind, urls[index])
        return out

    def file_for(self, job: Job, name: str) -> Path | None:
        m = re.match(r"output_(\d+)\.(mp4|png|wav|mp3|glb)$", name)
        files = job.plan.files
        if not m or int(m.group(1)) >= len(files) or files[int(m.group(1))].ext != m.group(2):
            return None
        out = files[int(m.group(1))]
        if out.kind == "video":
            p = out.params
            return self.media.video(p["frames"], p["fps"], p["width"], p["height"],
                                    p["picture"], p["sound"])
        if out.kind == "audio":
            return self.media.audio(**out.params)
        if out.kind == "3d":
            return self.media.mesh(**out.params)
        return self.media.image(**out.params)

    def take_submit_token(self) -> int:
        """0 when a submit may go ahead, else the seconds to wait (Retry-After, ≥ 1)."""
        return self.submit_limit.take() if self.submit_limit else 0


class TokenBucket:
    """``rate`` tokens per (simulated) second, holding at most ``rate`` (the burst), ≥ 1."""

    def __init__(self, rate: float, clock: Clock):
        self.rate, self.clock = float(rate), clock
        self.capacity = max(1.0, self.rate)
        self.tokens, self.at = self.capacity, clock.now()
        self._lock = threading.Lock()

    def take(self) -> int:
        with self._lock:
            now = self.clock.now()
            self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0
            return max(1, math.ceil((1 - self.tokens) / self.rate))


FILE_OBJECTS = ("3d",)     # output kinds whose files are objects with a "url", not bare links


def file_object(url: str, ext: str) -> dict:
    return {"url": url, "content_type": CONTENT_TYPES.get(ext, "application/octet-stream"),
            "file_name": url.rsplit("/", 1)[-1]}


def magic(body: dict) -> dict:
    """Per-request switches written in any top-level string value of the body.

    ``[sim:queue=S]`` ``[sim:run=S]`` timeline · ``[sim:fail]`` generation failure, not
    billed · ``[sim:fail_billed]`` failure after running, billed · ``[sim:moderation]``
    content moderation, not billed · ``[sim:cancelled]`` cancelled by the service ·
    ``[sim:empty]`` completed without outputs · ``[sim:shape=videos]`` output key ·
    ``[sim:n=K]`` K outputs · ``[sim:also=audio]`` / ``[sim:also=image]`` (or both,
    comma-separated) an extra WAV / PNG in the same result · ``[sim:cost=X]`` the result
    states cost X (e.g. -100 or nan: a broken answer).
    """
    found = {}
    for value in body.values():
        if isinstance(value, str) and "[sim:" in value:
            for token in re.findall(r"\[sim:([^\]]+)\]", value):
                key, _, val = token.partition("=")
                found[key.strip()] = val.strip() or True
    return found

