"""``python -m nodes.catalog``: add RunComfy models as node files, or list the catalog.

    python -m nodes.catalog add acme/text-to-video            (from the pack folder)
    python -m nodes.catalog add acme/text-to-video --from-file schema.json
    python -m nodes.catalog list --search wan

Without ``--user-dir`` the ComfyUI user folder is found from the pack's place in
``<ComfyUI>/custom_nodes/`` (ComfyUI need not run); the token and base URL come from that
folder's settings or the environment, as in ComfyUI.  The work is in app/catalog.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .app.catalog import add_model, list_models
from .app.plain_host import PlainHost, cli_user_dir
from .app.runtime import Runtime
from .core.errors import RunComfyError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nodes.catalog",
                                     description="Add RunComfy models as ComfyUI nodes.")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="write a model file for MODEL_ID into the user models folder")
    add.add_argument("model_id", nargs="?", help="e.g. wan-ai/wan-2-2/image-to-video")
    add.add_argument("--from-file", metavar="FILE",
                     help="a schema JSON saved from the model's API page (entry, model file or "
                          "bare input schema) instead of asking the catalog")
    add.add_argument("--user-dir", metavar="DIR",
                     help="ComfyUI's user folder (as given to ComfyUI's --user-directory) or "
                          "its runcomfy subfolder; models go to <that>/runcomfy/models. "
                          "Default: <ComfyUI>/user/runcomfy")
    add.add_argument("--force", action="store_true",
                     help="replace an existing file even if it holds another model")
    lst = sub.add_parser("list", help="list catalog models")
    lst.add_argument("--search", default="", metavar="TEXT")
    args = parser.parse_args(argv)

    user = cli_user_dir(getattr(args, "user_dir", None))
    rt = Runtime(PlainHost(user_dir=user))          # its settings: the token saved in that folder
    try:
        if args.command == "list":
            listing = list_models(rt.client(), args.search)
            for m in listing.models:
                cats = ", ".join(m.get("categories") or [])
                print(f"{m.get('model_id')}  -  {m.get('display_name', '')}"
                      f"{f'  [{cats}]' if cats else ''}")
            print(listing.summary())
            return 0
        if not (args.model_id or args.from_file):
            parser.error("add needs MODEL_ID or --from-file FILE")
        path, report = add_model(args.model_id, schema_file=args.from_file, client=rt.client,
                                 models_dir=rt.models_dir(), force=args.force)
    except RunComfyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"Wrote {path}")
    print("What the node does with the schema:")
    for line in report:
        print(f"  {line}")
    print("Restart ComfyUI to see the node.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
