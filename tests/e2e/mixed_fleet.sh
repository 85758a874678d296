#!/usr/bin/env bash
# Mixed fleet (issue 16): one rules file serves two environments with the same
# backlog and different queue-lag thresholds (from the exporter's config
# file); only the tight one pages, through a real Prometheus and Alertmanager.
# Needs: $WORK_EXPORTER_BIN, prometheus, Alertmanager, jsonnet, python3 with
# PyYAML (mixin/render.py). tests/e2e/mixed_fleet.py says what is checked.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "mixed fleet: FAIL: $*" >&2; exit 1; }
bin=${WORK_EXPORTER_BIN:-target/debug/anthropic-work-exporter}
[ -x "$bin" ] || fail "exporter binary not found at $bin (cargo build, or set WORK_EXPORTER_BIN)"
command -v prometheus >/dev/null || fail "prometheus not installed (apt-get install prometheus)"
command -v jsonnet >/dev/null || fail "jsonnet not installed (apt-get install jsonnet)"
am=$(command -v prometheus-alertmanager || command -v alertmanager || true)
[ -n "$am" ] || fail "Alertmanager not installed (apt-get install prometheus-alertmanager)"
python=${WORK_EXPORTER_PYTHON:-python3}

workdir=$(mktemp -d "${TMPDIR:-/tmp}/mixed-fleet.XXXXXX")
trap 'rm -rf "$workdir"' EXIT
timeout --signal=TERM --kill-after=20 300 \
  "$python" tests/e2e/mixed_fleet.py --bin "$bin" --alertmanager "$am" \
  --prometheus "$(command -v prometheus)" --workdir "$workdir"
