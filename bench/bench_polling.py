"""Polling benchmark: how fast is completion noticed, and how many calls does it cost?

Runs simulated jobs against the simulator on a clock running 10x faster than real time
(so a 5-minute job takes 30 s): many short jobs (5-30 s) and a few 5-minute jobs, all
at once.  For each job it records the delay between the server finishing and the client
noticing, and the GET calls the job took.  Two pollers run side by side on the same
jobs: this pack's JobRunner (adaptive interval, polling the result endpoint) and the
reference, a fixed 5-second status poll followed by one result fetch (what ComfyUI's
own API nodes do).

Goals (issue 3): short jobs noticed in under 1 s (median); 5-minute jobs with at most
1.3x the reference's calls.

    python bench/bench_polling.py [--short 40] [--long 4] [--scale 10]
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nodes.remote.client import COMPLETED, RunComfyClient, normalize_status  # noqa: E402
from nodes.remote.job import JobRunner  # noqa: E402
from nodes.core.clock import Clock  # noqa: E402
from simulator import Simulator  # noqa: E402

MODEL = "wan-ai/wan-2-2/image-to-video"


def pack_poller(sim, clock, rid, out):
    client = RunComfyClient(sim.base_url, sim.token, clock=clock)
    JobRunner(client, clock=clock.monotonic, sleep=clock.sleep).wait(rid)
    out[rid] = (clock.now(), client.transport.calls)


def fixed_poller(sim, clock, rid, out):
    client = RunComfyClient(sim.base_url, sim.token, clock=clock)
    while normalize_status(client.status(rid).get("status")) != COMPLETED:
        clock.sleep(5.0)
    seen = clock.now()
    client.result(rid)
    out[rid] = (seen, client.transport.calls)


def run(short: int, long: int, scale: float, seed: int = 1):
    rng = random.Random(seed)
    plan = [("short", rng.uniform(5, 30)) for _ in range(short)] + [("long", 300.0)] * long
    clock = Clock(scale)
    durations = iter([])

    def timeline(model_id, body):
        return next(durations)

    results = {}
    with Simulator("bench", clock=clock, timeline=timeline, max_side=64) as sim:
        submitter = RunComfyClient(sim.base_url, sim.token)
        jobs = []
        for poller in (pack_poller, fixed_poller):
            queue_times = [rng.uniform(0, 2) for _ in plan]
            durations = iter(list(zip(queue_times, [d for _, d in plan])))
            for (kind, _), _q in zip(plan, queue_times):
                rid = submitter.submit(MODEL, {"prompt": "bench", "img_url": "https://e.com/a.png"}).request_id
                jobs.append((poller, kind, rid))
        threads = [threading.Thread(target=p, args=(sim, clock, rid, results)) for p, _, rid in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rows = {}
        for poller, kind, rid in jobs:
            seen, calls = results[rid]
            delay = seen - sim.jobs[rid].finishes_at
            rows.setdefault((poller.__name__, kind), []).append((delay, calls))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", type=int, default=40)
    ap.add_argument("--long", type=int, default=4)
    ap.add_argument("--scale", type=float, default=10.0)
    args = ap.parse_args()
    rows = run(args.short, args.long, args.scale)
    print(f"Polling benchmark: {args.short} jobs of 5-30 s, {args.long} of 300 s, "
          f"simulated at {args.scale:g}x real time")
    print(f"{'poller':<22}{'jobs':>6}{'median delay s':>16}{'p90 delay s':>13}{'calls/job':>11}")
    summary = {}
    for (name, kind), values in sorted(rows.items()):
        delays = sorted(d for d, _ in values)
        calls = statistics.mean(c for _, c in values)
        summary[(name, kind)] = (statistics.median(delays), calls)
        label = ("this pack" if name == "pack_poller" else "fixed 5 s poll") + f", {kind}"
        print(f"{label:<22}{len(values):>6}{statistics.median(delays):>16.2f}"
              f"{delays[int(0.9 * (len(delays) - 1))]:>13.2f}{calls:>11.1f}")
    short_delay = summary[("pack_poller", "short")][0]
    ratio = summary[("pack_poller", "long")][1] / summary[("fixed_poller", "long")][1]
    print(f"short jobs: median delay {short_delay:.2f} s (goal < 1 s) "
          f"{'OK' if short_delay < 1 else 'MISSED'}")
    print(f"5-minute jobs: {ratio:.2f}x the fixed poll's calls (goal <= 1.3x) "
          f"{'OK' if ratio <= 1.3 else 'MISSED'}")


if __name__ == "__main__":
    main()
