"""The ways into a monitoring stack, taken from the docs as written: deploy/README.md's
overlay for kube-prometheus-stack (the labels its Prometheus and Grafana select on),
the deploy-time runbook and Grafana links (every alert's annotations), the image
reference, native histograms for Prometheus 3 (the ServiceMonitor and the scrape
configs of docs/configuration.md, the 2.x one through the installed promtool), the
configuration files of docs/configuration.md through check-config, and the alert lists of
the docs against the rendered rules."""

import os
import re
import tempfile

import yaml

from deploy_lib import K8S, ROOT, cargo_package, container, doc_block, find, render, render_doc_overlay, run

# kube-prometheus-stack's defaults (chart 88.5, values.yaml): its Prometheus selects
# ServiceMonitors and PrometheusRules by `release: <release name>`
# (serviceMonitorSelectorNilUsesHelmValues, ruleSelectorNilUsesHelmValues: true), its
# Grafana sidecar imports ConfigMaps labelled grafana_dashboard: "1".
KPS_RELEASE = "kube-prometheus-stack"
SIDECAR_LABEL = ("grafana_dashboard", "1")
FOLDER_ANNOTATION = "grafana_folder"
LINKS_MAP = "anthropic-work-exporter-links"
MARK = "{{/* grafana_url */}}"
DEFAULT_BASES = ("github.com/anthropic-work-exporter/", "localhost:3000")
PROTO_FIRST = ["PrometheusProto", "OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText0.0.4"]
CONFIG_DOC = os.path.join("docs", "configuration.md")


def alerts(rule):
    return [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]


def check_kps_labels(report, what, docs, release):
    for kind in ("ServiceMonitor", "PrometheusRule"):
        got = find(docs, kind)["metadata"].get("labels", {}).get("release")
        report.check(f"{what}: the {kind} carries release: {release} (the stack's Prometheus selects on it)",
                     got == release, got)
    maps = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("anthropic-work-dashboard-")]
    report.check(f"{what}: the 3 dashboard ConfigMaps carry {SIDECAR_LABEL[0]}: \"1\" and a {FOLDER_ANNOTATION} annotation",
                 len(maps) == 3 and all(d["metadata"]["labels"].get(SIDECAR_LABEL[0]) == SIDECAR_LABEL[1]
                                        and d["metadata"].get("annotations", {}).get(FOLDER_ANNOTATION)
                                        for d in maps), [d["metadata"] for d in maps])
    others = [f"{d['kind']}/{d['metadata']['name']}" for d in docs
              if d["kind"] not in ("ServiceMonitor", "PrometheusRule") and "release" in d["metadata"].get("labels", {})]
    if release == KPS_RELEASE:
        report.check(f"{what}: the release label is on those two only", not others, others)


def check_links(report, what, docs, runbook, grafana):
    """Every alert's three links start from the configured bases; nothing of the defaults is left."""
    rule = find(docs, "PrometheusRule")
    bad = []
    for a in alerts(rule):
        ann, name = a["annotations"], a["alert"]
        if ann.get("runbook_url") != f"{runbook}#{name.lower()}":
            bad.append(f"{name}: runbook_url {ann.get('runbook_url')}")
        if not ann.get("dashboard_url", "").startswith(f"{grafana}/d/"):
            bad.append(f"{name}: dashboard_url {ann.get('dashboard_url')}")
        if f"{MARK}{grafana}{MARK}/d/" not in ann.get("drilldown_url", ""):
            bad.append(f"{name}: drilldown_url fallback {ann.get('drilldown_url', '')[-120:]}")
    report.check(f"{what}: all {len(alerts(rule))} alerts link to the configured runbook and Grafana bases",
                 alerts(rule) and not bad, "\n".join(bad))
    left = [b for b in DEFAULT_BASES if b in yaml.safe_dump(rule)]
    report.check(f"{what}: no default runbook or Grafana base is left in the PrometheusRule", not left, left)
    report.check(f"{what}: the links ConfigMap is used by the build, not applied",
                 not find(docs, "ConfigMap", LINKS_MAP))


