"""Benchmark: the team journal (PostgreSQL) beside this machine's sqlite journal, in one run.

Run from the repo root:  python bench/bench_journal.py        (starts its own PostgreSQL, with
fsync on like a real server's; sqlite writes with synchronous=FULL as the pack always does)

1. A job's claim (find, then claim, then the request id recorded: what a run asks of the
   journal before and right after its submit), 200 times: the median on each store.
   Goal: PostgreSQL adds at most 20 ms.
2. A 16-item list through the Wan 2.2 node (simulator, jobs of 3 s in real time), on each
   store: wall time; then on PostgreSQL the same list of 9 s jobs: the statements a job sends
   whatever its length (claim, request id, stages, outputs, files) and those each further
   poll adds.  Goal: at most 1 statement per poll cycle per job.
3. 50 claims from 5 processes at once (10 inputs, each claimed by all 5), each winner
   submitting to the simulator: exactly 10 submits, on each store.
"""
from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from nodes.app.plain_host import PlainHost  # noqa: E402
from nodes.app.runtime import Runtime  # noqa: E402
from nodes.comfy.factory import default_values  # noqa: E402
from nodes.comfy.registry import build_mappings  # noqa: E402
from nodes.core.settings import Settings  # noqa: E402
from nodes.remote.journal_pg import PostgresJournal  # noqa: E402
from nodes.remote.journal_sqlite import SqliteJournal  # noqa: E402
from simulator import Simulator  # noqa: E402
from tools.postgres import TempPostgres  # noqa: E402

CLAIMS, ITEMS, PROCESSES, INPUTS = 200, 16, 5, 10


def claim_ms(journal) -> float:
    times = []
    for k in range(CLAIMS):
        fp = f"bench-{k}-{time.monotonic_ns()}"
        t0 = time.perf_counter()
        journal.find([fp])
        entry, mine = journal.claim([fp], "bench/model", "bench:1:x", 60, 0.1)
        journal.record_request(entry.id, f"rid-{fp}")
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def list_run(user: Path, sim: Simulator, url: str | None, tag: str = "") -> tuple[float, int, int]:
    """(seconds, statements sent to the team journal, status polls) of a 16-item list."""
    settings = Settings(user)
    if url:
        settings.update(journal_url=url, machine="bench", member="bench")
    rt = Runtime(PlainHost(user_dir=user, output_dir=user.parent / "output"))
    cls = build_mappings(rt)[0]["RunComfy_Wan22_ImageToVideo"]
    values = {k: [v] for k, v in default_values(cls).items()}
    torch.manual_seed(0)
    values["image"] = [torch.rand(1, 64, 64, 3)]
    values["prompt"] = [f"item {i}: {url is not None} {tag}" for i in range(ITEMS)]
    journal = rt.journal
    before, polls = getattr(journal, "queries", 0), polled(sim)
    t0 = time.perf_counter()
    asyncio.run(cls().run(**values))
    seconds = time.perf_counter() - t0
    statements = getattr(journal, "queries", 0) - before
    rt.close()
    return seconds, statements, polled(sim) - polls


def polled(sim: Simulator) -> int:
    return len(sim.calls("status")) + len(sim.calls("result"))


RACER = r"""
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from nodes.remote.client import RunComfyClient
from nodes.remote.journal_pg import PostgresJournal
from nodes.remote.journal_sqlite import SqliteJournal
where, go, base, token, k = sys.argv[2], Path(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
journal = (PostgresJournal(where, machine=f"m{k}", member="racer") if where.startswith("postgres")
           else SqliteJournal(Path(where)))
client = RunComfyClient(base, token)
while not go.exists():
    time.sleep(0.005)
won = 0
for i in range(%d):
    entry, mine = journal.claim([f"race-{i}"], "acme/text-to-video", f"m{k}:1:{k}", 60, 0.1)
    if mine:
        rid = client.submit("acme/text-to-video", {"prompt": f"race {i}"}).request_id
        journal.record_request(entry.id, rid)
        won += 1
print(won)
""" % INPUTS


