#!/usr/bin/env bash
# The web extension checked in a real headless Chromium against a real ComfyUI (not part of CI:
# ComfyUI is not on PyPI).  It starts the pack's simulator and a ComfyUI with this pack loaded,
# then runs check.mjs: the price badge shows and follows the duration widget; a finished job is
# listed in the RunComfy sidebar tab; "Load into workflow" adds a Load Result node that runs;
# catalog.mjs: the whole catalog (the simulator serves 60 models) in the node library, a
# model added, changed or removed while the page is open, a shared workflow's model fetched;
# and panel.mjs: the jobs panel (thumbnails, previews, filters, paging), the spend chart and the
# price of a whole Queue (the confirmation above the threshold, Cancel queueing nothing), in
# both node renderers and both colour palettes (~70 s).
# team.mjs (SCRIPT=team.mjs) checks a team journal: it needs PostgreSQL's server programs
# (apt-get install postgresql) and psycopg in ComfyUI's Python (pip install "psycopg[binary]").
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
#                   (default "check.mjs catalog.mjs panel.mjs"; thumbnails.mjs renders the example
#                   workflows' thumbnails into THUMB_DIR; team.mjs checks a team journal, see
#                   below); the run fails when any of them does
#
# team.mjs runs against a ComfyUI of its own, started (after the others' is stopped) on a team
# journal: a throw-away PostgreSQL (tools/postgres.py, removed afterwards), RUNCOMFY_MEMBER=ana,
# RUNCOMFY_MACHINE=studio-a, a member limit of $5, its own user and output folders.  Before it,
# another machine of the team (farm-7, member ben: tests/child_run.py with its own folders) runs
# one job on the same journal and simulator, then the team's budget is set to $10.  The
# database's password reaches team.mjs only as PG_PASSWORD, to check that nothing the page sees
# holds it; it is never printed.  Not in the default: it needs PostgreSQL and adds ~35 s.
#   SCRIPT="check.mjs catalog.mjs panel.mjs team.mjs" tools/web_check/run.sh     (all four)
set -euo pipefail
pack="$(cd "$(dirname "$0")/../.." && pwd)"
: "${COMFYUI_DIR:?set COMFYUI_DIR to a ComfyUI checkout}"
comfy_py="${COMFY_PYTHON:-$COMFYUI_DIR/venv/bin/python}"
[ -x "$comfy_py" ] || comfy_py=python3
pack_py="$pack/.venv/bin/python"
[ -x "$pack_py" ] || { echo "run ./run.sh test once first (it makes .venv)"; exit 2; }
work="$(mktemp -d /tmp/runcomfy-webcheck.XXXXXX)"; mkdir -p "$work/user" "$work/output" "$work/input"
sim_port=8777; comfy_port=8199
sim_url="http://127.0.0.1:$sim_port"
link="$COMFYUI_DIR/custom_nodes/runcomfy-webcheck"
scripts="${SCRIPT:-check.mjs catalog.mjs panel.mjs}"
pids=()
comfy_pid=""; comfy_mode=""           # the ComfyUI running now, and for which scripts ("plain", "team")
pg_pid=""; team_url=""; team_password=""; team_ready=""
stop_comfy() {
  [ -n "$comfy_pid" ] || return 0
  kill "$comfy_pid" 2>/dev/null || true
  wait "$comfy_pid" 2>/dev/null || true
  comfy_pid=""; comfy_mode=""
}
cleanup() {
  set +e                              # every step, whatever the one before it returned
  stop_comfy
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  # the PostgreSQL helper stops its server and removes its folder when told to go
  [ -n "$pg_pid" ] && kill "$pg_pid" 2>/dev/null && wait "$pg_pid" 2>/dev/null
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
for _ in $(seq 1 50); do curl -sf -o /dev/null "$sim_url/v1/models" -H "Authorization: Bearer sim-token" && break; sleep 0.2; done
# a catalog model with a duration widget, added the way a user adds one
(cd "$pack" && RUNCOMFY_BASE_URL="$sim_url" RUNCOMFY_API_TOKEN=sim-token \
  "$pack_py" -m nodes.catalog add acme/reference-to-video --user-dir "$work/user/runcomfy") > "$work/add.log"
# the example workflows load "example.png": the pack's own demo picture, not ComfyUI's
(cd "$pack" && "$pack_py" -c "import sys; from tools.demo import demo_image; demo_image().save(sys.argv[1])" \
  "$work/input/example.png")
already=""
for entry in "$COMFYUI_DIR"/custom_nodes/*; do
  [ "$(readlink -f "$entry")" = "$pack" ] && already="$entry"
done
if [ -n "$already" ]; then link=""; else ln -sfn "$pack" "$link"; fi   # never load the pack twice

# The team: a throw-away PostgreSQL kept running (by a helper of the pack's Python) until the
# run ends; its URL and password reach this shell through a file only this user reads, removed
# at once.  Then a team budget, and farm-7's job.
start_team() {
  (cd "$pack" && exec "$pack_py" - "$work/pg.secret" <<'PY'
import os, signal, sys, time
from urllib.parse import unquote, urlsplit
from tools.postgres import TempPostgres
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
parent, path = os.getppid(), sys.argv[1]
pg = TempPostgres()
try:
    pg.start()
    url = pg.create_database("team")
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(url + "\n" + unquote(urlsplit(url).password or "") + "\n")
    os.replace(path + ".tmp", path)
    print(f"PostgreSQL for the team journal on {pg.host}:{pg.port}, data in {pg.root}", flush=True)
    while os.getppid() == parent:       # the run ended, even killed: stop and remove it
        time.sleep(0.5)
finally:
    pg.cleanup()
    print("PostgreSQL stopped and removed", flush=True)
PY
  ) > "$work/postgres.log" 2>&1 &
  pg_pid=$!
  for _ in $(seq 1 240); do
    [ -s "$work/pg.secret" ] && break
    kill -0 "$pg_pid" 2>/dev/null || break
    sleep 0.25
  done
  if [ ! -s "$work/pg.secret" ]; then
    echo "PostgreSQL did not start (team.mjs needs PostgreSQL's server: apt-get install postgresql):"
    tail -5 "$work/postgres.log"; return 1
  fi
  { read -r team_url; read -r team_password; } < "$work/pg.secret"
  rm -f "$work/pg.secret"
  mkdir -p "$work/farm-7/user" "$work/farm-7/output" "$work/studio-a/user" "$work/studio-a/output"
  local farm=(env RUNCOMFY_BASE_URL="$sim_url" RUNCOMFY_API_TOKEN=sim-token RUNCOMFY_JOURNAL_URL="$team_url"
              RUNCOMFY_USER_DIR="$work/farm-7/user" RUNCOMFY_OUTPUT_DIR="$work/farm-7/output"
              RUNCOMFY_MACHINE=farm-7 RUNCOMFY_MEMBER=ben)
  (cd "$pack" && "${farm[@]}" "$pack_py" tests/child_run.py RunComfy_Wan26_ImageToImage --seed 1) \
    > "$work/farm-7.json" 2> "$work/farm-7.log" || true
  grep -q '"request_id"' "$work/farm-7.json" \
    || { echo "farm-7's job did not run:"; tail -n 3 "$work/farm-7.json" "$work/farm-7.log"; return 1; }
  echo "farm-7 (ben) ran $(grep -o '"request_id": "[^"]*"' "$work/farm-7.json") on the team journal"
  # the budget after farm-7's job: a process that has not fetched the catalog's prices (as
  # child_run.py) cannot estimate a job, and under a limit refuses it unpriced
  (cd "$pack" && "${farm[@]}" "$pack_py" -m nodes.journal budget 10) > "$work/team-budget.log" 2>&1 \
    || { echo "the team budget could not be set:"; tail -n 5 "$work/team-budget.log"; return 1; }
  team_ready=1
}

start_comfy() {   # plain: the folders above; team: studio-a's, on the team journal as ana
  local mode="$1" user="$work/user" output="$work/output" log="$work/comfyui.log" extra=()
  if [ "$mode" = team ]; then
    user="$work/studio-a/user"; output="$work/studio-a/output"; log="$work/comfyui-team.log"
    extra=(RUNCOMFY_JOURNAL_URL="$team_url" RUNCOMFY_MEMBER=ana RUNCOMFY_MACHINE=studio-a
           RUNCOMFY_MEMBER_DAILY_LIMIT_USD=5)
  fi
  if curl -sf -o /dev/null "http://127.0.0.1:$comfy_port/system_stats"; then
    echo "port $comfy_port already answers (another ComfyUI?): stop it first"; return 1
  fi
  (cd "$COMFYUI_DIR" && exec env RUNCOMFY_BASE_URL="$sim_url" RUNCOMFY_API_TOKEN=sim-token "${extra[@]}" \
    "$comfy_py" main.py --cpu --listen 127.0.0.1 --port "$comfy_port" \
      --user-directory "$user" --output-directory "$output" --input-directory "$work/input" \
      --database-url "sqlite:///$user/comfyui.db" --disable-auto-launch) > "$log" 2>&1 &
  comfy_pid=$!; comfy_mode="$mode"
  for _ in $(seq 1 240); do
    curl -sf -o /dev/null "http://127.0.0.1:$comfy_port/system_stats" && return 0
    kill -0 "$comfy_pid" 2>/dev/null || { echo "ComfyUI stopped:"; tail -30 "$log"; comfy_pid=""; return 1; }
    sleep 0.5
  done
  echo "ComfyUI did not answer in 120 s:"; tail -30 "$log"; return 1
}

# The scripts share the ComfyUI and its settings: after check.mjs (whose last check turns Nodes 2.0
# on), catalog.mjs runs on the Vue node renderer; alone (SCRIPT=catalog.mjs), on the canvas one.
# panel.mjs picks each renderer and palette itself and leaves the settings as it found them.
# team.mjs gets a ComfyUI of its own (on the team journal, with fresh settings).
status=0
for script in $scripts; do
  echo "== $script"
  mode=plain; [ "$(basename "$script")" = team.mjs ] && mode=team
  if [ "$mode" = team ] && [ -z "$team_ready" ]; then
    start_team || { echo "FAIL $script: the team journal could not be prepared"; status=1; continue; }
  fi
  if [ "$comfy_mode" != "$mode" ]; then
    stop_comfy
    start_comfy "$mode" || { echo "FAIL $script: ComfyUI did not start"; status=1; continue; }
  fi
  secret=(); [ "$mode" = team ] && secret=(PG_PASSWORD="$team_password")
  env NODE_PATH="$PLAYWRIGHT_DIR/node_modules" OUT_DIR="$work" CHROMIUM="${CHROMIUM:-/usr/bin/chromium}" \
    SIM_URL="$sim_url" "${secret[@]}" node "$pack/tools/web_check/$script" "http://127.0.0.1:$comfy_port" \
    || status=1
done
exit "$status"
