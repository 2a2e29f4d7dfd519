#!/usr/bin/env bash
# Sets up a private virtual environment on first use, then runs one job:
#   ./run.sh demo [args]       the full path against the bundled simulator (writes MP4, frames, contact sheet)
#   ./run.sh test [pytest args] the test suite
#   ./run.sh bench             the benchmarks (speed and memory, with same-run references)
#   ./run.sh simulator [args]  the RunComfy-compatible simulator on 127.0.0.1
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${RUNCOMFY_VENV:-$here/.venv}"
py="$venv/bin/python"

setup() {
  if [ ! -x "$py" ]; then
    python3 -m venv "$venv"
  fi
  stamp="$venv/.requirements-$(cat "$here/requirements.txt" "$here/requirements-dev.txt" | cksum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ]; then
    "$py" -m pip install --quiet --disable-pip-version-check -r "$here/requirements-dev.txt"
    touch "$stamp"
  fi
}

cmd="${1:-}"; shift || true
case "$cmd" in
  demo)      setup; cd "$here"; exec "$py" -m tools.demo "$@" ;;
  test)      setup; cd "$here"; exec "$py" -m pytest -q "$@" ;;
  bench)     setup; cd "$here"; for b in bench/bench_*.py; do "$py" "$b"; done ;;
  simulator) setup; cd "$here"; exec "$py" -m simulator "$@" ;;
  *) echo "usage: ./run.sh demo | test | bench | simulator" >&2; exit 2 ;;
esac
