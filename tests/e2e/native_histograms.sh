#!/usr/bin/env bash
# Every exposition format against real parsers, and native histograms in a
# real Prometheus: Debian's Prometheus 2.42 started twice against one demo
# exporter (default --metrics.histograms=both),
#
#   native:  --enable-feature=native-histograms: it asks for protobuf and
#            keeps the native buckets; the issue's query
#            histogram_quantile(0.95, rate(anthropic_work_queue_wait_seconds[5m]))
#            must answer from native samples, with no _bucket series stored;
#   classic: no flag: it asks for OpenMetrics text and stores the classic
#            _bucket series, which the same quantile over _bucket answers from.
#
# Before that, each format is checked by a parser that is not ours: text 0.0.4
# by `promtool check metrics`, OpenMetrics by the prometheus_client package's
# parser (on /metrics and /probe, plain and gzip). Protobuf is checked by the
# native Prometheus ingesting it. Series per environment of both are printed
# and the native count checked against the target (at most 40: 35 before the
# pick-up SLO's five series, docs/metrics.md).
#
# Needs: the exporter (tests/e2e/lib/common.bash finds it), prometheus and promtool
# on PATH, and a python with prometheus_client ($WORK_EXPORTER_PYTHON).
set -euo pipefail
source "$(dirname "$0")/lib/common.bash" native_histograms
e2e_scratch
scrape=1  # seconds: scrape interval and the demo's refresh interval
max_series_native=40
command -v prometheus >/dev/null || fail "prometheus not on PATH (Debian's package)"
command -v promtool >/dev/null || fail "promtool not on PATH (Debian's prometheus package)"
need_python_module prometheus_client

echo "== demo"
eport=$(free_port)
# With OpenMetrics' opt-in `_created` samples, so the parser checks them too (that they are
# off by default is tests/it/formats.rs's job).
background demo "$bin" demo --web.listen-address "127.0.0.1:$eport" --scenario steady \
  --metrics.openmetrics.created-samples \
  --refresh.interval "${scrape}s" --credentials-out "$tmp/creds.json"
wait_http "http://127.0.0.1:$eport/-/ready" 20 || fail "demo not ready on 127.0.0.1:$eport"
env_id=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["environments"][0]["id"])' "$tmp/creds.json")
metrics="http://127.0.0.1:$eport/metrics"
probe="http://127.0.0.1:$eport/probe?environment=$env_id"

om='application/openmetrics-text; version=1.0.0'
pb='application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited'

# fetch URL ACCEPT OUT [gzip]: the body (decompressed), and the content type and encoding seen.
fetch() {
  local extra=()
  [ "${4:-}" = gzip ] && extra=(-H 'Accept-Encoding: gzip')
  curl -fsS -H "Accept: $2" "${extra[@]}" -D "$3.headers" -o "$3.raw" "$1"
  if grep -qi '^content-encoding: gzip' "$3.headers"; then gzip -dc <"$3.raw" >"$3"; else cp "$3.raw" "$3"; fi
}
content_type() { grep -i '^content-type:' "$1.headers" | cut -d' ' -f2- | tr -d '\r'; }

echo "== text 0.0.4: promtool check metrics"
fetch "$metrics" 'text/plain; version=0.0.4' "$tmp/text"
[[ $(content_type "$tmp/text") == text/plain\;\ version=0.0.4* ]] || fail "text content type: $(content_type "$tmp/text")"
promtool check metrics <"$tmp/text" || fail "promtool check metrics rejects the text exposition"
grep -q '^anthropic_work_queue_wait_seconds_bucket{' "$tmp/text" || fail "no classic buckets in the text exposition"
! grep -Eq '_created(\{| )' "$tmp/text" || fail "_created samples in text 0.0.4"

echo "== OpenMetrics: prometheus_client's parser, /metrics and /probe, plain and gzip"
check_om() { # file
  "$python" - "$1" <<'EOF'
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
families = {f.name: f for f in text_string_to_metric_families(text)}
assert text.endswith("# EOF\n"), "no # EOF at the end"
for name, typ in [("anthropic_work_queue_wait_seconds", "histogram"), ("anthropic_work_items_created", "counter")]:
    f = families.get(name)
    assert f is not None and f.type == typ, f"{name}: {f and f.type}"
    assert any(s.name.endswith("_created") for s in f.samples), f"{name}: no _created sample"
assert families["anthropic_work_queue_wait_seconds"].unit == "seconds", "no UNIT on a _seconds family"
print(f"    {len(families)} families parsed")
EOF
}
for enc in plain gzip; do
  fetch "$metrics" "$om" "$tmp/om-$enc" "$enc"
  [[ $(content_type "$tmp/om-$enc") == application/openmetrics-text\;\ version=1.0.0* ]] || fail "OpenMetrics content type: $(content_type "$tmp/om-$enc")"
  if [ "$enc" = gzip ]; then grep -qi '^content-encoding: gzip' "$tmp/om-$enc.headers" || fail "no gzip for OpenMetrics"; fi
  check_om "$tmp/om-$enc" || fail "the OpenMetrics parser rejects /metrics ($enc)"
done
fetch "$probe" "$om" "$tmp/om-probe" gzip
check_om "$tmp/om-probe" || fail "the OpenMetrics parser rejects /probe"

echo "== protobuf is served when asked (Prometheus below parses it)"
fetch "$metrics" "$pb" "$tmp/pb" gzip
[ "$(content_type "$tmp/pb")" = "$pb" ] || fail "protobuf content type: $(content_type "$tmp/pb")"
grep -qi '^content-encoding: gzip' "$tmp/pb.headers" || fail "no gzip for protobuf"
fetch "$probe" "$pb" "$tmp/pb-probe"
[ "$(content_type "$tmp/pb-probe")" = "$pb" ] || fail "/probe ignores Accept"

