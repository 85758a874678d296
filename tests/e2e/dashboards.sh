#!/usr/bin/env bash
# Dashboards, verified: the JSON has what Grafana needs to import it unchanged,
# and every panel query parses and returns data against a real Prometheus
# (Debian's package) scraping the exporter in demo mode.
#
#   1. structure + selftest (tests/dashboards/check_dashboards.py, stdlib only)
#   2. demo on a free loopback port, refreshing every 2 s; one environment is
#      switched to api-flaky so error, retry and failure series move too
#   3. Prometheus scraping it every 2 s into a temporary TSDB, twice: as is
#      (OpenMetrics, classic buckets) and with --enable-feature=native-histograms
#      (protobuf, the lifecycle histograms stored only as native histograms)
#   4. against each, every target of every panel (and every annotation query) run through
#      /api/v1/query with the template variables substituted: must parse and
#      return data unless the panel says "Empty when healthy: <reason>"
#
# Needs: the exporter (tests/e2e/lib/common.bash finds it),
# prometheus on PATH, python3 (the project venv's, first on PATH under scripts/test).
set -euo pipefail
source "$(dirname "$0")/lib/common.bash" dashboards
e2e_scratch
check="$python $root/tests/dashboards/check_dashboards.py"
scrape=2            # seconds: Prometheus scrape interval (and the demo's refresh interval)
rate_window=30s     # what $__rate_interval becomes: 15 scrapes
command -v prometheus >/dev/null || fail "prometheus not on PATH (scripts/test installs Debian's package)"

echo "== structure"
$check structure
echo "== selftest: the structure check catches broken dashboards"
$check selftest

echo "== demo"
eport=$(free_port)
background demo "$bin" demo --web.listen-address "127.0.0.1:$eport" --scenario steady \
  --refresh.interval "${scrape}s" --credentials-out "$tmp/creds.json"
wait_http "http://127.0.0.1:$eport/-/ready" 20 || fail "demo not ready on 127.0.0.1:$eport"
read -r base_url admin_token envs < <("$python" - "$tmp/creds.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
print(c["base_url"], c["admin_token"], ",".join(e["id"] for e in c["environments"]))
EOF
)
IFS=, read -r -a env_ids <<<"$envs"
[ ${#env_ids[@]} -ge 3 ] || fail "demo reported ${#env_ids[@]} environments, expected 3"
echo "demo on 127.0.0.1:$eport, simulator $base_url, environments $envs"
# The last environment answers a third of requests with 429/500/529 or stalls:
# errors by code, rate limiting and refresh failures get data; the others stay steady.
curl -fsS -X POST -H "Authorization: Bearer $admin_token" -H 'Content-Type: application/json' \
  -d "{\"scenario\":\"api-flaky\",\"environment\":\"${env_ids[2]}\"}" "$base_url/_sim/scenario" >/dev/null \
  || fail "could not switch ${env_ids[2]} to api-flaky"
echo "${env_ids[2]} switched to api-flaky"

echo "== prometheus"
pport=$(free_port)
cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: ${scrape}s
  scrape_timeout: ${scrape}s
  evaluation_interval: ${scrape}s
scrape_configs:
  - job_name: anthropic-work-exporter
    static_configs:
      - targets: ["127.0.0.1:$eport"]
EOF
promtool check config "$tmp/prometheus.yml" >/dev/null || fail "promtool rejects the test's prometheus.yml"
background prometheus prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
  --web.listen-address="127.0.0.1:$pport" --log.level=warn
# The same scrape with native histograms: the exporter answers it in protobuf and
# the lifecycle histograms are stored only in their native form.
nport=$(free_port)
background prometheus-native prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data-native" \
  --web.listen-address="127.0.0.1:$nport" --log.level=warn --enable-feature=native-histograms
wait_http "http://127.0.0.1:$pport/-/ready" 30 || fail "prometheus not ready on 127.0.0.1:$pport"
wait_http "http://127.0.0.1:$nport/-/ready" 30 || fail "native-histogram prometheus not ready on 127.0.0.1:$nport"
echo "prometheus on 127.0.0.1:$pport, and with native histograms on 127.0.0.1:$nport, scraping every ${scrape}s"

echo "== every query against the demo (\$__rate_interval = $rate_window)"
$check live --prometheus "http://127.0.0.1:$pport" --environments "$envs" \
  --rate-interval "$rate_window" --scrape-interval "$scrape" --deadline 150
echo "== every query again, against native histograms"
$check live --prometheus "http://127.0.0.1:$nport" --environments "$envs" \
  --rate-interval "$rate_window" --scrape-interval "$scrape" --deadline 60

passed
