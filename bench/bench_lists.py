"""Benchmark: many jobs at once from one node fed a list, beside one job measured in the same run.

Run from the repo root:  python bench/bench_lists.py

Against the simulator (real HTTP, jobs of 10 s, small outputs), the Wan 2.1 node is called
the way ComfyUI calls it for a CreateList of prompts:
  * the reference: one job alone (its wall time T1);
  * 16 list items: goal ≤ 1.3 × T1 (ComfyUI's queue, one prompt at a time, takes 16 × T1),
    exactly 16 submits;
  * the same list again: 0 submits; with 3 prompts changed: 3 submits.
"""
from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from nodes.comfy.factory import default_values  # noqa: E402
from nodes.app.plain_host import PlainHost  # noqa: E402
from nodes.app.runtime import Runtime  # noqa: E402
from nodes.comfy.registry import build_mappings  # noqa: E402
from simulator import Simulator  # noqa: E402

JOB_S = 10.0
N = 16


def values(cls, prompts):
    v = {k: [x] for k, x in default_values(cls).items()}
    torch.manual_seed(0)
    v["image"] = [torch.rand(1, 64, 64, 3)]
    v["prompt"] = list(prompts)
    return v


def timed(cls, prompts) -> float:
    t0 = time.perf_counter()
    asyncio.run(cls().run(**values(cls, prompts)))
    return time.perf_counter() - t0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RUNCOMFY_USER_DIR"] = f"{tmp}/user"
        os.environ["RUNCOMFY_OUTPUT_DIR"] = f"{tmp}/output"
        sim = Simulator("bench-token-1234", queue_s=0.0, run_s=JOB_S, max_side=160).start()
        os.environ["RUNCOMFY_BASE_URL"], os.environ["RUNCOMFY_API_TOKEN"] = sim.base_url, sim.token
        try:
            rt = Runtime(PlainHost())
            cls = build_mappings(rt)[0]["RunComfy_Wan21_ImageToVideo"]
            one = timed(cls, ["the reference job"])
            submits_before = len(sim.calls("submit"))
            prompts = [f"item {i}: a lighthouse, variation {i}" for i in range(N)]
            many = timed(cls, prompts)
            submits = len(sim.calls("submit")) - submits_before
            again_t = timed(cls, prompts)
            again = len(sim.calls("submit")) - submits_before - submits
            changed = prompts[:]
            for i in (2, 7, 13):
                changed[i] += " (changed)"
            changed_t = timed(cls, changed)
            three = len(sim.calls("submit")) - submits_before - submits - again
            pool = rt.pool._max_workers
        finally:
            sim.stop()
    print(f"{N} list items of a {JOB_S:.0f} s job (simulator, real time), pool of {pool} threads:")
    print(f"  one job alone              {one:6.2f} s   (reference)")
    print(f"  ComfyUI's queue, one by one {N * one:5.1f} s   ({N} × the reference)")
    print(f"  {N} items as one list       {many:6.2f} s   ratio {many / one:.2f} (goal ≤ 1.30)")
    print(f"  submits: {submits} (goal {N}); the same list again: {again} submits in {again_t:.2f} s "
          f"(goal 0); 3 prompts changed: {three} submits in {changed_t:.2f} s (goal 3)")


if __name__ == "__main__":
    main()
