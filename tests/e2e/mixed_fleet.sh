#!/usr/bin/env bash
# Mixed fleet (issue 16): one rules file serves two environments with the same
# backlog and different queue-lag thresholds (from the exporter's config
# file); only the tight one pages, through a real Prometheus and Alertmanager.
# Needs: the exporter (tests/e2e/lib/common.bash finds it), prometheus, Alertmanager, jsonnet, python3 with
# PyYAML (mixin/render.py). tests/e2e/mixed_fleet.py says what is checked.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash" mixed_fleet
stack_suite tests/e2e/mixed_fleet.py 300
