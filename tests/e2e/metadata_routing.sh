#!/usr/bin/env bash
# Routing by owner (issue 21): a discovered environment whose metadata says
# `team: payments` pages with team="payments", delivered by the example
# Alertmanager config's team route, through a real Prometheus and Alertmanager;
# the other environment (team: search) reaches the default pager. About 15 s.
# Needs: the exporter (tests/e2e/lib/common.bash finds it), prometheus, Alertmanager, jsonnet, python3 with
# PyYAML (mixin/render.py). tests/e2e/metadata_routing.py says what is checked.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash" metadata_routing
stack_suite tests/e2e/metadata_routing.py 240
passed
