#!/usr/bin/env bash
# The official SDK worker (anthropic 2.14 EnvironmentWorker) against the
# simulator's healthcheck items: starts `$WORK_EXPORTER_BIN simulate` on a
# free loopback port with healthchecks every second and nothing else, runs
# tests/sdk/test_worker_healthcheck.py with the `python` on PATH (the .venv
# with `anthropic`), and stops it. Proves the simulated items are ones the
# SDK worker handles, and that it leaves them as the simulator's workers do.
set -euo pipefail
cd "$(dirname "$0")/../.."

bin=${WORK_EXPORTER_BIN:-target/release/anthropic-work-exporter}
if [ ! -x "$bin" ]; then
  echo "sdk_healthcheck.sh: $bin is not built; run cargo build --release or set WORK_EXPORTER_BIN" >&2
  exit 1
fi
python -c 'import anthropic' || { echo "sdk_healthcheck.sh: the python on PATH has no anthropic SDK" >&2; exit 1; }

tmp=$(mktemp -d)
sim_pid=
cleanup() {
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" simulate --listen-address "127.0.0.1:$port" --credentials-out "$tmp/credentials.json" \
  --environments 1 --workers 0 --arrivals-per-minute 0 --healthcheck-interval 1s \
  >"$tmp/sim.log" 2>&1 &
sim_pid=$!

for _ in $(seq 1 100); do
  [ -s "$tmp/credentials.json" ] && python -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
  if ! kill -0 "$sim_pid" 2>/dev/null; then
    echo "sdk_healthcheck.sh: the simulator exited early:" >&2; cat "$tmp/sim.log" >&2; exit 1
  fi
  sleep 0.1
done
[ -s "$tmp/credentials.json" ] || { echo "sdk_healthcheck.sh: the simulator did not start" >&2; cat "$tmp/sim.log" >&2; exit 1; }

python tests/sdk/test_worker_healthcheck.py "$tmp/credentials.json"
