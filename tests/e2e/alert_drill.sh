#!/usr/bin/env bash
# End-to-end alert drill: the exporter's demo, real Prometheus and real
# Alertmanager on loopback, a webhook receiver; workers-down, stale-heartbeats
# and api-down must each deliver their alert (with the drill-down link) and
# resolve; saturated must not deliver the no-workers alert. The simulator runs
# on a manual clock the drill moves (simulated minutes at once where a scenario
# needs them), so the drill takes well under a minute; bounded to a few minutes;
# every process is stopped on exit. Details: tests/e2e/alert_drill.py.
#
# Needs: the exporter (tests/e2e/lib/common.bash finds it), prometheus and prometheus-alertmanager (Debian packages; scripts/test installs them).
# KEEP_DRILL_DIR=1 keeps the temporary directory (configs, process logs).
set -euo pipefail
source "$(dirname "$0")/lib/common.bash" alert_drill
command -v prometheus >/dev/null || fail "prometheus not installed (apt-get install prometheus)"
am=$(command -v prometheus-alertmanager || command -v alertmanager || true)
[ -n "$am" ] || fail "Alertmanager not installed (apt-get install prometheus-alertmanager)"

workdir=$(mktemp -d "${TMPDIR:-/tmp}/alert-drill.XXXXXX")
drill_pid=
cleanup() {
  if [ -n "$drill_pid" ] && kill -0 "$drill_pid" 2>/dev/null; then
    kill -TERM "$drill_pid" 2>/dev/null || true
    wait "$drill_pid" 2>/dev/null || true
  fi
  if [ "${KEEP_DRILL_DIR:-0}" = 1 ]; then echo "kept $workdir"; else rm -rf "$workdir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The python drill stops its own processes; `timeout` is the last resort
# (240 s: the drill's own deadline is 150 s).
timeout --signal=TERM --kill-after=20 240 \
  "$python" tests/e2e/alert_drill.py --bin "$bin" --alertmanager "$am" \
  --prometheus "$(command -v prometheus)" --workdir "$workdir" &
drill_pid=$!
rc=0
wait "$drill_pid" || rc=$?
drill_pid=
exit "$rc"
