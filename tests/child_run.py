"""One node run in a separate process, for the tests that crash, kill or race processes.

    python tests/child_run.py NODE_ID [--kill-at STAGE] [--barrier DIR] [--seed N]

It runs the node with its default widgets and a fixed random picture, against the
simulator and user folder named in the environment, and prints one JSON line:
{"request_id": ..., "stages": [...], "notes": [...]} or {"error": class name, "message": ...}.
With --kill-at it sends itself SIGKILL when the node's status reaches that stage (no
cleanup of any kind).  With --barrier it says it is ready (DIR/ready-<pid>, once everything
is imported and the node built) and starts its run only when DIR/go appears: processes that
race start together, however long their imports took.
"""
import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from nodes.app.pipeline import run_model  # noqa: E402
from nodes.app.plain_host import PlainHost  # noqa: E402
from nodes.app.runtime import Runtime  # noqa: E402
from nodes.app.status import StatusReporter as Reporter  # noqa: E402
from nodes.comfy.factory import default_values  # noqa: E402
from nodes.comfy.registry import build_mappings  # noqa: E402
from nodes.core.errors import RunComfyError  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("node_id")
    ap.add_argument("--kill-at", default="")
    ap.add_argument("--barrier", default="")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    rt = Runtime(PlainHost())          # this process's own runtime: folders from the environment
    cls = build_mappings(rt)[0][args.node_id]
    values = default_values(cls)
    torch.manual_seed(0)
    values["image_1" if "image_1" in cls.INPUT_TYPES()["optional"] else "image"] = torch.rand(1, 400, 400, 3)
    if args.seed is not None:
        values["seed"] = args.seed

    def sink(stage, text):
        if stage == args.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    if args.barrier:
        wait_at_barrier(Path(args.barrier))
    reporter = Reporter(sink=sink)
    try:
        out = run_model(rt, cls.SPEC, values, reporter)
        print(json.dumps({"request_id": out["result"][-1], "stages": reporter.stages,
                          "notes": reporter.notes}), flush=True)
    except RunComfyError as e:
        print(json.dumps({"error": type(e).__name__, "message": str(e)}), flush=True)


def wait_at_barrier(folder: Path, timeout: float = 120.0) -> None:
    (folder / f"ready-{os.getpid()}").touch()
    end = time.monotonic() + timeout
    while not (folder / "go").exists():
        if time.monotonic() > end:
            sys.exit("the barrier never opened")
        time.sleep(0.005)


if __name__ == "__main__":
    main()
