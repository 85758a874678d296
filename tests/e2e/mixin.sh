#!/usr/bin/env bash
# The monitoring mixin (mixin/), checked three ways:
#   1. drift: jsonnet renders byte-identical alerts/, dashboards/ and the
#      kustomize component (deploy/kubernetes/components/monitoring/);
#   2. the promtool tests pin the settings: the mixin rendered as is passes
#      alerts/tests/, and rendered with any one threshold, window or `for:`
#      changed in _config it fails them;
#   3. _config reaches the output: other runbook and Grafana URLs replace
#      every default one in the rules and the dashboards.
# Needs: jsonnet (Debian's package; scripts/test installs it), promtool,
# python3 with PyYAML (the project venv's, first on PATH under scripts/test).
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${WORK_EXPORTER_PYTHON:-python3}
for tool in jsonnet promtool; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not installed (Debian: jsonnet, prometheus)" >&2; exit 1; }
done

failed=0
ok() { echo "ok    $*"; }
bad() { echo "FAIL  $*"; failed=$((failed + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== drift"
if "$python" mixin/render.py --check; then ok "the checked-in files are what mixin/ renders"; else bad "generated files drifted from mixin/"; fi

# Renders the mixin's rules with `config` merged into _config into $tmp/$name,
# beside a copy of the promtool tests, and runs the given test files there.
render_and_test() {
  local name=$1 config=$2 out="$tmp/$1"; shift 2
  mkdir -p "$out/alerts"
  cp -r alerts/tests "$out/alerts/tests"
  "$python" mixin/render.py --rules-only --out "$out" --config "$config" || return 2
  # `all`: every test file (globbed there, not here).
  (cd "$out/alerts/tests" && if [ "$1" = all ]; then promtool test rules ./*.yml; else promtool test rules "$@"; fi) \
    >"$out/promtool.log" 2>&1
}

echo "== the promtool tests pin the mixin's settings"
if render_and_test as-shipped '{}' all; then ok "rendered as shipped: every promtool test passes"; else
  bad "rendered as shipped, the promtool tests fail"; tail -30 "$tmp/as-shipped/promtool.log"; fi
# Each change of one setting, and the test file that must catch it.
mutants=(
  "queue-lag-warning|{thresholds+: {queue_lag_warning_seconds: 400}}|queue.test.yml"
  "queue-lag-critical|{thresholds+: {queue_lag_critical_seconds: 1500}}|queue.test.yml"
  "backlog-depth|{thresholds+: {backlog_depth_items: 60}}|thresholds.test.yml"
  "pending|{thresholds+: {pending_items: 3}}|thresholds.test.yml"
  "stuck-stopping|{thresholds+: {stuck_stopping_seconds: 900}}|thresholds.test.yml"
  "time-to-drain|{thresholds+: {time_to_drain_seconds: 3700}}|capacity.test.yml"
  "stale-heartbeat|{thresholds+: {stale_heartbeat_seconds: 120}}|heartbeats.test.yml"
  "stale-heartbeat-for|{'for'+: {heartbeatsStale: '1m'}}|heartbeats.test.yml"
  "no-workers-wait|{noWorkersWaitSeconds: 120}|workers.test.yml"
  "no-workers-window|{noWorkersPickupWindow: '1m'}|healthchecks.test.yml"
  "no-workers-for|{'for'+: {noWorkers: '2m'}}|workers.test.yml"
  "capacity-keep-firing|{capacityExhaustedKeepFiringFor: '5m'}|capacity.test.yml"
  "rate-limited|{rateLimitedRatio: 0.5}|exporter.test.yml"
  "slo-min-events|{slo+: {minEvents: 50}}|slo.test.yml"
  "slo-objective|{slo+: {objective: 0.95}}|slo.test.yml"
  "slo-fast-for|{slo+: {'for'+: {critical: '10m'}}}|slo.test.yml"
  "slo-slow-factor|{slo+: {burns: [b + (if b.long == '3d' then {factor: 2} else {}) for b in super.burns]}}|slo_slow.test.yml"
)
for m in "${mutants[@]}"; do
  IFS='|' read -r name config file <<<"$m"
  set +e; render_and_test "$name" "$config" "$file"; rc=$?; set -e
  case $rc in
    0) bad "$config: $file still passes (nothing pins it)" ;;
    1) ok "$config: $file catches it ($(grep -c 'alertname:' "$tmp/$name/promtool.log") failed checks)" ;;
    *) bad "$config: the mixin did not render" ;;
  esac
done

echo "== _config reaches the output"
out="$tmp/urls"
"$python" mixin/render.py --out "$out" --config "{runbookURLBase: 'https://wiki.example.com/rb', grafanaURL: 'https://grafana.example.com'}"
rules="$out/alerts/anthropic-work-exporter.rules.yml"
if grep -q 'github.com/anthropic-work-exporter\|localhost:3000' "$rules" "$out"/dashboards/*.json; then
  bad "a default URL is left in the rules or dashboards"; grep -n 'github.com/anthropic-work-exporter\|localhost:3000' "$rules" "$out"/dashboards/*.json | head -5
else ok "no default runbook or Grafana URL left"; fi
if grep -q 'runbook_url: https://wiki.example.com/rb#anthropicworknoworkers' "$rules" \
  && grep -q 'https://grafana.example.com/d/awe-environment' "$rules" \
  && grep -q '"https://wiki.example.com/rb#anthropicworkqueuelag"' "$out/dashboards/environment.json"; then
  ok "the rules and the dashboards link to the configured runbook and Grafana URLs"
else bad "the configured URLs are not in the output"; fi
if promtool check rules "$rules" >/dev/null; then ok "promtool accepts the rules rendered with other URLs"; else bad "promtool rejects them"; fi

if [ $failed -gt 0 ]; then echo "mixin: FAIL ($failed)"; exit 1; fi
echo "mixin: PASS"
