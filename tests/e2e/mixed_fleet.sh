#!/usr/bin/env bash
# Mixed fleet (issue 16): one rules file serves two environments with the same
# backlog and different queue-lag thresholds (from the exporter's config
# file); only the tight one pages, through a real Prometheus and Alertmanager.
# Needs: the exporter (tests/e2e/lib/common.bash finds it), prometheus, Alertmanager, jsonnet, python3 with
# PyYAML (mixin/render.py). tests/e2e/mixed_fleet.py says what is checked.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash" mixed_fleet
command -v prometheus >/dev/null || fail "prometheus not installed (apt-get install prometheus)"
command -v jsonnet >/dev/null || fail "jsonnet not installed (apt-get install jsonnet)"
am=$(command -v prometheus-alertmanager || command -v alertmanager || true)
[ -n "$am" ] || fail "Alertmanager not installed (apt-get install prometheus-alertmanager)"

workdir=$(mktemp -d "${TMPDIR:-/tmp}/mixed-fleet.XXXXXX")
trap 'rm -rf "$workdir"' EXIT
timeout --signal=TERM --kill-after=20 300 \
  "$python" tests/e2e/mixed_fleet.py --bin "$bin" --alertmanager "$am" \
  --prometheus "$(command -v prometheus)" --workdir "$workdir"
