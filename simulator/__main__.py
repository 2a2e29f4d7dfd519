"""python -m simulator: serve the RunComfy-compatible simulator on 127.0.0.1.

Prints the base URL and token to use, e.g.
  RUNCOMFY_BASE_URL=http://127.0.0.1:8765 RUNCOMFY_API_TOKEN=sim-token
"""
import argparse
import time

from .server import Simulator


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m simulator", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--token", default="sim-token")
    ap.add_argument("--queue", type=float, default=3.0, help="seconds each job waits in the queue")
    ap.add_argument("--run", type=float, default=8.0, help="seconds each job runs")
    ap.add_argument("--max-side", type=int, default=None, help="shrink outputs to this many px")
    ap.add_argument("--submit-rate", type=float, default=None,
                    help="submits per second before HTTP 429 (default: no limit)")
    ap.add_argument("--fault", action="append", default=[],
                    metavar="KIND[:ENDPOINT[:TIMES[:offset=N][:after=K]]]",
                    help="e.g. 429:status:3, drop:submit, fail:submit, redirect:file, truncate:file, "
                         "500:models:1:offset=200 (the listing page at offset 200 or beyond), "
                         "drop:models:1:after=2 (the third listing request)")
    ap.add_argument("--catalog-size", type=int, default=None, metavar="N",
                    help="add generated models until the catalog holds N (deterministic)")
    ap.add_argument("--broken-entries", nargs="?", const="all", default=None, metavar="NAMES",
                    help="list unusable catalog entries after the others: all, or comma-separated "
                         "names from simulator/broken.py (the 10 MiB one is huge_description)")
    ap.add_argument("--max-limit", type=int, default=None, metavar="N",
                    help="the most models one listing page holds, whatever limit is asked")
    args = ap.parse_args(argv)
    broken = args.broken_entries
    broken = True if broken == "all" else broken.split(",") if broken else False
    sim = Simulator(args.token, queue_s=args.queue, run_s=args.run, port=args.port,
                    max_side=args.max_side, submit_rate=args.submit_rate,
                    catalog_size=args.catalog_size, broken_entries=broken, max_limit=args.max_limit)
    for spec in args.fault:
        sim.fault(**fault_spec(spec))
    sim.start()
    print(f"RunComfy simulator on {sim.base_url}  (downloads may redirect to {sim.second_url})")
    print(f"  export RUNCOMFY_BASE_URL={sim.base_url} RUNCOMFY_API_TOKEN={sim.token}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sim.stop()


def fault_spec(spec: str) -> dict:
    """``KIND[:ENDPOINT[:TIMES[:offset=N][:after=K]]]`` → ``Simulator.fault`` arguments."""
    parts = spec.split(":")
    kind, endpoint, times = (parts[:3] + ["*", "1"][len(parts) - 1:])[:3]
    out = {"kind": kind, "endpoint": endpoint or "*", "times": int(times),
           "retry_after": 1 if kind == "429" else None}
    for extra in parts[3:]:
        key, _, value = extra.partition("=")
        if key not in ("offset", "after"):
            raise SystemExit(f"--fault {spec}: unknown option {key!r} (offset=N, after=K)")
        out["min_offset" if key == "offset" else "after"] = int(value)
    return out


if __name__ == "__main__":
    main()
