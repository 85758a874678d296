#!/usr/bin/env bash
# Static checks of the alerting package: promtool check rules, promtool test
# rules (every alert firing and not firing), amtool check-config and routing
# checks of the example Alertmanager config. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

for tool in promtool amtool; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not installed (Debian: prometheus, prometheus-alertmanager)" >&2; exit 1; }
done

failed=0
step() {
  local name=$1; shift
  echo "--> $name"
  if "$@"; then echo "    ok"; else echo "    FAILED: $name"; failed=$((failed + 1)); fi
}

rules=(alerts/*.yml)
tests=(alerts/tests/*.yml)
am=deploy/alertmanager/alertmanager.yml
[ -e "${rules[0]}" ] || { echo "FAIL: no rule files in alerts/" >&2; exit 1; }
[ -e "${tests[0]}" ] || { echo "FAIL: no unit tests in alerts/tests/" >&2; exit 1; }

step "promtool check rules" promtool check rules "${rules[@]}"
step "promtool test rules" promtool test rules "${tests[@]}"
step "amtool check-config" amtool check-config "$am"

# Every alert in the rules is tested firing (exp_alerts with an alert) and not
# firing (exp_alerts: []) somewhere in the unit tests, and has a runbook section.
coverage() {
  local bad=0 name
  for name in $(grep -ho 'alert: AnthropicWork[A-Za-z]*' "${rules[@]}" | sort -u | cut -d' ' -f2); do
    # Read into a variable first: `grep ... | grep -q` under pipefail fails at random when
    # `grep -q` exits on its first match and the writer gets SIGPIPE (a flake seen here).
    local cases
    cases=$(grep -h -A2 "alertname: $name\$" "${tests[@]}" || true)
    if ! grep -q 'exp_alerts:$' <<<"$cases"; then
      echo "    $name: no test where it fires"; bad=1
    fi
    if ! grep -q 'exp_alerts: \[\]' <<<"$cases"; then
      echo "    $name: no test where it stays silent"; bad=1
    fi
    local anchor
    anchor=$(echo "$name" | tr '[:upper:]' '[:lower:]')
    if ! grep -q "^## $name\$" docs/runbooks.md || ! grep -q "id=\"$anchor\"" docs/runbooks.md; then
      echo "    $name: no runbook section '## $name' with anchor '$anchor' in docs/runbooks.md"; bad=1
    fi
    if ! grep -qE "runbooks.md#$anchor(\"|\$)" "${rules[@]}"; then
      echo "    $name: runbook_url does not point at #$anchor"; bad=1
    fi
  done
  return $bad
}
step "every alert tested firing and silent, with a runbook" coverage

# Routing of the example config: severity picks the receiver.
route() {
  local want=$1; shift
  local got
  got=$(amtool config routes test --config.file="$am" "$@" 2>/dev/null)
  [ "$got" = "$want" ] || { echo "    labels $* -> $got, want $want"; return 1; }
}
routing() {
  route anthropic-work-pager alertname=AnthropicWorkNoWorkers severity=critical environment_id=env_a &&
  route anthropic-work-team alertname=AnthropicWorkLeasesExpired severity=warning environment_id=env_a &&
  route anthropic-work-pager alertname=AnthropicWorkExporterAbsent severity=critical job=anthropic-work-exporter &&
  route anthropic-work-team alertname=AnthropicWorkApiRateLimited severity=warning job=anthropic-work-exporter instance=x:9781 &&
  route payments-pager alertname=AnthropicWorkNoWorkers severity=critical environment_id=env_a team=payments &&
  route payments-team alertname=AnthropicWorkLeasesExpired severity=warning environment_id=env_a team=payments &&
  route anthropic-work-pager alertname=AnthropicWorkNoWorkers severity=critical environment_id=env_b team=search
}
step "Alertmanager routing by severity and by team" routing

if [ $failed -gt 0 ]; then
  echo "alert rules: FAIL ($failed step(s) failed)"
  exit 1
fi
echo "alert rules: PASS"
