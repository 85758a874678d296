#!/usr/bin/env bash
# The local monitoring stack (deploy/compose/), checked without a container
# engine: the compose file parses and mounts only paths that exist, promtool
# checks the Prometheus configuration with the rules of alerts/ as the container
# resolves them, amtool checks the Alertmanager configuration, and Grafana's
# provisioning files have the structure Grafana reads. A self-test breaks
# copies of the stack and requires every fault to be caught.
# `docker compose up` itself is not run (see deploy/compose/README.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${WORK_EXPORTER_PYTHON:-python3}
started=$SECONDS

echo "== compose stack"
"$python" tests/compose/check_compose.py
echo "== selftest: the compose check catches broken stacks"
"$python" tests/compose/check_compose.py selftest
echo "compose: ok in $((SECONDS - started))s"
