"""Benchmark: the whole catalog as nodes, each figure beside a reference measured in the same run.

Run from the repo root:  python bench/bench_catalog.py [--size 1500]
                         COMFYUI_DIR=/path/to/ComfyUI python bench/bench_catalog.py   (all of it)

1. Refresh (always): the pack fetches a catalog of SIZE models from the simulator (real HTTP,
   real time) and writes its snapshot.  Reference: the same pages fetched with plain requests,
   nothing checked or written.  Goals: within 60 s, at most one request per page.
2. Without ComfyUI (always): a fresh Python imports the pack and builds every node's
   INPUT_TYPES (what /object_info asks of each class), with the SIZE-model snapshot beside the
   same with the five shipped models only; time and resident memory.
3. In ComfyUI (COMFYUI_DIR set; COMFY_PYTHON, default $COMFYUI_DIR/venv/bin/python): ComfyUI
   started twice from a temporary base folder holding only this pack (the checkout is never
   touched), once with the snapshot and once with the shipped models only, no token (no
   refresh runs).  Goals: the pack's line in "Import times for custom nodes" ≤ 10 % of that
   start (launch → /system_stats answers) and ≤ 0.5 s; /object_info ≤ 3 × the five-model
   start's; ComfyUI's resident memory ≤ 150 MB above the five-model start's.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from nodes.app.plain_host import PlainHost  # noqa: E402
from nodes.app.runtime import Runtime  # noqa: E402
from nodes.app.sync import Bounds  # noqa: E402
from simulator import Simulator  # noqa: E402

TOKEN = "bench-token-1234"


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


# -- 1. the refresh ------------------------------------------------------------------------------

def plain_fetch(sim, page_size: int) -> tuple[float, int]:
    """The reference: every listing page fetched and parsed as JSON, nothing else."""
    t0, offset, pages = time.perf_counter(), 0, 0
    while True:
        page = requests.get(f"{sim.base_url}/v1/models", timeout=60,
                            params={"limit": page_size, "offset": offset, "include_schema": "true"},
                            headers={"Authorization": f"Bearer {sim.token}"}).json()
        pages += 1
        offset += len(page["models"])
        if not page["models"] or offset >= page["total"]:
            return time.perf_counter() - t0, pages


def refresh(size: int, user_dir: Path) -> None:
    with Simulator(TOKEN, catalog_size=size) as sim:
        os.environ["RUNCOMFY_BASE_URL"], os.environ["RUNCOMFY_API_TOKEN"] = sim.base_url, sim.token
        try:
            ref_s, pages = plain_fetch(sim, Bounds().page_size)
            before = len(sim.listing_requests())
            rt = Runtime(PlainHost(user_dir, user_dir.parent / "output"))
            t0 = time.perf_counter()
            change = rt.catalog.refresh()
            pack_s = time.perf_counter() - t0
            asked = len(sim.listing_requests()) - before
        finally:
            del os.environ["RUNCOMFY_BASE_URL"], os.environ["RUNCOMFY_API_TOKEN"]
    kept = len(rt.catalog.snapshot().models)
    mb = (user_dir / "catalog.json").stat().st_size / 2**20
    print(f"Refresh of a {size}-model catalog from the simulator ({pages} pages):")
    print(f"  plain requests, pages only   {ref_s:6.2f} s   (reference)")
    print(f"  the pack's refresh           {pack_s:6.2f} s   ratio {pack_s / ref_s:.2f}; "
          f"{len(change.added)} added, {kept} models kept, snapshot {mb:.1f} MB "
          f"(goal ≤ 60 s: {verdict(pack_s <= 60)})")
    print(f"  listing requests             {asked} for {pages} pages "
          f"(goal ≤ 1 per page: {verdict(asked <= pages)})")


# -- 2. the pack alone, in a fresh Python --------------------------------------------------------

PROBE = r"""
import importlib.util, json, resource, sys, time
t0 = time.perf_counter()
spec = importlib.util.spec_from_file_location("runcomfy_bench_pack", sys.argv[1] + "/__init__.py",
                                              submodule_search_locations=[sys.argv[1]])
