#!/usr/bin/env bash
# Multi-target mode with the shipped rules (docs/deployment.md, "Multi-target"):
# the scrape config is taken from the docs' first YAML block of that section,
# only its two addresses replaced (the exporter's, and the file_sd path), and
# run for real in Prometheus 2.42 against the exporter with --probe.only
# (discovery, keys from a directory) on the simulator:
#   - live: every environment is a target answering /probe with the labels
#     the rules select (job="anthropic-work-exporter", instance = environment
#     id, environment_id on its series), the exporter's own target answers
#     /metrics, the ExporterAbsent expression of the shipped rules finds
#     nothing (no false "absent" for probe targets), and with the shipped
#     rules loaded no critical alert is pending;
#   - replayed: those live targets' labels (Prometheus's /api/v1/targets) drive
#     `cargo run --example time_to_page -- --multi-target`: 10 steady minutes
#     and workers-down on the simulator's manual clock, through promtool with
#     the shipped rules: no critical alert pending or firing while steady, and
#     AnthropicWorkNoWorkers firing within 7 minutes.
# Takes 30 to 40 s, most of it waiting for Prometheus's first scrape of each
# target (30 s interval, as documented).
# Needs: the exporter (tests/e2e/lib/common.bash finds it), prometheus and promtool, cargo.
set -euo pipefail
source "$(dirname "$0")/lib/common.bash" multi_target
e2e_scratch
command -v prometheus >/dev/null || fail "prometheus not installed (apt-get install prometheus)"
command -v promtool >/dev/null || fail "promtool not installed (apt-get install prometheus)"

simulate --environments 2
mkdir -p "$tmp/keys"
env_ids=$("$python" - "$tmp/credentials.json" "$tmp/keys" <<'PY'
import json, pathlib, sys
creds = json.load(open(sys.argv[1]))
for e in creds["environments"]:
    (pathlib.Path(sys.argv[2]) / e["id"]).write_text(e["key"])
print(",".join(e["id"] for e in creds["environments"]))
PY
)
eport=$(free_port)
ANTHROPIC_API_KEY=$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["api_key"])' "$tmp/credentials.json") \
  background exporter "$bin" --web.listen-address "127.0.0.1:$eport" --api.base-url "http://127.0.0.1:$sim_port" \
  --discovery.enabled --discovery.keys-dir "$tmp/keys" --probe.only
wait_http "http://127.0.0.1:$eport/-/ready" 20 || fail "exporter not ready on 127.0.0.1:$eport"

echo "== the scrape config of docs/deployment.md, addresses replaced"
mkdir -p "$tmp/sd"
"$python" - "$env_ids" >"$tmp/sd/environments.yml" <<'PY'
import sys
print("- targets: [" + ", ".join(sys.argv[1].split(",")) + "]")
PY
# Around the block: the shipped rules, evaluated every second (the global section is ours).
printf 'global: {evaluation_interval: 1s}\nrule_files: [%s]\n' "$root/alerts/anthropic-work-exporter.rules.yml" >"$tmp/prometheus.yml"
"$python" - docs/deployment.md "127.0.0.1:$eport" "$tmp/sd/*.yml" >>"$tmp/prometheus.yml" <<'PY'
import re, sys
doc, address, sd = sys.argv[1:]
text = open(doc).read()
section = text[text.index("## Multi-target"):]
block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
for old, new in [("anthropic-work-exporter.monitoring.svc:9781", address),
                 ("/etc/prometheus/anthropic-environments/*.yml", sd)]:
    if old not in block:
        sys.exit(f"docs/deployment.md's multi-target block has no {old}: update this suite")
    block = block.replace(old, new)
print(block)
PY
cat "$tmp/prometheus.yml"
promtool check config "$tmp/prometheus.yml" >/dev/null || fail "promtool check config rejects the documented scrape config"
# The hashmod lines (the section's second YAML block), added where the docs say.
"$python" - docs/deployment.md "$tmp/prometheus.yml" >"$tmp/prometheus-hashmod.yml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
hashmod = re.findall(r"```yaml\n(.*?)```", text[text.index("## Multi-target"):], re.S)[1]
config = open(sys.argv[2]).read()
first = "        target_label: __param_environment\n"
if config.count(first) != 1:
    sys.exit("the multi-target block's first relabeling rule moved: update this suite")
