#!/usr/bin/env bash
# The web extension checked in a real headless Chromium against a real ComfyUI (not part of CI:
# ComfyUI is not on PyPI).  It starts the pack's simulator and a ComfyUI with this pack loaded,
# then runs check.mjs: the price badge shows and follows the duration widget; a finished job is
# listed in the RunComfy sidebar tab; "Load into workflow" adds a Load Result node that runs;
# and catalog.mjs: the whole catalog (the simulator serves 60 models) in the node library, a
# model added, changed or removed while the page is open, a shared workflow's model fetched.
#
#   COMFYUI_DIR=/path/to/ComfyUI tools/web_check/run.sh
#
# Environment:
#   COMFYUI_DIR     a ComfyUI checkout (required); its custom_nodes/ gets a symlink to this pack
#                   for the run (removed afterwards)
#   COMFY_PYTHON    the Python that runs ComfyUI (default: $COMFYUI_DIR/venv/bin/python, else python3)
#   CHROMIUM        default /usr/bin/chromium (Debian: apt-get install chromium)
#   PLAYWRIGHT_DIR  a folder whose node_modules has playwright-core (default: installed with npm
#                   into a temporary folder; it never downloads a browser)
#   PYTHONPATH      passed to ComfyUI (e.g. for torchvision stubs on CPU-only machines)
#   SCRIPT          the browser script(s) to run, one after the other against the same ComfyUI
#                   (default "check.mjs catalog.mjs"; thumbnails.mjs renders the example
#                   workflows' thumbnails into THUMB_DIR); the run fails when any of them does
set -euo pipefail
pack="$(cd "$(dirname "$0")/../.." && pwd)"
: "${COMFYUI_DIR:?set COMFYUI_DIR to a ComfyUI checkout}"
comfy_py="${COMFY_PYTHON:-$COMFYUI_DIR/venv/bin/python}"
[ -x "$comfy_py" ] || comfy_py=python3
pack_py="$pack/.venv/bin/python"
[ -x "$pack_py" ] || { echo "run ./run.sh test once first (it makes .venv)"; exit 2; }
work="$(mktemp -d /tmp/runcomfy-webcheck.XXXXXX)"; mkdir -p "$work/user" "$work/output" "$work/input"
sim_port=8777; comfy_port=8199
link="$COMFYUI_DIR/custom_nodes/runcomfy-webcheck"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$link" ] && [ -L "$link" ] && rm -f "$link"
  echo "logs and screenshots: $work"
}
trap cleanup EXIT

if [ -z "${PLAYWRIGHT_DIR:-}" ]; then
  PLAYWRIGHT_DIR="$work/node"; mkdir -p "$PLAYWRIGHT_DIR"
  (cd "$PLAYWRIGHT_DIR" && npm init -y >/dev/null && npm install --silent playwright-core >/dev/null)
fi

(cd "$pack" && exec "$pack_py" -m simulator --port "$sim_port" --queue 1 --run 2 --catalog-size 60) > "$work/simulator.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do curl -sf -o /dev/null "http://127.0.0.1:$sim_port/v1/models" -H "Authorization: Bearer sim-token" && break; sleep 0.2; done
# a catalog model with a duration widget, added the way a user adds one
(cd "$pack" && RUNCOMFY_BASE_URL="http://127.0.0.1:$sim_port" RUNCOMFY_API_TOKEN=sim-token \
  "$pack_py" -m nodes.catalog add acme/reference-to-video --user-dir "$work/user/runcomfy") > "$work/add.log"
# the example workflows load "example.png": the pack's own demo picture, not ComfyUI's
(cd "$pack" && "$pack_py" -c "import sys; from tools.demo import demo_image; demo_image().save(sys.argv[1])" \
  "$work/input/example.png")
already=""
for entry in "$COMFYUI_DIR"/custom_nodes/*; do
  [ "$(readlink -f "$entry")" = "$pack" ] && already="$entry"
done
if [ -n "$already" ]; then link=""; else ln -sfn "$pack" "$link"; fi   # never load the pack twice
(cd "$COMFYUI_DIR" && RUNCOMFY_BASE_URL="http://127.0.0.1:$sim_port" RUNCOMFY_API_TOKEN=sim-token \
  exec "$comfy_py" main.py --cpu --listen 127.0.0.1 --port "$comfy_port" \
    --user-directory "$work/user" --output-directory "$work/output" --input-directory "$work/input" \
    --database-url "sqlite:///$work/user/comfyui.db" --disable-auto-launch) > "$work/comfyui.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 240); do
  curl -sf -o /dev/null "http://127.0.0.1:$comfy_port/system_stats" && break
  kill -0 "${pids[1]}" 2>/dev/null || { echo "ComfyUI stopped:"; tail -30 "$work/comfyui.log"; exit 1; }
  sleep 0.5
done
# The scripts share the ComfyUI and its settings: after check.mjs (whose last check turns Nodes 2.0
# on), catalog.mjs runs on the Vue node renderer; alone (SCRIPT=catalog.mjs), on the canvas one.
status=0
for script in ${SCRIPT:-check.mjs catalog.mjs}; do
  echo "== $script"
  NODE_PATH="$PLAYWRIGHT_DIR/node_modules" OUT_DIR="$work" CHROMIUM="${CHROMIUM:-/usr/bin/chromium}" \
    SIM_URL="http://127.0.0.1:$sim_port" node "$pack/tools/web_check/$script" "http://127.0.0.1:$comfy_port" \
    || status=1
done
exit "$status"