pack = importlib.util.module_from_spec(spec); sys.modules[spec.name] = pack
spec.loader.exec_module(pack)
imported = time.perf_counter() - t0
t1 = time.perf_counter()
info = {k: c.INPUT_TYPES() for k, c in pack.NODE_CLASS_MAPPINGS.items()}
described = time.perf_counter() - t1
rss = int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
print(json.dumps({"nodes": len(info), "import_s": imported, "info_s": described, "rss_mb": rss}))
"""


def probe(user_dir: Path) -> dict:
    import json
    env = {**os.environ, "RUNCOMFY_USER_DIR": str(user_dir)}
    env.pop("RUNCOMFY_API_TOKEN", None)
    runs = [json.loads(subprocess.run([sys.executable, "-c", PROBE, str(ROOT)], env=env, check=True,
                                      capture_output=True, text=True).stdout.strip().splitlines()[-1])
            for _ in range(3)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def pack_alone(full: Path, empty: Path) -> None:
    few, many = probe(empty), probe(full)
    print(f"The pack in a fresh Python (median of 3), {few['nodes']:.0f} nodes beside {many['nodes']:.0f}:")
    print(f"  import + build, shipped only {few['import_s']:6.3f} s   (reference)")
    print(f"  import + build, whole catalog{many['import_s']:7.3f} s   "
          f"ratio {many['import_s'] / few['import_s']:.2f}")
    print(f"  every INPUT_TYPES, shipped   {few['info_s']:6.3f} s   (reference)")
    print(f"  every INPUT_TYPES, catalog   {many['info_s']:6.3f} s")
    print(f"  resident memory              {few['rss_mb']:6.0f} MB → {many['rss_mb']:.0f} MB "
          f"(+{many['rss_mb'] - few['rss_mb']:.0f} MB)")


# -- 3. in ComfyUI -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def comfy_start(comfy_dir: Path, python: str, user_dir: Path, base: Path) -> dict:
    """Start ComfyUI with only this pack, measure, stop it."""
    shutil.rmtree(base, ignore_errors=True)
    (base / "custom_nodes").mkdir(parents=True)
    (base / "custom_nodes" / "runcomfy-bench").symlink_to(ROOT)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNCOMFY_")}
    log = open(base / "comfyui.log", "w")
    t0 = time.perf_counter()
    proc = subprocess.Popen([python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
                             "--base-directory", str(base), "--user-directory", str(user_dir),
                             "--database-url", f"sqlite:///{base}/comfyui.db", "--disable-auto-launch"],
                            cwd=comfy_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"ComfyUI stopped; see {base / 'comfyui.log'}")
            try:
                requests.get(f"{url}/system_stats", timeout=2).raise_for_status()
                break
            except requests.RequestException:
                time.sleep(0.05)
        start_s = time.perf_counter() - t0
        times, count = [], 0
        for _ in range(7):
            t = time.perf_counter()
            info = requests.get(f"{url}/object_info", timeout=120)
            times.append(time.perf_counter() - t)
            count = sum(1 for v in info.json().values() if v.get("python_module", "").endswith("runcomfy-bench"))
        rss = int(Path(f"/proc/{proc.pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    text = (base / "comfyui.log").read_text()
    found = re.search(r"([\d.]+) seconds.*: .*runcomfy-bench", text)
    built = re.search(r"RunComfy: \d+ nodes .* in ([\d.]+) s", text)
    return {"start_s": start_s, "import_s": float(found.group(1)) if found else float("nan"),
            "build_s": float(built.group(1)) if built else float("nan"),
            "info_s": statistics.median(times[1:]), "info_mb": len(info.content) / 2**20,
            "rss_mb": rss, "nodes": count}


def in_comfyui(comfy_dir: Path, full: Path, empty: Path, work: Path) -> None:
    python = os.environ.get("COMFY_PYTHON") or str(comfy_dir / "venv" / "bin" / "python")
    few = comfy_start(comfy_dir, python, empty.parent, work / "few")
    many = comfy_start(comfy_dir, python, full.parent, work / "many")
    share = many["import_s"] / many["start_s"]
    print(f"ComfyUI ({comfy_dir}), started with this pack only; {few['nodes']} RunComfy nodes beside "
          f"{many['nodes']}:")
    print(f"  ComfyUI's start, whole catalog   {many['start_s']:6.2f} s   (reference; shipped only: "
          f"{few['start_s']:.2f} s)")
    print(f"  the pack's import time           {many['import_s']:6.2f} s   {100 * share:.1f} % of the start "
          f"(goal ≤ 10 % and ≤ 0.5 s: {verdict(share <= 0.10 and many['import_s'] <= 0.5)}; "
          f"ComfyUI prints tenths)")
    print(f"  of which building the nodes      {many['build_s']:6.3f} s   (the pack's own log line; "
          f"shipped only: {few['build_s']:.3f} s)")
    print(f"  /object_info, shipped only       {few['info_s']:6.3f} s   (reference, {few['info_mb']:.1f} MB)")
    print(f"  /object_info, whole catalog      {many['info_s']:6.3f} s   ratio "
          f"{many['info_s'] / few['info_s']:.2f} ({many['info_mb']:.1f} MB; goal ≤ 3: "
          f"{verdict(many['info_s'] <= 3 * few['info_s'])})")
    extra = many["rss_mb"] - few["rss_mb"]
    print(f"  ComfyUI's resident memory        {few['rss_mb']:6.0f} MB → {many['rss_mb']:.0f} MB "
          f"(+{extra:.0f} MB; goal ≤ +150 MB: {verdict(extra <= 150)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1500, help="models in the simulator's catalog")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        full, empty = Path(tmp) / "full" / "runcomfy", Path(tmp) / "empty" / "runcomfy"
        full.mkdir(parents=True), empty.mkdir(parents=True)
        refresh(args.size, full)
        pack_alone(full, empty)
        comfy_dir = os.environ.get("COMFYUI_DIR")
        if comfy_dir:
            in_comfyui(Path(comfy_dir), full, empty, Path(tmp) / "comfy")
        else:
            print("In ComfyUI: skipped (set COMFYUI_DIR to a ComfyUI checkout to measure it)")


if __name__ == "__main__":
    main()
