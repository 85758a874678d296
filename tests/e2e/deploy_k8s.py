"""The Kubernetes manifests, rendered with `kubectl kustomize` the way a user applies
them: the kinds each kustomization yields, the pod's security and probes, the shard
wiring of the StatefulSet, and the monitoring component (PrometheusRule and
dashboard ConfigMaps) against what mixin/ renders."""

import glob
import os
import re
import sys
import tempfile

import yaml

from deploy_lib import K8S, ROOT, cargo_package, container, deepcopy, env_map, find, kinds, load_yaml_file
from deploy_lib import doc_block, exporter_flags, render, render_doc_overlay, run

PORT = 9781
KEYS_SECRET = "anthropic-work-exporter-environment-keys"
API_KEY_SECRET = "anthropic-work-exporter-api-key"
ORG_READ_LIMIT_PER_SECOND = 20
SHARDING_ARGS = ("--shard=", "--total-shards=", "--web.external-url=", "--api.max-requests-per-second=")
SHARDING_ENV = {"POD_NAME", "SHARD", "TOTAL_SHARDS", "API_MAX_REQUESTS_PER_SECOND"}


def check_yaml_files(report):
    paths = sorted(glob.glob(os.path.join(ROOT, "deploy", "**", "*.y*ml"), recursive=True))
    bad = []
    for path in paths:
        try:
            load_yaml_file(path)
        except yaml.YAMLError as e:
            bad.append(f"{os.path.relpath(path, ROOT)}: {e}")
    report.check(f"every manifest under deploy/ is valid YAML ({len(paths)} files)", paths and not bad, "\n".join(bad))


def check_monitoring_component(report, promtool):
    """The component's PrometheusRule and dashboard ConfigMaps, as rendered from mixin/."""
    gen = run([sys.executable, os.path.join(ROOT, "mixin", "render.py"), "--check"])
    report.check("alerts/, dashboards/ and components/monitoring/ are what mixin/ renders", gen.returncode == 0,
                 gen.stdout[-3000:] + gen.stderr)
    component = os.path.join(K8S, "components", "monitoring")
    rule = load_yaml_file(os.path.join(component, "prometheusrule.yaml"))[0]
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        yaml.safe_dump({"groups": rule["spec"]["groups"]}, f)
        f.flush()
        out = run([promtool, "check", "rules", f.name])
    report.check("promtool accepts the PrometheusRule's groups", out.returncode == 0, out.stdout + out.stderr)


def check_dashboard_maps(report, what, docs):
    """One ConfigMap per dashboard, labelled for Grafana's sidecar, holding dashboards/*.json as is."""
    want = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "dashboards", "*.json"))):
        with open(path, encoding="utf-8") as f:
            want[f"anthropic-work-{os.path.basename(path)}"] = f.read()
    got = {}
    for d in docs:
        if d["kind"] == "ConfigMap" and d["metadata"].get("labels", {}).get("grafana_dashboard") == "1":
            got.update(d["data"])
    report.check(f"{what}: every dashboard is a ConfigMap labelled grafana_dashboard: \"1\", equal to dashboards/",
                 want and got == want, sorted(set(want) ^ set(got)) or "contents differ")


