#!/usr/bin/env bash
# The official Python SDK against the simulator: starts
# `$WORK_EXPORTER_BIN simulate` on a free loopback port with a static
# population, runs tests/sdk/test_sdk.py with the `python` on PATH (the
# .venv with `anthropic` that scripts/test puts first), and stops it.
set -euo pipefail
cd "$(dirname "$0")/../.."

bin=${WORK_EXPORTER_BIN:-target/release/anthropic-work-exporter}
if [ ! -x "$bin" ]; then
  echo "sdk.sh: $bin is not built; run cargo build --release or set WORK_EXPORTER_BIN" >&2
  exit 1
fi
python -c 'import anthropic' || { echo "sdk.sh: the python on PATH has no anthropic SDK" >&2; exit 1; }

tmp=$(mktemp -d)
sim_pid=
cleanup() {
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# No healthcheck items: SDK 2.14 types `data` as a session only (Literal["session"]), so its
# strict response validation, which this suite turns on, would refuse them.
"$bin" simulate --listen-address "127.0.0.1:$port" --credentials-out "$tmp/credentials.json" \
  --environments 2 --items-per-environment 40 --workers 0 --arrivals-per-minute 0 --healthcheck-interval 0s \
  >"$tmp/sim.log" 2>&1 &
sim_pid=$!

for _ in $(seq 1 100); do
  [ -s "$tmp/credentials.json" ] && python -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
  if ! kill -0 "$sim_pid" 2>/dev/null; then
    echo "sdk.sh: the simulator exited early:" >&2; cat "$tmp/sim.log" >&2; exit 1
  fi
  sleep 0.1
done
[ -s "$tmp/credentials.json" ] || { echo "sdk.sh: the simulator did not start" >&2; cat "$tmp/sim.log" >&2; exit 1; }

status=0
python tests/sdk/test_sdk.py "$tmp/credentials.json" || status=$?
if [ $status -ne 0 ]; then
  echo "--- simulator log" >&2; tail -n 50 "$tmp/sim.log" >&2
fi
exit $status
