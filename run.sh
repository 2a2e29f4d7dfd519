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

# The tests start a throw-away PostgreSQL server (tools/postgres.py): its programs must be
# here.  Looked for as tools/postgres.py does; installed (Debian/Ubuntu) when missing.
pg_server_found() {
  local bindir
  bindir="$(pg_config --bindir 2>/dev/null || true)"
  if [ -n "$bindir" ] && [ -x "$bindir/initdb" ]; then return 0; fi
  if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then return 0; fi
  command -v initdb >/dev/null
}
postgres_server() {
  pg_server_found && return 0
  install='apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null'
  if [ "$(id -u)" = 0 ]; then
    sh -c "$install"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo -n sh -c "$install"
  else
    echo "PostgreSQL's server is not installed, and installing it needs root or sudo: apt-get install postgresql" >&2
    exit 1
  fi
  pg_server_found || { echo "PostgreSQL's server is still not found after installing it" >&2; exit 1; }
}

cmd="${1:-}"; shift || true
case "$cmd" in
  demo)      setup; cd "$here"; exec "$py" -m tools.demo "$@" ;;
  test)      setup; postgres_server; cd "$here"; exec "$py" -m pytest -q "$@" ;;
  bench)     setup; postgres_server; cd "$here"; for b in bench/bench_*.py; do "$py" "$b"; done ;;
  simulator) setup; cd "$here"; exec "$py" -m simulator "$@" ;;
  *) echo "usage: ./run.sh demo | test | bench | simulator" >&2; exit 2 ;;
esac
