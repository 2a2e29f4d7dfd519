"""Benchmark: the jobs panel's route on a 10,000-job journal, beside the same route on a
100-job journal and the journal's own page query, measured in the same run.

Run from the repo root:  python bench/bench_panel.py

Both journals are real sqlite files of the pack's schema, filled with jobs of 40 models
over 30 days.  Each figure is the median of 50 requests through a real HTTP server (aiohttp,
loopback), as the panel asks: the first page (with what it can be filtered by), a page deep
in the journal, one model's jobs, and the spend per day of 30 days.
Goal: every answer well under 100 ms on the 10,000-job journal.
"""
from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from nodes.app.plain_host import PlainHost  # noqa: E402
from nodes.app.runtime import Runtime  # noqa: E402
from nodes.comfy import jobs_routes  # noqa: E402
from nodes.remote.journal_sqlite import SqliteJournal  # noqa: E402

REQUESTS = 50
STATUSES = ["completed"] * 8 + ["failed", "cancelled"]


def fill(journal: SqliteJournal, jobs: int) -> None:
    """``jobs`` rows written as the pack writes them, in one transaction."""
    rng = random.Random(1)
    now = time.time()
    rows = []
    for k in range(jobs):
        created = now - rng.uniform(0, 30 * 86400)
        model = f"vendor{k % 40}/model-{k % 40}/text-to-video"
        outputs = json.dumps({"video": [f"https://cdn.example/{k}.mp4"]})
        rows.append((f"rid-{k:06d}", f"fp-{k}", model, rng.choice(STATUSES), created, created, outputs,
                     json.dumps([f"/gone/{k}.mp4"]), round(rng.uniform(0.1, 2), 2), 0.5, "", "ana", "ws1"))
    rows.sort(key=lambda r: r[4])
    with journal._tx("fill") as db:
        db.executemany("INSERT INTO jobs (request_id, fingerprint, model_id, status, created_at, updated_at, "
                       "outputs, files, cost, estimate, error, member, machine) VALUES "
                       "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def timed(fn) -> float:
    times = []
    for _ in range(REQUESTS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


async def route_ms(rt) -> dict:
    routes = web.RouteTableDef()
    jobs_routes.register(routes, rt, lambda model_id: (model_id.split("/")[1].title(), "video"))
    app = web.Application()
    app.add_routes(routes)
    out = {}
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        first = await (await client.get("/runcomfy/jobs?limit=50")).json()
        deep = first["jobs"][-1]["id"] // 2
        asks = {"first page": "/runcomfy/jobs?limit=50", "a page deep in": f"/runcomfy/jobs?limit=50&before={deep}",
                "one model's jobs": "/runcomfy/jobs?limit=50&model=vendor7/model-7/text-to-video",
                "30 days of spend": "/runcomfy/spend?days=30"}
        for name, path in asks.items():
            times = []
            for _ in range(REQUESTS):
                t0 = time.perf_counter()
                resp = await client.get(path, headers={"Sec-Fetch-Site": "same-origin"})
                await resp.read()
                assert resp.status == 200, await resp.text()
                times.append(time.perf_counter() - t0)
            out[name] = 1000 * statistics.median(times)
    return out


def main() -> None:
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        for jobs in (100, 10_000):
            user = Path(tmp) / str(jobs)
            rt = Runtime(PlainHost(user_dir=user, output_dir=Path(tmp) / "out"))
            fill(rt.journal, jobs)
            raw = timed(lambda: rt.journal.page(51))
            figures[jobs] = (raw, asyncio.run(route_ms(rt)))
    print(f"The jobs panel's routes (median of {REQUESTS} requests over loopback HTTP):")
    print(f"  {'':22}{'100 jobs':>12}{'10,000 jobs':>14}   goal")
    print(f"  {'journal page query':22}{figures[100][0]:>10.2f}ms{figures[10_000][0]:>12.2f}ms   (reference)")
    for name in figures[100][1]:
        small, big = figures[100][1][name], figures[10_000][1][name]
        print(f"  {name:22}{small:>10.2f}ms{big:>12.2f}ms   < 100 ms: {'OK' if big < 100 else 'MISSED'}"
              f" (×{big / small:.2f} of 100 jobs)")


if __name__ == "__main__":
    main()
