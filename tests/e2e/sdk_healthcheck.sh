#!/usr/bin/env bash
# The official SDK worker (anthropic 2.14 EnvironmentWorker) against the
# simulator's healthcheck items: starts `$WORK_EXPORTER_BIN simulate` on a
# free loopback port with healthchecks every second and nothing else, runs
# tests/sdk/test_worker_healthcheck.py with the `python` on PATH (the .venv
# with `anthropic`), and stops it. Proves the simulated items are ones the
# SDK worker handles, and that it leaves them as the simulator's workers do.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash" sdk_healthcheck
e2e_scratch
need_python_module anthropic

simulate --environments 1 --workers 0 --arrivals-per-minute 0 --healthcheck-interval 1s

"$python" tests/sdk/test_worker_healthcheck.py "$tmp/credentials.json"
passed