def check_user_overlay(report, kubectl):
    """deploy/README.md's overlay, rendered as written over this checkout."""
    block = doc_block("test: user overlay")
    if not report.check("deploy/README.md has the user overlay example", block):
        return
    overlay = yaml.safe_load(block)
    docs = render_doc_overlay(kubectl, overlay, "README's user overlay")
    c = container(find(docs, "Deployment")["spec"]["template"]["spec"], "exporter")
    image = next(i for i in overlay["images"] if i["name"] == "anthropic-work-exporter")
    urls = [a for a in c["args"] if a.startswith("--web.external-url=")]
    report.check("the README's user overlay sets the image, the external URL and the namespace",
                 c["image"] == f"{image['newName']}:{image['newTag']}"
                 and urls == ["--web.external-url=https://work-exporter.example.com"]
                 and all(d["metadata"].get("namespace") == "monitoring" for d in docs), (c["image"], c["args"]))
    check_kps_labels(report, "the README's user overlay", docs, KPS_RELEASE)
    links = dict(x.split("=", 1) for x in next(g for g in overlay["configMapGenerator"]
                                              if g["name"] == LINKS_MAP)["literals"])
    check_links(report, "the README's user overlay", docs, links["runbook_url"], links["grafana_url"])
    version = cargo_package()["version"]
    report.check(f"the README's runbook base names the release's own tag (v{version})",
                 f"/blob/v{version}/docs/runbooks.md" in links["runbook_url"], links["runbook_url"])

    release = doc_block("test: release name")
    if report.check("deploy/README.md has the release-name example", release):
        docs = render_doc_overlay(kubectl, {**overlay, **yaml.safe_load(release)}, "README's overlay, other release")
        name = yaml.safe_load(release)["labels"][0]["pairs"]["release"]
        check_kps_labels(report, f"the overlay with release {name}", docs, name)


def check_links_need_the_map(report, kubectl):
    """The links component without its ConfigMap stops the build, naming the ConfigMap."""
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "kustomization.yaml"), "w") as f:
            yaml.safe_dump({"resources": [os.path.relpath(os.path.join(K8S, "base"), tmp)],
                            "components": [os.path.relpath(os.path.join(K8S, "components", "links"), tmp)]}, f)
        out = run([kubectl, "kustomize", tmp])
    report.check("the links component without the links ConfigMap fails the build, naming it",
                 out.returncode != 0 and LINKS_MAP in out.stderr, out.stderr[-500:])


def check_mixin_version(report):
    with open(os.path.join(ROOT, "mixin", "config.libsonnet"), encoding="utf-8") as f:
        m = re.search(r"^\s*version: '([^']+)'", f.read(), re.M)
    version = cargo_package()["version"]
    report.check(f"mixin/config.libsonnet's version is Cargo.toml's ({version}): the runbook links name its tag",
                 m and m.group(1) == version, m and m.group(1))
    with open(os.path.join(ROOT, "alerts", "anthropic-work-exporter.rules.yml"), encoding="utf-8") as f:
        groups = yaml.safe_load(f)["groups"]
    urls = {r["annotations"]["runbook_url"].split("#")[0] for g in groups for r in g["rules"] if "alert" in r}
    report.check("every shipped alert links the runbooks of its own version",
                 urls and all(f"/blob/v{version}/" in u for u in urls), sorted(urls))


def check_native_histograms(report, kubectl):
    base = find(render(kubectl, os.path.join(K8S, "base")), "ServiceMonitor")["spec"]
    report.check("base: the ServiceMonitor leaves native histograms and protocols to Prometheus (valid on every Operator)",
                 "scrapeNativeHistograms" not in base and "scrapeProtocols" not in base, sorted(base))
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "kustomization.yaml"), "w") as f:
            yaml.safe_dump({"resources": [os.path.relpath(os.path.join(K8S, "base"), tmp)],
                            "components": [os.path.relpath(os.path.join(K8S, "components", "native-histograms"), tmp)]}, f)
        sm = find(render(kubectl, tmp, "base + components/native-histograms"), "ServiceMonitor")["spec"]
    report.check("native-histograms: scrapeNativeHistograms: true and protobuf first in scrapeProtocols",
                 sm.get("scrapeNativeHistograms") is True and sm.get("scrapeProtocols") == PROTO_FIRST,
                 {k: sm.get(k) for k in ("scrapeNativeHistograms", "scrapeProtocols")})


def promtool_config(promtool, config):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "prometheus.yml")
        with open(path, "w") as f:
            yaml.safe_dump(config, f)
        return run([promtool, "check", "config", "--syntax-only", path])


def check_scrape_configs(report, promtool):
    """docs/configuration.md's scrape configs for Prometheus 2.x and 3.x, as written."""
    v2, v3 = (doc_block(f"test: prometheus {v} scrape config", CONFIG_DOC) for v in (2, 3))
    if not report.check(f"{CONFIG_DOC} has the Prometheus 2.x and 3.x scrape configs", v2 and v3):
        return
    v2, v3 = yaml.safe_load(v2), yaml.safe_load(v3)
    out = promtool_config(promtool, v2)
    report.check("the 2.x scrape config passes the installed promtool (2.42)", out.returncode == 0, out.stdout + out.stderr)
    job = v3["scrape_configs"][0]
    report.check("the 3.x scrape config sets scrape_native_histograms: true and protobuf first",
                 job.get("scrape_native_histograms") is True and job.get("scrape_protocols", [None])[0] == "PrometheusProto",
                 job)
    for key in ("scrape_native_histograms", "scrape_protocols"):
        job.pop(key, None)
    out = promtool_config(promtool, v3)
    report.check("the 3.x scrape config is the 2.x one plus those two settings (the rest passes promtool 2.42)",
                 out.returncode == 0 and v3 == v2, out.stdout + out.stderr or (v3, v2))


