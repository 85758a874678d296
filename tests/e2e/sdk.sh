#!/usr/bin/env bash
# The official Python SDK against the simulator: starts
# `$WORK_EXPORTER_BIN simulate` on a free loopback port with a static
# population and SDK-shaped paging (`""` ending every list, an empty page
# before the first page and now and then between pages), starts the exporter
# on the same simulator (discovery with a keys directory and a workspace id,
# small pages), runs tests/sdk/test_sdk.py with the `python` on PATH (the
# .venv with `anthropic` that scripts/test puts first), and stops both.
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
exporter_pid=
cleanup() {
  for pid in $exporter_pid $sim_pid; do
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
# No healthcheck items: SDK 2.14 types `data` as a session only (Literal["session"]), so its
# strict response validation, which this suite turns on, would refuse them.
"$bin" simulate --listen-address "127.0.0.1:$port" --credentials-out "$tmp/credentials.json" \
  --environments 2 --items-per-environment 40 --workers 0 --arrivals-per-minute 0 --healthcheck-interval 0s \
  --empty-page-every 3 \
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

# The exporter reads the same simulator: every environment by discovery, keys
# from a directory, pages of 7 items (so several pages and empty ones).
mkdir -p "$tmp/keys"
python - "$tmp/credentials.json" "$tmp/keys" <<'PY'
import json, pathlib, sys
creds = json.load(open(sys.argv[1]))
for e in creds["environments"]:
    (pathlib.Path(sys.argv[2]) / e["id"]).write_text(e["key"])
PY
exporter_port=$(free_port)
ANTHROPIC_API_KEY=$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["api_key"])' "$tmp/credentials.json") \
ANTHROPIC_WORKSPACE_ID=wrkspc_sdk_suite \
  "$bin" --web.listen-address "127.0.0.1:$exporter_port" --api.base-url "http://127.0.0.1:$port" \
  --discovery.enabled --discovery.keys-dir "$tmp/keys" --refresh.interval 2s \
  --list.page-size 7 --api.max-requests-per-second 100 \
  >"$tmp/exporter.log" 2>&1 &
exporter_pid=$!

status=0
python tests/sdk/test_sdk.py "$tmp/credentials.json" "http://127.0.0.1:$exporter_port" || status=$?
if [ $status -ne 0 ]; then
  echo "--- simulator log" >&2; tail -n 50 "$tmp/sim.log" >&2
  echo "--- exporter log" >&2; tail -n 50 "$tmp/exporter.log" >&2
fi
exit $status
