# Shared by the end-to-end suites: sourced, never run (scripts/test runs
# tests/e2e/*.sh only). After `source tests/e2e/lib/common.bash NAME`:
#   $root    the repository, also the working directory
#   $bin     the exporter: $WORK_EXPORTER_BIN, else the dev build in cargo's
#            target directory (wherever CARGO_TARGET_DIR puts it)
#   $python  $WORK_EXPORTER_PYTHON, else python3
# and the functions below. After `e2e_scratch` (suites that start their own
# processes from bash):
#   $tmp     a scratch directory, removed on exit
#   pids     processes started with `background`, stopped on exit; on failure
#            the tail of each one's log is printed

e2e_name=${1:?"source common.bash with the suite's name"}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cd "$root"
python=${WORK_EXPORTER_PYTHON:-python3}
e2e_started=$SECONDS

fail() { echo "FAIL ($e2e_name): $*" >&2; exit 1; }

if [ -z "${WORK_EXPORTER_BIN:-}" ]; then
  WORK_EXPORTER_BIN="$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
    | "$python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/debug/anthropic-work-exporter"
fi
bin=$WORK_EXPORTER_BIN
[ -x "$bin" ] || fail "exporter binary $bin not found (run cargo build, or set WORK_EXPORTER_BIN)"

# e2e_scratch: a scratch directory and the processes of `background`, both
# cleaned up on exit.
e2e_scratch() {
  tmp=$(mktemp -d)
  pids=()
  logs=()
  trap e2e_cleanup EXIT INT TERM
}
e2e_cleanup() {
  local rc=$?
  local pid log
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ $rc -ne 0 ]; then
    for log in "${logs[@]}"; do
      echo "--- $(basename "$log" .log) log (tail)" >&2; tail -n 20 "$log" >&2 2>/dev/null || true
    done
  fi
  rm -rf "$tmp"
  exit $rc
}

# background LOG COMMAND...: run COMMAND with its output in $tmp/LOG.log, stopped on exit.
background() {
  local log="$tmp/$1.log"; shift
  "$@" >"$log" 2>&1 &
  pids+=($!)
  logs+=("$log")
}

free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_http URL SECONDS: until URL answers 2xx.
wait_http() {
  local i
  for ((i = 0; i < $2 * 5; i++)); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

# simulate FLAGS...: the simulator on a free loopback port with FLAGS, its
# credentials in $tmp/credentials.json; returns once it listens (fails when it
# exits first) with its port in $sim_port.
simulate() {
  sim_port=$(free_port)
  background sim "$bin" simulate --listen-address "127.0.0.1:$sim_port" \
    --credentials-out "$tmp/credentials.json" "$@"
  local pid=${pids[-1]} i
  for ((i = 0; i < 100; i++)); do
    [ -s "$tmp/credentials.json" ] && "$python" -c "import socket; socket.create_connection(('127.0.0.1', $sim_port), 1)" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || fail "the simulator exited early"
    sleep 0.1
  done
  fail "the simulator did not start on 127.0.0.1:$sim_port"
}

# need_python_module NAME: the suite's python has it (scripts/test's virtualenv does).
need_python_module() {
  "$python" -c "import $1" 2>/dev/null || fail "$python has no $1 (scripts/test installs tests/requirements.txt)"
}

# passed: the suite's closing line.
passed() { echo "$e2e_name: ok in $((SECONDS - e2e_started))s"; }

# Runs a Python suite that starts its own exporter, Prometheus and Alertmanager
# on the shipped rules (alert_drill.StackRun: mixed_fleet, metadata_routing),
# in a scratch directory, killed after SECONDS.
stack_suite() { # script.py seconds
  command -v prometheus >/dev/null || fail "prometheus not installed (apt-get install prometheus)"
  command -v jsonnet >/dev/null || fail "jsonnet not installed (apt-get install jsonnet)"
  local am workdir rc=0
  am=$(command -v prometheus-alertmanager || command -v alertmanager || true)
  [ -n "$am" ] || fail "Alertmanager not installed (apt-get install prometheus-alertmanager)"
  workdir=$(mktemp -d "${TMPDIR:-/tmp}/$e2e_name.XXXXXX")
  timeout --signal=TERM --kill-after=20 "$2" \
    "$python" "$1" --bin "$bin" --alertmanager "$am" \
    --prometheus "$(command -v prometheus)" --workdir "$workdir" || rc=$?
  rm -rf "$workdir"
  return "$rc"
}

# One key file per environment of the simulator's credentials in $tmp/keys (the
# exporter's --discovery.keys-dir), and the API key in $sim_api_key.
sim_keys_dir() {
  mkdir -p "$tmp/keys"
  "$python" - "$tmp/credentials.json" "$tmp/keys" <<'PY'
import json, pathlib, sys
creds = json.load(open(sys.argv[1]))
for e in creds["environments"]:
    (pathlib.Path(sys.argv[2]) / e["id"]).write_text(e["key"])
PY
  sim_api_key=$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["api_key"])' "$tmp/credentials.json")
}
