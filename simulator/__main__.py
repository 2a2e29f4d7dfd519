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
    ap.add_argument("--fault", action="append", default=[], metavar="KIND[:ENDPOINT[:TIMES]]",
                    help="e.g. 429:status:3, drop:submit, fail:submit, redirect:file, truncate:file")
    args = ap.parse_args(argv)
    sim = Simulator(args.token, queue_s=args.queue, run_s=args.run, port=args.port,
                    max_side=args.max_side, submit_rate=args.submit_rate)
    for spec in args.fault:
        kind, endpoint, times = (spec.split(":") + ["*", "1"])[:3]
        sim.fault(kind, endpoint or "*", int(times), retry_after=1 if kind == "429" else None)
    sim.start()
    print(f"RunComfy simulator on {sim.base_url}  (downloads may redirect to {sim.second_url})")
    print(f"  export RUNCOMFY_BASE_URL={sim.base_url} RUNCOMFY_API_TOKEN={sim.token}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sim.stop()


if __name__ == "__main__":
    main()