def pod_security(report, what, pod):
    spec = pod["spec"]
    ctx = spec.get("securityContext", {})
    report.check(f"{what}: pod runs as non-root uid 65532 with seccomp RuntimeDefault",
                 ctx.get("runAsNonRoot") is True and ctx.get("runAsUser") == 65532
                 and ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault", ctx)
    report.check(f"{what}: no service account token is mounted", spec.get("automountServiceAccountToken") is False)
    c = container(spec, "exporter")
    sc = c.get("securityContext", {})
    report.check(f"{what}: read-only root filesystem, no privilege escalation, capabilities ALL dropped",
                 sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
                 and sc.get("capabilities", {}).get("drop") == ["ALL"], sc)
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    for probe, path in (("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")):
        get = c.get(probe, {}).get("httpGet", {})
        report.check(f"{what}: {probe} asks {path} on port {PORT}",
                     get.get("path") == path and ports.get(get.get("port"), get.get("port")) == PORT, get)
    res = c.get("resources", {})
    report.check(f"{what}: CPU and memory requested, memory limited",
                 {"cpu", "memory"} <= set(res.get("requests", {})) and "memory" in res.get("limits", {}), res)
    env = env_map(c)
    report.check(f"{what}: ANTHROPIC_API_KEY comes from the {API_KEY_SECRET} Secret",
                 env.get("ANTHROPIC_API_KEY", {}).get("valueFrom", {}).get("secretKeyRef", {}).get("name")
                 == API_KEY_SECRET)
    refs = {v for a in c.get("args", []) for v in re.findall(r"\$\((\w+)\)", a)}
    report.check(f"{what}: every $(VAR) in args is defined in env", refs <= set(env), sorted(refs - set(env)))
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    report.check(f"{what}: every volumeMount has a volume", set(mounts) <= set(volumes))
    keys = [n for n, v in volumes.items() if v.get("secret", {}).get("secretName") == KEYS_SECRET]
    key_dirs = {mounts[n]["mountPath"] for n in keys if n in mounts}
    return c, key_dirs


def check_flags(report, what, c, binary):
    used = {re.match(r"--([^=]+)", a).group(1) for a in c.get("args", []) if a.startswith("--")}
    if not os.access(binary, os.X_OK):
        report.check(f"{what}: flags checked against the binary", False, f"no binary at {binary}")
        return
    known = exporter_flags(binary)
    report.check(f"{what}: the binary accepts every flag used", used <= known, sorted(used - known))


def check_service_wiring(report, what, docs, pod_labels):
    svc = find(docs, "Service", "anthropic-work-exporter")
    report.check(f"{what}: the Service is named anthropic-work-exporter (the job the alerts expect)", svc)
    if not svc:
        return None
    sel = svc["spec"]["selector"]
    report.check(f"{what}: the Service selects the exporter's pods",
                 all(pod_labels.get(k) == v for k, v in sel.items()), sel)
    port = {p["name"]: p for p in svc["spec"]["ports"]}.get("http-metrics", {})
    report.check(f"{what}: the Service serves http-metrics on {PORT}", port.get("port") == PORT, port)
    sm = find(docs, "ServiceMonitor")
    labels = svc["metadata"].get("labels", {})
    report.check(f"{what}: the ServiceMonitor selects the Service and scrapes http-metrics at /metrics",
                 sm and all(labels.get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items())
                 and sm["spec"]["endpoints"][0]["port"] == "http-metrics"
                 and sm["spec"]["endpoints"][0].get("path", "/metrics") == "/metrics")
    return svc


def check_rule_groups(report, what, docs):
    rule = find(docs, "PrometheusRule")
    sources = sorted(glob.glob(os.path.join(ROOT, "alerts", "*.rules.yml")))
    want = [g for p in sources for g in load_yaml_file(p)[0]["groups"]]
    report.equal(f"{what}: the PrometheusRule's groups equal alerts/*.rules.yml's", rule["spec"]["groups"], want)
    if sources:
        report.check(f"{what}: the PrometheusRule has at least one group", len(want) >= 1)


def check_base(report, kubectl, binary):
    docs = render(kubectl, os.path.join(K8S, "base"))
    report.equal("base renders 3 dashboard ConfigMaps, Deployment, PrometheusRule, Service, ServiceMonitor",
                 kinds(docs), ["ConfigMap"] * 3 + ["Deployment", "PrometheusRule", "Service", "ServiceMonitor"])
    dep = find(docs, "Deployment", "anthropic-work-exporter")
    report.check("base: one replica", dep["spec"]["replicas"] == 1)
    pod = dep["spec"]["template"]
    c, key_dirs = pod_security(report, "base", pod)
    args = c["args"]
    report.check("base: discovery reads keys from the mounted environment-keys Secret",
                 "--discovery.enabled" in args and any(a == f"--discovery.keys-dir={d}" for a in args for d in key_dirs),
                 args)
    version = cargo_package()["version"]
    report.check(f"base: the image tag is Cargo.toml's version ({version})", c["image"].endswith(f":{version}"),
                 f"{c['image']}: bump newTag in base/kustomization.yaml with Cargo.toml")
    report.check("base: the image names no registry (none publishes it: deploy/README.md says to build and push it)",
                 c["image"] == f"anthropic-work-exporter:{version}", c["image"])
    check_flags(report, "base", c, binary)
    check_service_wiring(report, "base", docs, pod["metadata"]["labels"])
    check_rule_groups(report, "base", docs)
    check_dashboard_maps(report, "base", docs)
    return dep


def shard_count_problems(sts):
    c = container(sts["spec"]["template"]["spec"], "exporter")
    env = env_map(c)
    replicas = sts["spec"]["replicas"]
    problems = []
    if env.get("TOTAL_SHARDS", {}).get("value") != str(replicas):
        problems.append(f"TOTAL_SHARDS={env.get('TOTAL_SHARDS')} but replicas={replicas}")
    budget = float(env.get("API_MAX_REQUESTS_PER_SECOND", {}).get("value", "5"))
    if replicas * budget > ORG_READ_LIMIT_PER_SECOND:
        problems.append(f"{replicas} shards x {budget}/s exceed the organisation's {ORG_READ_LIMIT_PER_SECOND}/s")
    return problems


def check_sharded(report, kubectl, dep, binary):
    docs = render(kubectl, os.path.join(K8S, "overlays", "sharded"))
    report.equal("sharded renders 3 dashboard ConfigMaps, PodDisruptionBudget, PrometheusRule, Service, "
                 "ServiceMonitor, StatefulSet", kinds(docs),
                 ["ConfigMap"] * 3 + ["PodDisruptionBudget", "PrometheusRule", "Service", "ServiceMonitor", "StatefulSet"])
    sts = find(docs, "StatefulSet", "anthropic-work-exporter")
    pod = sts["spec"]["template"]
    c, _ = pod_security(report, "sharded", pod)
    env, args = env_map(c), c["args"]
    report.check("sharded: --shard is the pod ordinal (pod-index label via the downward API)",
                 "--shard=$(SHARD)" in args and env["SHARD"]["valueFrom"]["fieldRef"]["fieldPath"]
                 == "metadata.labels['apps.kubernetes.io/pod-index']", args)
    report.check("sharded: --total-shards comes from TOTAL_SHARDS", "--total-shards=$(TOTAL_SHARDS)" in args)
    problems = shard_count_problems(sts)
    report.check(f"sharded: {sts['spec']['replicas']} replicas = TOTAL_SHARDS, within the request budget",
                 not problems, problems)
    svc = check_service_wiring(report, "sharded", docs, pod["metadata"]["labels"])
    report.check("sharded: the governing Service is headless",
                 svc and svc["spec"].get("clusterIP") == "None" and sts["spec"]["serviceName"] == svc["metadata"]["name"])
    pdb = find(docs, "PodDisruptionBudget")
    report.check("sharded: the PodDisruptionBudget selects the shards and lets one go at a time",
                 pdb["spec"].get("maxUnavailable") == 1 and all(
                     pod["metadata"]["labels"].get(k) == v for k, v in pdb["spec"]["selector"]["matchLabels"].items()))
    report.equal("sharded: the pod template is the base Deployment's plus the shard wiring",
                 strip_sharding(pod), strip_sharding(dep["spec"]["template"]))
    check_flags(report, "sharded", c, binary)
    check_rule_groups(report, "sharded", docs)
    check_dashboard_maps(report, "sharded", docs)
    check_resharding_recipe(report, kubectl)


def strip_sharding(template):
    t = deepcopy(template)
    c = container(t["spec"], "exporter")
    c["args"] = [a for a in c.get("args", []) if not a.startswith(SHARDING_ARGS)]
    c["env"] = [e for e in c.get("env", []) if e["name"] not in SHARDING_ENV]
    return t


def check_resharding_recipe(report, kubectl):
    """deploy/README.md's overlay for another shard count, applied for real."""
    block = doc_block("test: resharding overlay")
    if not report.check("deploy/README.md has the resharding overlay example", block):
        return
    docs = render_doc_overlay(kubectl, yaml.safe_load(block), "README's resharding overlay")
    sts = find(docs, "StatefulSet")
    report.check(f"the README's resharding overlay yields {sts['spec']['replicas']} replicas = TOTAL_SHARDS, "
                 "within the request budget", sts["spec"]["replicas"] != 3 and not shard_count_problems(sts),
                 shard_count_problems(sts) or "the example should change the count")


def check_config_file(report, kubectl, binary):
    docs = render(kubectl, os.path.join(K8S, "overlays", "config-file"))
    report.equal("config-file renders its config ConfigMap, 3 dashboard ConfigMaps, Deployment, PrometheusRule, "
                 "Service, ServiceMonitor", kinds(docs),
                 ["ConfigMap"] * 4 + ["Deployment", "PrometheusRule", "Service", "ServiceMonitor"])
    dep = find(docs, "Deployment")
    spec = dep["spec"]["template"]["spec"]
    c, key_dirs = pod_security(report, "config-file", dep["spec"]["template"])
    cm = find(docs, "ConfigMap", next(d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"
                                      and d["metadata"]["name"].startswith("anthropic-work-exporter-config")))
    flag = next((a.split("=", 1)[1] for a in c["args"] if a.startswith("--config.file=")), "")
    vol = next((v["name"] for v in spec["volumes"] if v.get("configMap", {}).get("name") == cm["metadata"]["name"]), None)
    mount = next((m["mountPath"] for m in c["volumeMounts"] if m["name"] == vol), None)
    report.check("config-file: --config.file names config.yaml in the mounted ConfigMap",
                 mount and flag == f"{mount}/config.yaml" and "config.yaml" in cm["data"], (flag, mount))
    report.check("config-file: discovery is off", not any(a.startswith("--discovery") for a in c["args"]))
    check_flags(report, "config-file", c, binary)
    config = yaml.safe_load(cm["data"]["config.yaml"])
    key_files = [e["key"]["file"] for e in config["environments"]]
    report.check("config-file: every key file is in the mounted keys Secret",
                 all(os.path.dirname(k) in key_dirs for k in key_files), key_files)
    if os.access(binary, os.X_OK):
        check_config_with_binary(report, binary, cm["data"]["config.yaml"], key_files)


def check_config_with_binary(report, binary, text, key_files):
    """The example config.yaml through the exporter's own check-config, keys faked in a temp dir."""
    with tempfile.TemporaryDirectory() as tmp:
        for k in key_files:
            path = os.path.join(tmp, os.path.basename(k))
            with open(path, "w") as f:
                f.write("example-environment-key\n")
            os.chmod(path, 0o600)
            text = text.replace(k, path)
        cfg = os.path.join(tmp, "config.yaml")
        with open(cfg, "w") as f:
            f.write(text)
        out = run([binary, "check-config", "--config.file", cfg],
                  env={**os.environ, "ANTHROPIC_API_KEY": "sk-ant-example"})
    report.check("config-file: the exporter's check-config accepts the example config.yaml", out.returncode == 0,
                 out.stdout + out.stderr)


def check_examples(report):
    docs = load_yaml_file(os.path.join(K8S, "examples", "secrets.example.yaml"))
    names = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    report.check("the example Secrets are the two the pods read", set(names) == {API_KEY_SECRET, KEYS_SECRET})
    keys = names.get(KEYS_SECRET, {}).get("stringData", {})
    report.check("the example environment-keys Secret is keyed by environment id",
                 keys and all(re.fullmatch(r"env_\w+", k) for k in keys), list(keys))
    report.check("the API key Secret holds `api-key`", "api-key" in names.get(API_KEY_SECRET, {}).get("stringData", {}))


def check(report, kubectl, promtool, binary):
    report.section("kubernetes: files")
    check_yaml_files(report)
    check_monitoring_component(report, promtool)
    check_examples(report)
    report.section("kubernetes: base")
    dep = check_base(report, kubectl, binary)
    report.section("kubernetes: overlays/sharded")
    check_sharded(report, kubectl, dep, binary)
    report.section("kubernetes: overlays/config-file")
    check_config_file(report, kubectl, binary)