def check_image_first(report):
    with open(os.path.join(ROOT, "deploy", "README.md"), encoding="utf-8") as f:
        text = f.read()
    push, apply, images = text.find("docker push"), text.find("kubectl apply"), text.find("images:")
    report.check("deploy/README.md says how to build and push the image, and where to name it, before any apply",
                 0 <= push < apply and 0 <= images < apply, (push, images, apply))


def check(report, kubectl, promtool, binary):
    report.section("stack: the documented ways in")
    check_image_first(report)
    check_user_overlay(report, kubectl)
    check_links_need_the_map(report, kubectl)
    check_mixin_version(report)
    check_native_histograms(report, kubectl)
    check_scrape_configs(report, promtool)
    check_alert_lists(report)
    check_config_examples(report, binary)
    check_one_environment(report, binary)


def rule_alerts():
    """(alert, severity, for) of every alerting rule in alerts/*.rules.yml."""
    with open(os.path.join(ROOT, "alerts", "anthropic-work-exporter.rules.yml"), encoding="utf-8") as f:
        groups = yaml.safe_load(f)["groups"]
    return sorted((r["alert"], r["labels"]["severity"], r.get("for", "0s")) for g in groups for r in g["rules"]
                  if "alert" in r)


def check_alert_lists(report):
    """The alert lists of the docs against the rendered rules, so that neither can drift."""
    want = rule_alerts()
    with open(os.path.join(ROOT, "alerts", "README.md"), encoding="utf-8") as f:
        rows = re.findall(r"^\| `(Anthropic\w+)` \| (\w+) \| .* \| (\w+) \|$", f.read(), re.M)
    report.equal("alerts/README.md's table has one row per alerting rule, with its severity and for:",
                 sorted(rows), want)
    with open(os.path.join(ROOT, "docs", "monitoring.md"), encoding="utf-8") as f:
        m = re.search(r"<!-- alert list:[^>]*-->\s*(.*?)\.\n", f.read(), re.S)
    listed = sorted(re.findall(r"`(Anthropic\w+)`", m.group(1))) if m else []
    report.equal("docs/monitoring.md lists every alert", listed, sorted({a for a, _, _ in want}))


def check_config_examples(report, binary):
    """docs/configuration.md's configuration files through the exporter's own check-config,
    as written but for the paths of the key files and directory (made in a temp dir)."""
    if not os.access(binary, os.X_OK):
        report.check("configuration examples checked with the binary", False, f"no binary at {binary}")
        return
    for marker in ("config file", "discovery config"):
        text = doc_block(f"test: {marker}", CONFIG_DOC)
        if not report.check(f"{CONFIG_DOC} has the {marker} example", text):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            for path in sorted(set(re.findall(r"(?<=file: )/[\w/.-]+|(?<=keys_dir: )/[\w/.-]+", text))):
                local = os.path.join(tmp, path.strip("/").replace("/", "_"))
                if path.endswith("/keys"):
                    os.mkdir(local, 0o700)
                else:
                    with open(local, "w") as f:
                        f.write("example-environment-key\n")
                    os.chmod(local, 0o600)
                text = text.replace(path, local)
            cfg = os.path.join(tmp, "config.yaml")
            with open(cfg, "w") as f:
                f.write(text)
            out = run([binary, "check-config", "--config.file", cfg],
                      env={**os.environ, "ANTHROPIC_API_KEY": "sk-ant-example"})
        report.check(f"the {marker} example of {CONFIG_DOC} passes check-config", out.returncode == 0,
                     out.stdout + out.stderr)


def check_one_environment(report, binary):
    """README's one-environment commands: the variables it exports are the ones the
    exporter reads (check-config, with example values in their place)."""
    block = doc_block("test: one environment", "README.md")
    if not report.check("README.md has the one-environment commands", block) or not os.access(binary, os.X_OK):
        return
    names = re.findall(r"^export (\w+)=", block, re.M)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env.update({n: "env_011CZkZ9X2dpNyB7HsEFoRfW" if n.endswith("_ID") else "sk-ant-example" for n in names})
    out = run([binary, "check-config"], env=env)
    report.check(f"README's one-environment variables ({', '.join(names)}) configure one environment",
                 out.returncode == 0 and "1 environment(s)" in out.stdout and "api key: none" not in out.stdout,
                 out.stdout + out.stderr)