start_prometheus() { # name port [flags...]
  local name=$1 port=$2
  shift 2
  cat >"$tmp/$name.yml" <<EOF
global:
  scrape_interval: ${scrape}s
  scrape_timeout: ${scrape}s
  evaluation_interval: ${scrape}s
rule_files: ["$root/alerts/anthropic-work-exporter.rules.yml"]
scrape_configs:
  - job_name: anthropic-work-exporter
    static_configs:
      - targets: ["127.0.0.1:$eport"]
EOF
  background "$name" prometheus --config.file="$tmp/$name.yml" --storage.tsdb.path="$tmp/$name-data" \
    --web.listen-address="127.0.0.1:$port" --log.level=warn "$@"
}
nport=$(free_port)
cport=$(free_port)
echo "== Prometheus with and without native histograms"
start_prometheus native "$nport" --enable-feature=native-histograms
start_prometheus classic "$cport"
wait_http "http://127.0.0.1:$nport/-/ready" 30 || fail "native Prometheus not ready"
wait_http "http://127.0.0.1:$cport/-/ready" 30 || fail "classic Prometheus not ready"

# Poll both until the quantiles answer (queue waits arrive within seconds),
# then check what each stored and count series per environment.
"$python" - "http://127.0.0.1:$nport" "http://127.0.0.1:$cport" "$env_id" "$max_series_native" <<'EOF'
import json, math, sys, time, urllib.parse, urllib.request

native, classic, env_id, max_native = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def query(prom, q):
    url = prom + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
    body = json.load(urllib.request.urlopen(url, timeout=10))
    assert body["status"] == "success", body
    return body["data"]["result"]

def answered(result):
    return [r for r in result if "value" in r and not math.isnan(float(r["value"][1]))]

NATIVE_Q = "histogram_quantile(0.95, rate(anthropic_work_queue_wait_seconds[5m]))"
CLASSIC_Q = "histogram_quantile(0.95, rate(anthropic_work_queue_wait_seconds_bucket[5m]))"
deadline = time.time() + 60
while True:
    n, c = answered(query(native, NATIVE_Q)), answered(query(classic, CLASSIC_Q))
    if n and c:
        break
    if time.time() > deadline:
        sys.exit(f"FAIL: no answer within 60 s: native {NATIVE_Q} -> {n}, classic {CLASSIC_Q} -> {c}")
    time.sleep(1)
print(f"    native:  {NATIVE_Q} = " + ", ".join(f"{float(r['value'][1]):.3g}" for r in n))
print(f"    classic: {CLASSIC_Q} = " + ", ".join(f"{float(r['value'][1]):.3g}" for r in c))

# The native Prometheus stored native samples and no _bucket series; the classic one the reverse.
raw = query(native, "anthropic_work_queue_wait_seconds")
assert raw and all("histogram" in r for r in raw), f"native: not native histogram samples: {raw[:1]}"
assert not query(native, "anthropic_work_queue_wait_seconds_bucket"), "native: _bucket series stored"
assert not query(classic, "anthropic_work_queue_wait_seconds"), "classic: a native series stored"
assert query(classic, "anthropic_work_queue_wait_seconds_bucket"), "classic: no _bucket series"
# The classic query on the native Prometheus answers nothing: rules need the native form there.
assert not answered(query(native, CLASSIC_Q)), "native: the _bucket query answered"

# The shipped recording rules and alerts read both forms: the same recorded
# series in both Prometheus, and no rule failing to evaluate in either.
RECORDED = ["environment_id:anthropic_work_queue_wait_seconds:p95_rate10m",
            "environment_id:anthropic_work_items_acknowledged:rate10m"]
deadline = time.time() + 30
while not all(answered(query(p, r)) for p in (native, classic) for r in RECORDED):
    if time.time() > deadline:
        sys.exit("FAIL: " + "; ".join(f"{p} {r} -> {query(p, r)}" for p in (native, classic) for r in RECORDED))
    time.sleep(1)
for prom in (native, classic):
    groups = json.load(urllib.request.urlopen(prom + "/api/v1/rules", timeout=10))["data"]["groups"]
    bad = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r.get("health") not in ("ok", "unknown")]
    assert not bad, f"{prom}: rules failing: {bad}"
    assert sum(len(g["rules"]) for g in groups) > 20, f"{prom}: rules not loaded"
print("    recording rules answer in both: " + ", ".join(RECORDED))

# Scraped series only: recorded ones (names with ':') are the rules' cost, not the exporter's.
# The steady count: healthcheck items pass through `active` and `stopping` in
# seconds, and those gauges exist only while above 0, so one instant can catch
# one or two transient series; the least of five instants a scrape apart is the
# steady state.
def count(prom):
    seen = []
    for _ in range(5):
        seen.append(int(float(query(prom, f'count({{environment_id="{env_id}",__name__!~".*:.*"}})')[0]["value"][1])))
        time.sleep(1)
    return min(seen)
n_series, c_series = count(native), count(classic)
print(f"    series per environment: native (protobuf, native histograms) {n_series}, "
      f"classic (OpenMetrics with _created, classic buckets) {c_series}")
assert n_series <= max_native, f"FAIL: {n_series} series per environment with native histograms, target {max_native}"
assert c_series > n_series + 40, "the classic Prometheus should hold the bucket series"
EOF

passed
