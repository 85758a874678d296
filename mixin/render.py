#!/usr/bin/env python3
"""Renders the monitoring mixin into the files this repository ships.

    python3 mixin/render.py            # rewrite the generated files
    python3 mixin/render.py --check    # exit 1, with a diff, when any is stale
    python3 mixin/render.py --out DIR --config '{thresholds+: {queue_lag_warning_seconds: 400}}' --rules-only

jsonnet (Debian's `jsonnet` package; scripts/test installs it) evaluates
mixin/build.jsonnet; this script only writes its output in a stable form:
rule files as YAML with keys in Prometheus' documented order and multi-line
expressions as literal blocks, dashboards as JSON with two-space indents and
sorted keys. Outputs, relative to --out (default: the repository):

    alerts/anthropic-work-exporter.rules.yml                    every rule group
    dashboards/{overview,environment,exporter}.json              the dashboards
    deploy/kubernetes/components/monitoring/prometheusrule.yaml  the same groups as a PrometheusRule
    deploy/kubernetes/components/monitoring/dashboards.yaml      the dashboards as ConfigMaps
                                                                 for Grafana's sidecar
"""

import argparse
import difflib
import json
import os
import shutil
import subprocess
import sys

import yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
MIXIN = os.path.join(ROOT, "mixin")
RULES = "alerts/anthropic-work-exporter.rules.yml"
COMPONENT = "deploy/kubernetes/components/monitoring"
LABELS = {"app.kubernetes.io/name": "anthropic-work-exporter", "app.kubernetes.io/component": "exporter"}

RULES_HEADER = """\
# GENERATED from mixin/ by mixin/render.py: do not edit. Change mixin/ (settings
# in mixin/config.libsonnet) and rerun `python3 mixin/render.py`;
# tests/e2e/mixin.sh fails when this file and the mixin disagree.
#
# Alerting and recording rules for anthropic-work-exporter. Load this file into
# Prometheus (rule_files) next to a scrape job named `anthropic-work-exporter`.
# Settings and how to change them: alerts/README.md. Runbooks: docs/runbooks.md,
# one section per alert, anchor = lowercase alert name.
#
# Conventions used throughout (the reasons are comments in mixin/):
# - Joins match on (job, instance, environment_id): each exporter reports each
#   environment once, and two exporters watching the same environment never
#   collide. Aggregations use `without(...)` so configured extra labels
#   (team, region, ...) survive into alerts, where Alertmanager can route on them.
# - Thresholds are per environment: a rule compares with the environment's
#   anthropic_work_alert_threshold{threshold="..."} (served when the exporter's
#   config file sets one) and falls back to the mixin's default otherwise.
# - Every alert carries `severity` and the annotations summary, description,
#   runbook_url, dashboard_url and drilldown_url (read when the alert fires from
#   anthropic_work_environment_info{drilldown_url}: the page that names the work
#   items behind the alert).
"""

K8S_HEADER = """\
# GENERATED from mixin/ by mixin/render.py: do not edit (tests/e2e/mixin.sh checks it).
#
# The Prometheus Operator loads this only when its ruleSelector matches these
# labels (kube-prometheus-stack wants `release: <helm release>`, which
# components/kube-prometheus-stack adds): deploy/README.md, step 3.
"""

DASHBOARDS_HEADER = """\
# GENERATED from mixin/ by mixin/render.py: do not edit (tests/e2e/mixin.sh checks it).
#
# One ConfigMap per dashboard, labelled for the Grafana sidecar that
# kube-prometheus-stack runs (it imports every ConfigMap labelled
# grafana_dashboard: "1"). One per dashboard keeps each far below the 256 KiB
# that `kubectl apply` can store in its last-applied annotation.
"""

RULE_ORDER = ("alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations")
ANNOTATION_ORDER = ("summary", "description", "runbook_url", "dashboard_url", "drilldown_url")


class _Dumper(yaml.SafeDumper):
    """Plain YAML: no aliases, multi-line strings as literal blocks."""

    def ignore_aliases(self, data):
        return True


def _str(dumper, value):
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def ordered(d, order):
    unknown = sorted(set(d) - set(order))
    if unknown:
        raise SystemExit(f"mixin: unexpected keys {unknown} (known: {order})")
    return {k: d[k] for k in order if k in d}


def tidy_groups(groups):
    out = []
    for g in groups:
        rules = []
        for r in g["rules"]:
            r = ordered(r, RULE_ORDER)
            if "annotations" in r:
                r["annotations"] = ordered(r["annotations"], ANNOTATION_ORDER)
            rules.append(r)
        out.append({"name": g["name"], "rules": rules})
    return out


def to_yaml(data):
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=4096, allow_unicode=True)


def to_json(data):
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def evaluate(config, rules_only=False):
    jsonnet = shutil.which("jsonnet")
    if not jsonnet:
        raise SystemExit("jsonnet not found: install Debian's `jsonnet` package (scripts/test does)")
    out = subprocess.run(
        [jsonnet, "--ext-code", f"config={config}", "-J", MIXIN]
        # jsonnet is lazy: asking for the rules alone skips the dashboards (most of the time).
        + (["-e", "{rules: (import 'build.jsonnet').rules}"] if rules_only else [os.path.join(MIXIN, "build.jsonnet")]),
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"jsonnet failed on mixin/build.jsonnet:\n{out.stderr}")
    return json.loads(out.stdout)


def outputs(built):
    """Relative path -> file content."""
    groups = tidy_groups(built["rules"]["groups"])
    files = {RULES: RULES_HEADER + "\n" + to_yaml({"groups": groups})}
    if "dashboards" not in built:
        return files
    for name, dashboard in sorted(built["dashboards"].items()):
        files[f"dashboards/{name}"] = to_json(dashboard)
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "anthropic-work-exporter", "labels": LABELS},
        "spec": {"groups": groups},
    }
    files[f"{COMPONENT}/prometheusrule.yaml"] = K8S_HEADER + to_yaml(rule)
    maps = []
    for name, dashboard in sorted(built["dashboards"].items()):
        maps.append({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"anthropic-work-dashboard-{name.removesuffix('.json')}",
                "labels": {**LABELS, "grafana_dashboard": "1"},
            },
            "data": {f"anthropic-work-{name}": to_json(dashboard)},
        })
    files[f"{COMPONENT}/dashboards.yaml"] = DASHBOARDS_HEADER + "".join("---\n" + to_yaml(m) for m in maps)
    return files


def check(files, root):
    stale = 0
    for rel, want in files.items():
        path = os.path.join(root, rel)
        try:
            with open(path, encoding="utf-8") as f:
                have = f.read()
        except FileNotFoundError:
            have = ""
        if have != want:
            stale += 1
            diff = difflib.unified_diff(have.splitlines(True), want.splitlines(True), f"committed {rel}", "rendered from mixin/")
            sys.stdout.writelines(list(diff)[:200])
            print(f"{rel}: differs from what mixin/ renders", file=sys.stderr)
    if stale:
        print(f"{stale} generated file(s) out of date: run python3 mixin/render.py and commit", file=sys.stderr)
    return 1 if stale else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a committed file differs")
    parser.add_argument("--out", default=ROOT, help="where to write (default: the repository)")
    parser.add_argument("--config", default="{}", help="jsonnet object merged into _config")
    parser.add_argument("--rules-only", action="store_true", help="render the rules file alone (faster)")
    args = parser.parse_args()
    files = outputs(evaluate(args.config, args.rules_only))
    if args.check:
        return check(files, args.out)
    for rel, text in files.items():
        path = os.path.join(args.out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
