"""HTTP request handling for the simulator: routing, auth, faults, JSON and files.

Every request is logged (``Simulator.log``) before anything else happens to it; a listing
request (``GET /v1/models``) with its ``offset``, ``limit``, ``search`` and
``include_schema``, so a test can count the requests per page even when a fault answered.
"""
from __future__ import annotations

import json
import socket
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlsplit

from .jobs import FAILURES, JOB_FAULTS
from .validate import check_body

CONTENT_TYPES = {"mp4": "video/mp4", "png": "image/png", "wav": "audio/wav", "mp3": "audio/mpeg",
                 "glb": "model/gltf-binary"}
WHAT = {"video": "a video", "image": "an image", "audio": "audio", "3d": "a 3D model"}

# Faults applied before routing; "redirect", "truncate", "corrupt" are taken by on_file itself.
REQUEST_FAULTS = ("slow", *JOB_FAULTS, "429", "500", "500001", "error",
                  "error200", "drop", "status", "hold", "504")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sim = None          # set per server by Simulator
    role = "api"        # "api" or "second" (the other host downloads may be sent to)

    def log_message(self, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        # Headers and body go out in two writes; without NODELAY, Nagle's algorithm and
        # the client's delayed ACK stall every keep-alive response by ~40 ms.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- plumbing -------------------------------------------------------------------------
    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def send_json(self, status: int, data, headers=None):
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.entry["status"] = status     # before the body: a client may read the log at once
        self.wfile.write(raw)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return ValueError

    def endpoint(self, method: str, path: str) -> tuple[str, str]:
        if path.startswith("/files/"):
            return "file", path[len("/files/"):]
        if path.startswith("/v1/models"):
            rest = path[len("/v1/models"):].strip("/")
            if not rest:
                return "models", ""
            return ("submit" if method == "POST" else "model"), rest
        if path == "/sim/catalog":
            return "control", ""
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[:2] == ["v1", "requests"]:
            return {"status": "status", "result": "result", "cancel": "cancel"}.get(parts[3], "?"), parts[2]
        return "?", ""

    # -- routing --------------------------------------------------------------------------
    def route(self, method: str):
        url = urlsplit(self.path)
        path = unquote(url.path)
        name, arg = self.endpoint(method, path)
        self.query = parse_qs(url.query)
        self.entry = {"method": method, "path": path, "endpoint": name, "role": self.role,
                      "auth": self.headers.get("Authorization"), "time": time.monotonic(),
                      "status": None, "query": {k: v[0] for k, v in self.query.items()}}
        if name == "models":
            q = self.entry["query"]
            self.entry.update(offset=as_int(q.get("offset", "0")), limit=as_int(q.get("limit", "50")),
                              search=q.get("search", ""),
                              include_schema=q.get("include_schema", "").lower() == "true")
        with self.sim.lock:
            self.sim.log.append(self.entry)
        body = self.read_body() if method == "POST" else None
        if self.role == "second" and name != "file":
            return self.send_json(404, {"message": "not found"})
        if name != "file" and self.entry["auth"] != f"Bearer {self.sim.token}":
            return self.send_json(401, {"error_code": 401001, "error_message": "Unauthorized"})
        if name == "submit" and method == "POST" and self.rate_limited():
            return
        fault = self.sim.take_fault(name, REQUEST_FAULTS, self.entry.get("offset"))
        if fault is not None and self.apply_fault(fault, name, arg, body):
            return
        handler = getattr(self, "on_" + name, None)
        if handler is None or (name in ("submit", "cancel", "control") and method != "POST"):
            return self.send_json(404, {"message": f"no route for {method} {path}"})
        return handler(arg, body) if method == "POST" else handler(arg)

    def rate_limited(self) -> bool:
        """Over ``submit_rate``: 429 with Retry-After, no job; logged as ``rate_limited``."""
        wait = self.sim.take_submit_token()
        self.entry["rate_limited"] = bool(wait)
        if wait:
            self.send_json(429, {"error_code": 429001, "error_message": "Too many requests",
                                 "message": "Rate limit exceeded; retry later."},
                           {"Retry-After": wait})
        return bool(wait)

    def apply_fault(self, f, name: str, arg: str, body) -> bool:
        """Answer with the fault; False when the request should go on (slow, job faults)."""
        kind = f.kind
        if kind == "slow":
            time.sleep(f.delay)
            return False
        if kind in JOB_FAULTS:
            self.job_fault = kind
            return False
        if kind == "hold":       # the job is created, then the answer waits (a kill lands here)
            self.hold_s = f.delay
            return False
        if kind == "504" and name == "submit" and isinstance(body, dict):
            self.sim.create_job(arg, body)            # created, then a gateway gives up: billed
            raw = b"<html><body><h1>504 Gateway Time-out</h1></body></html>"
            self.send_response(504)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
            self.entry["status"] = 504
            return True
        if kind == "429":
            headers = {} if f.retry_after is None else {"Retry-After": f.retry_after}
            self.send_json(429, {"message": "Too many requests"}, headers)
        elif kind in ("500", "500001"):
            self.send_json(500, {"error_code": 500001, "error_message": "Internal error"})
        elif kind == "error":
            self.send_json(f.status, {"error_code": f.code, "error_message": f.message})
        elif kind == "error200":
            self.send_json(200, {"error_code": f.code, "error_message": f.message})
        elif kind == "status":   # an undocumented status word, e.g. "warming_up"
            self.send_json(200, {"request_id": arg, "status": f.message})
        elif kind == "drop":
            if name == "submit" and isinstance(body, dict):  # created, then the line dies: billed
                self.sim.create_job(arg, body)
            self.close_connection = True
            self.entry["status"] = "dropped"
        return True

    # -- endpoints ------------------------------------------------------------------------
    def on_submit(self, model_id: str, body):
        doc = self.sim.catalog.get(model_id)
        if doc is None:                 # never known, or removed: as GET /v1/models/{id} answers
            return self.send_json(404, {"error_code": 400001,
                                        "error_message": f"Unknown model_id: {model_id}"})
        if body is ValueError:
            return self.send_json(400, {"error_code": 422001, "error_message": "Body is not JSON"})
        detail = check_body(doc["input_schema"], body)
        if detail:
            return self.send_json(422, {"error_code": 422001, "error_message": "Validation failed",
                                        "detail": detail})
        job = self.sim.create_job(model_id, body, getattr(self, "job_fault", ""))
        time.sleep(getattr(self, "hold_s", 0.0))
        base = self.sim.base_url
        rid = job.request_id
        self.send_json(200, {"request_id": rid,
                             "status_url": f"{base}/v1/requests/{rid}/status",
                             "result_url": f"{base}/v1/requests/{rid}/result",
                             "cancel_url": f"{base}/v1/requests/{rid}/cancel"})

    def job_or_404(self, rid: str):
        job = self.sim.jobs.get(rid)
        if job is None:
            self.send_json(404, {"error_code": 404001, "error_message": "Request not found or expired"})
        return job

    def status_body(self, job, now: float) -> dict:
        base = self.sim.base_url
        state = job.state(now)
        data = {"request_id": job.request_id, "status": state,
                "status_url": f"{base}/v1/requests/{job.request_id}/status",
                "result_url": f"{base}/v1/requests/{job.request_id}/result"}
        if state == "in_queue":
            data["queue_position"] = self.sim.queue_position(job, now)
        return data

    def on_status(self, rid: str):
        job = self.job_or_404(rid)
        if job is not None:
            self.send_json(200, self.status_body(job, self.sim.clock.now()))

    def on_result(self, rid: str):
        job = self.job_or_404(rid)
        if job is None:
            return
        now = self.sim.clock.now()
        state = job.state(now)
        if state not in ("completed", "failed", "cancelled"):
            return self.send_json(200, self.status_body(job, now))
        data = {"request_id": job.request_id, "status": state, "output": {},
                "created_at": job.submitted_at, "finished_at": job.finishes_at}
        if state == "completed":
            data["output"] = self.sim.outputs(job, self.sim.base_url)
        elif state == "failed":
            code, message = FAILURES.get(job.fault, FAILURES["fail"])
            what = WHAT.get(job.output_kind, "an output")
            data["error"] = {"code": code, "message": message.format(what=what)}
        data["billed"] = job.billed(now)
        if self.query.get("include_cost") == ["true"]:
            data["cost"] = self.sim.cost(job, now)
        self.send_json(200, data)

    def on_cancel(self, rid: str, _body=None):
        job = self.job_or_404(rid)
        if job is None:
            return
        now = self.sim.clock.now()
        if job.state(now) == "in_queue":
            job.cancelled_at = now
            outcome = "cancelled"
        else:
            outcome = "not_cancellable"
        self.send_json(200, {"request_id": rid, "status": job.state(now), "outcome": outcome})

    def on_model(self, model_id: str):
        entry = self.sim.catalog.entry(model_id)
        if entry is None:
            return self.send_json(404, {"error_code": 400001,
                                        "error_message": f"Unknown model_id: {model_id}"})
        self.send_json(200, entry)

    def on_models(self, _arg: str):
        """One page of the listing.  ``limit`` is capped at ``Simulator.max_limit`` (the page
        says the limit it used); a ``truncate`` fault sends half of the page, then hangs up."""
        e = self.entry
        bad = [{"loc": ["query", k], "msg": "value is not a valid non-negative integer",
                "type": "type_error"} for k in ("offset", "limit") if e[k] is None or e[k] < 0]
        if bad:
            return self.send_json(422, {"error_code": 422001, "error_message": "Validation failed",
                                        "detail": bad})
        limit = e["limit"] if self.sim.max_limit is None else min(e["limit"], self.sim.max_limit)
        page = self.sim.catalog.listing(e["search"], limit, e["offset"], e["include_schema"],
                                        e["query"].get("category", ""))
        fault = self.sim.take_fault("models", ("truncate",), e["offset"])
        if fault is None:
            return self.send_json(200, page)
        raw = json.dumps(page).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw[: len(raw) // 2])
        self.close_connection = True
        e["status"] = "truncated"

    def on_file(self, arg: str):
        rid, _, name = arg.partition("/")
        job = self.sim.jobs.get(rid)
        path = self.sim.file_for(job, name) if job is not None else None
        if path is None:
            return self.send_json(404, {"message": "no such file"})
        fault = self.sim.take_fault("file", ("redirect", "truncate", "corrupt", "trickle")) \
            if self.role == "api" else None
        if fault is not None and fault.kind == "redirect":
            self.send_response(302)
            self.send_header("Location", f"{self.sim.second_url}/files/{arg}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.entry["status"] = 302
            return
        data = path.read_bytes()
        if fault is not None and fault.kind == "corrupt":   # complete, but not a video
            data = bytes(range(256)) * (len(data) // 256 + 1)
        self.send_response(200)
        ext = name.rsplit(".", 1)[-1]
        self.send_header("Content-Type", CONTENT_TYPES.get(ext, "application/octet-stream"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if fault is not None and fault.kind == "trickle":     # some bytes, a long pause, the rest
            self.wfile.write(data[: len(data) // 3])
            self.wfile.flush()
            time.sleep(fault.delay)
            self.wfile.write(data[len(data) // 3:])
            self.entry["status"] = 200
            return
        if fault is not None and fault.kind == "truncate":
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            self.entry["status"] = "truncated"
            return
        self.wfile.write(data)
        self.entry["status"] = 200


    def on_control(self, _arg, body):
        """``POST /sim/catalog`` (the simulator's own, for checks driving a running simulator
        from outside, e.g. the browser check): {"action": "add", "model": {...}} ·
        {"action": "remove", "model_id": …} · {"action": "insert_property", "model_id": …,
        "key": …, "property": {...}, "index": n}."""
        action = body.get("action") if isinstance(body, dict) else None
        try:
            if action == "add":
                self.sim.add_model(body["model"])
            elif action == "remove":
                self.sim.remove_model(body["model_id"])
            elif action == "insert_property":
                self.sim.insert_property(body["model_id"], body["key"], body["property"], body.get("index"))
            else:
                return self.send_json(400, {"message": "action: add, remove or insert_property"})
        except (KeyError, TypeError, ValueError) as e:
            return self.send_json(400, {"message": f"{type(e).__name__}: {e}"})
        return self.send_json(200, {"ok": True, "action": action})


def as_int(value: str) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