def race(where: str, sim: Simulator, folder: Path) -> tuple[float, int, int]:
    """(seconds, claims won, submits) of 50 claims from 5 processes."""
    folder.mkdir(parents=True, exist_ok=True)
    go = folder / "go"
    before = len(sim.calls("submit"))
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(ROOT), where, str(go), sim.base_url,
                               sim.token, str(k)], stdout=subprocess.PIPE, text=True)
             for k in range(PROCESSES)]
    time.sleep(3)                                   # every racer imported and connected
    t0 = time.perf_counter()
    go.touch()
    won = sum(int(p.communicate(timeout=120)[0].strip() or 0) for p in procs)
    return time.perf_counter() - t0, won, len(sim.calls("submit")) - before


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, TempPostgres(durable=True) as pg:
        tmp = Path(tmp)
        os.environ["RUNCOMFY_USER_DIR"], os.environ["RUNCOMFY_OUTPUT_DIR"] = str(tmp / "u"), str(tmp / "o")
        sqlite = SqliteJournal(tmp / "claims.sqlite3", machine="bench", member="bench")
        team = PostgresJournal(pg.create_database("claims"), machine="bench", member="bench")
        local_ms, team_ms = claim_ms(sqlite), claim_ms(team)
        print(f"A job's claim (find, claim, record the request id), median of {CLAIMS}:")
        print(f"  sqlite journal        {local_ms:6.2f} ms   (reference)")
        print(f"  PostgreSQL journal    {team_ms:6.2f} ms   adds {team_ms - local_ms:+.2f} ms "
              f"(goal ≤ +20 ms: {'OK' if team_ms - local_ms <= 20 else 'MISSED'})")
        team.close()

        with Simulator("bench-token-1234", queue_s=0.5, run_s=3.0, max_side=64) as sim:
            os.environ["RUNCOMFY_BASE_URL"], os.environ["RUNCOMFY_API_TOKEN"] = sim.base_url, sim.token
            one = list_run(tmp / "a" / "user", sim, None)
            url = pg.create_database("lists")
            two = list_run(tmp / "b" / "user", sim, url)
            sim.run_s = 9.0
            three = list_run(tmp / "b" / "user", sim, url, "long")
            sim.run_s = 3.0
            per_poll = (three[1] - two[1]) / max(1, three[2] - two[2])
            fixed = (two[1] - per_poll * two[2]) / ITEMS
            print(f"A {ITEMS}-item list of 3 s jobs (the simulator, real time):")
            print(f"  sqlite journal        {one[0]:6.2f} s    (reference)")
            print(f"  PostgreSQL journal    {two[0]:6.2f} s    ratio {two[0] / one[0]:.2f}; {two[1]} statements, "
                  f"{two[2]} polls")
            print(f"  the same of 9 s jobs  {three[0]:6.2f} s    {three[1]} statements, {three[2]} polls: "
                  f"{fixed:.1f} statements a job, {per_poll:.2f} for each further poll "
                  f"(goal ≤ 1 a poll: {'OK' if per_poll <= 1 else 'MISSED'})")
            local = race(str(tmp / "race.sqlite3"), sim, tmp / "r1")
            shared = race(pg.create_database("race"), sim, tmp / "r2")
            print(f"{PROCESSES * INPUTS} claims from {PROCESSES} processes at once ({INPUTS} inputs):")
            print(f"  sqlite journal        {local[0]:6.2f} s    {local[1]} claims won, {local[2]} submits "
                  "(reference)")
            print(f"  PostgreSQL journal    {shared[0]:6.2f} s    {shared[1]} claims won, {shared[2]} submits "
                  f"(goal exactly {INPUTS}: {'OK' if shared[1] == shared[2] == INPUTS else 'MISSED'})")


if __name__ == "__main__":
    main()
