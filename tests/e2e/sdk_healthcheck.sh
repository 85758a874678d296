#!/usr/bin/env bash
# The official SDK worker (the installed anthropic's EnvironmentWorker: 2.14
# and 2.17 in ./scripts/test's matrix) against the simulator's healthcheck and
# session items: starts `$WORK_EXPORTER_BIN simulate` on a free loopback port
# with healthchecks every simulated second, a session every three, no simulated
# workers and a manual clock; starts
# the exporter on it; runs tests/sdk/test_worker_healthcheck.py with the
# `python` on PATH, which moves the clock while the worker runs, checks what the
# worker left (by its generation) and compares the exporter's figures with the
# ground truth; stops both.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash" "${E2E_NAME:-sdk_healthcheck}"
e2e_scratch
need_python_module anthropic
need_python_module prometheus_client

simulate --environments 1 --workers 0 --arrivals-per-minute 20 --healthcheck-interval 1s --clock manual

sim_keys_dir
exporter_port=$(free_port)
ANTHROPIC_API_KEY=$sim_api_key \
  background exporter "$bin" --web.listen-address "127.0.0.1:$exporter_port" --api.base-url "http://127.0.0.1:$sim_port" \
  --discovery.enabled --discovery.keys-dir "$tmp/keys" --refresh.interval 1s
wait_http "http://127.0.0.1:$exporter_port/metrics" 20 || fail "the exporter did not start"

"$python" tests/sdk/test_worker_healthcheck.py "$tmp/credentials.json" "http://127.0.0.1:$exporter_port"
passed