print(config.replace(first, first + hashmod))
PY
promtool check config "$tmp/prometheus-hashmod.yml" >/dev/null || fail "promtool check config rejects the documented scrape config with its hashmod lines"

pport=$(free_port)
background prometheus prometheus --config.file "$tmp/prometheus.yml" --storage.tsdb.path "$tmp/prom-data" \
  --web.listen-address "127.0.0.1:$pport" --log.level warn
prom="http://127.0.0.1:$pport"
wait_http "$prom/-/ready" 30 || fail "Prometheus not ready"

# targets_ok [up]: one /probe target per environment plus the exporter's own (and, with
# `up`, every one scraped and up), saved in $tmp/targets.json; prints what is missing otherwise.
targets_ok() {
  curl -fsS "$prom/api/v1/targets?state=active" >"$tmp/targets.json" || return 1
  "$python" - "$tmp/targets.json" "$env_ids" "${1:-}" <<'PY'
import json, sys
targets = json.load(open(sys.argv[1]))["data"]["activeTargets"]
ids = set(sys.argv[2].split(","))
probes = {t["labels"].get("instance") for t in targets if "/probe?" in t["scrapeUrl"]}
pending = [t["labels"].get("instance") for t in targets if t["health"] != "up"] if sys.argv[3] else []
if probes != ids or len(targets) != len(ids) + 1 or pending:
    print(f"targets: {len(targets)}, probe instances {sorted(probes)}, not yet up: {pending}")
    sys.exit(1)
PY
}
for ((i = 0; i < 40; i++)); do targets_ok >/dev/null && break; sleep 0.25; done
targets_ok || fail "the documented scrape config does not give one /probe target per environment"

# The labels are known before the first scrape: the replay runs while Prometheus scrapes.
cp "$tmp/targets.json" "$tmp/labels.json"
background replay cargo run --quiet --locked --example time_to_page -- --multi-target "$tmp/labels.json"
replay=${pids[-1]}

echo "== live: every target scraped once (the first scrape waits up to its 30 s interval)"
for ((i = 0; i < 90; i++)); do targets_ok up >/dev/null && break; sleep 0.5; done
targets_ok up || fail "the documented scrape config's targets are not all up"

"$python" - "$prom" "$env_ids" alerts/anthropic-work-exporter.rules.yml <<'PY' || fail "live checks"
import json, re, sys, time, urllib.parse, urllib.request
prom, ids, rules = sys.argv[1], set(sys.argv[2].split(",")), open(sys.argv[3]).read()
def query(q):
    url = prom + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
    return json.load(urllib.request.urlopen(url, timeout=10))["data"]["result"]
bad = []
# Every environment's series under the job the rules select, instance = its id.
got = {(s["metric"]["instance"], s["metric"]["environment_id"])
       for s in query('anthropic_work_up{job="anthropic-work-exporter"} == 1')}
if got != {(i, i) for i in ids}:
    bad.append(f"anthropic_work_up per (instance, environment_id): {sorted(got)}")
# The exporter's own target: its own metrics, no environment's.
own = query('anthropic_work_exporter_api_budget_requests_per_second{job="anthropic-work-exporter"}')
if len(own) != 1 or own[0]["metric"]["instance"] in ids:
    bad.append(f"the exporter's own target: {own}")
# The ExporterAbsent expression exactly as shipped: nothing for any target.
expr = re.search(r"- alert: AnthropicWorkExporterAbsent\n    expr: \|\n((?:      .*\n)+)", rules).group(1)
absent = query(expr)
if absent:
    bad.append(f"AnthropicWorkExporterAbsent's expression finds {[s['metric'] for s in absent]}")
# The shipped rules, loaded and evaluated every second since the first scrapes: no critical
# alert pending (a probe target without build_info made ExporterAbsent pending at once).
time.sleep(3)
pending = query('ALERTS{severity="critical"}')
if pending:
    bad.append(f"critical alerts pending or firing: {[s['metric'] for s in pending]}")
for b in bad:
    print("    " + b)
if bad:
    sys.exit(1)
print(f"    {len(ids)} probe targets up under job anthropic-work-exporter; ExporterAbsent expression empty; "
      "no critical alert pending under the shipped rules")
PY

echo "== replayed: 10 steady minutes, then workers-down, with these target labels"
rc=0
wait "$replay" || rc=$?
cat "$tmp/replay.log"
[ "$rc" = 0 ] || fail "the multi-target drill (see above)"
passed
