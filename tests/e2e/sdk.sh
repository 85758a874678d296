#!/usr/bin/env bash
# The official Python SDK against the simulator: starts
# `$WORK_EXPORTER_BIN simulate` on a free loopback port with a static
# population and SDK-shaped paging (`""` ending every list, an empty page
# before the first page and now and then between pages), starts the exporter
# on the same simulator (discovery with a keys directory and a workspace id,
# small pages), runs tests/sdk/test_sdk.py with the `python` on PATH (the
# .venv with `anthropic` that scripts/test puts first), and stops both.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash" "${E2E_NAME:-sdk}"
e2e_scratch
need_python_module anthropic

# No healthcheck items: SDK 2.14 types `data` as a session only (Literal["session"]), so its
# strict response validation, which this suite turns on, would refuse them.
simulate --environments 2 --items-per-environment 40 --workers 0 --arrivals-per-minute 0 \
  --healthcheck-interval 0s --empty-page-every 3

# The exporter reads the same simulator: every environment by discovery, keys
# from a directory, pages of 7 items (so several pages and empty ones).
sim_keys_dir
exporter_port=$(free_port)
ANTHROPIC_API_KEY=$sim_api_key \
ANTHROPIC_WORKSPACE_ID=wrkspc_sdk_suite \
  background exporter "$bin" --web.listen-address "127.0.0.1:$exporter_port" --api.base-url "http://127.0.0.1:$sim_port" \
  --discovery.enabled --discovery.keys-dir "$tmp/keys" --refresh.interval 2s \
  --list.page-size 7 --api.max-requests-per-second 100

"$python" tests/sdk/test_sdk.py "$tmp/credentials.json" "http://127.0.0.1:$exporter_port"
passed
