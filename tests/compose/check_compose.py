#!/usr/bin/env python3
"""Checks the local monitoring stack in deploy/compose/ without a container engine.

  check_compose.py [--root DIR]        check the stack
  check_compose.py selftest [--root]   break copies on purpose; each fault must be caught

What is checked (docker compose itself cannot run on the build machines):
- compose.yaml parses and has the four services; images are pinned; host
  ports are unique; the exporter is built from the repository's Dockerfile and
  runs the demo on the port it publishes;
- every bind-mounted path exists in the repository; each is then copied to
  where the container would see it, under a temporary root, so that
- `promtool check config` checks the Prometheus configuration and the rule
  files exactly as the Prometheus container resolves them (rules from alerts/),
  and every rule file in alerts/ is loaded;
- `amtool check-config` checks the Alertmanager configuration it mounts;
- Grafana's provisioning files have the structure Grafana reads (apiVersion 1,
  data sources pointing at the Prometheus service, a file provider whose path
  holds every dashboard of dashboards/);
- Prometheus scrapes the exporter service under the job name the alerts expect
  and sends alerts to the Alertmanager service;
- deploy/compose/README.md gives the one command and every URL.

Needs PyYAML (the project venv has it), promtool and amtool (Debian's
prometheus and prometheus-alertmanager packages). Exit status 0 when all holds.
"""

import argparse
import copy
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

SERVICES = {"exporter", "prometheus", "alertmanager", "grafana"}
# Files other issues deliver into this repository. Until they land on this
# branch their absence is reported as PENDING instead of failing; once present
# they are checked like everything else.
PENDING_OK: set = set()  # everything the stack mounts now exists: check it all
DATASOURCE_KEYS = {"name", "type", "uid", "access", "url", "isDefault", "editable", "jsonData",
                   "secureJsonData", "orgId", "basicAuth", "basicAuthUser", "withCredentials",
                   "version", "database", "user"}
PROVIDER_KEYS = {"name", "orgId", "folder", "folderUid", "type", "disableDeletion",
                 "updateIntervalSeconds", "allowUiUpdates", "options"}
COMMAND = "docker compose -f deploy/compose/compose.yaml up"


class Check:
    def __init__(self, root, quiet=False):
        self.root = root
        self.compose_dir = os.path.join(root, "deploy", "compose")
        self.errors = []
        self.pending = []
        self.quiet = quiet

    def fail(self, msg):
        self.errors.append(msg)
        if not self.quiet:
            print(f"FAIL {msg}")

    def ok(self, msg):
        if not self.quiet:
            print(f"  ok   {msg}")

    def rel(self, path):
        return os.path.relpath(path, self.root)

    def exists_or_pending(self, path, what):
        rel = self.rel(path)
        if os.path.exists(path):
            return True
        if rel in PENDING_OK:
            self.pending.append(f"{what}: {rel} (delivered by another issue, not on this branch yet)")
            if not self.quiet:
                print(f"  PENDING {what}: {rel} is not in this tree yet")
            return False
        self.fail(f"{what}: {rel} does not exist")
        return False


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def flag(command, name):
    """Value of --name=value (or --name value) in a command list."""
    for i, a in enumerate(command or []):
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
        if a == f"--{name}" and i + 1 < len(command):
            return command[i + 1]
    return None


def port_of(address, default=None):
    m = re.search(r":(\d+)$", address or "")
    return int(m.group(1)) if m else default


def bind_mounts(c, name, svc, volumes_declared):
    """(host path, container path) of every bind mount of a service."""
    out = []
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            src, dst, typ = v.get("source"), v.get("target"), v.get("type")
            if typ == "volume":
                if src not in volumes_declared:
                    c.fail(f"{name}: named volume {src!r} not declared under top-level volumes")
                continue
        else:
            parts = v.split(":")
            src, dst = parts[0], parts[1] if len(parts) > 1 else None
            if not (src.startswith(".") or src.startswith("/")):
                if src not in volumes_declared:
                    c.fail(f"{name}: named volume {src!r} not declared under top-level volumes")
                continue
        if not dst or not dst.startswith("/"):
            c.fail(f"{name}: mount {v!r} has no absolute container path")
            continue
        out.append((os.path.normpath(os.path.join(c.compose_dir, src)), dst))
    return out


def mirror(c, mounts, fsroot):
    """Copy every bind mount to where the container sees it, under fsroot."""
    for host, dst in mounts:
        if not os.path.exists(host):
            continue
        target = os.path.join(fsroot, dst.lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.isdir(host):
            shutil.copytree(host, target, dirs_exist_ok=True)
        else:
            shutil.copy(host, target)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, (p.stdout + p.stderr).strip()


def check_compose(c, compose):
    if not isinstance(compose, dict) or not isinstance(compose.get("services"), dict):
        c.fail("compose.yaml: no services")
        return {}
    services = compose["services"]
    missing = SERVICES - set(services)
    if missing:
        c.fail(f"compose.yaml: services missing: {sorted(missing)}")
    declared = set((compose.get("volumes") or {}).keys())
    host_ports = []
    mounts = {}
    for name, svc in services.items():
        if "image" in svc and "build" not in svc:
            image = svc["image"]
            tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else None
            if not tag or tag == "latest":
                c.fail(f"{name}: image {image!r} must be pinned to a version")
        for p in svc.get("ports") or []:
            host_ports.append(str(p).split(":")[0] if ":" in str(p) else str(p))
        mounts[name] = bind_mounts(c, name, svc, declared)
        for host, dst in mounts[name]:
            if c.exists_or_pending(host, f"{name} mounts {dst}"):
                c.ok(f"{name}: {c.rel(host)} -> {dst}")
    dup = sorted({p for p in host_ports if host_ports.count(p) > 1})
    if dup:
        c.fail(f"compose.yaml: host ports published twice: {dup}")

    exp = services.get("exporter") or {}
    build = exp.get("build")
    if not isinstance(build, dict) or not build.get("context"):
        c.fail("exporter: must be built (build.context) from the repository")
    else:
        ctx = os.path.normpath(os.path.join(c.compose_dir, build["context"]))
        if ctx != os.path.normpath(c.root):
            c.fail(f"exporter: build context {build['context']!r} is not the repository root")
        dockerfile = os.path.join(ctx, build.get("dockerfile", "Dockerfile"))
        if c.exists_or_pending(dockerfile, "exporter build"):
            c.ok(f"exporter: built from {c.rel(dockerfile)}")
    cmd = exp.get("command") or []
    if not cmd or cmd[0] != "demo":
        c.fail(f"exporter: command must run the demo, is {cmd}")
    listen = flag(cmd, "web.listen-address")
    if not listen or not (listen.startswith("0.0.0.0:") or listen.startswith(":")):
        c.fail(f"exporter: --web.listen-address must listen on every interface in a container, is {listen!r}")
    eport = port_of(listen)
    if eport and not any(str(p).endswith(f":{eport}") for p in exp.get("ports") or []):
        c.fail(f"exporter: listens on {eport} but does not publish it")
    return mounts


def check_prometheus(c, compose, fsroot, mounts):
    svc = compose["services"].get("prometheus") or {}
    cfg = flag(svc.get("command"), "config.file")
    if not cfg:
        c.fail("prometheus: no --config.file in its command")
        return None
    path = os.path.join(fsroot, cfg.lstrip("/"))
    if not os.path.exists(path):
        c.fail(f"prometheus: {cfg} is not mounted")
        return None
    rc, out = run(["promtool", "check", "config", path])
    if rc != 0:
        c.fail(f"promtool check config {cfg}:\n{out}")
    else:
        c.ok(f"promtool check config {cfg}: {out.splitlines()[-1] if out else 'SUCCESS'}")
    prom = load_yaml(path)

    # Rule files as the container resolves them, every rule file of alerts/ among them.
    alerts_dir = os.path.join(c.root, "alerts")
    loaded = set()
    for pattern in prom.get("rule_files") or []:
        full = os.path.join(os.path.dirname(path), pattern)
        for f in glob.glob(full):
            loaded.add(os.path.basename(f))
    if os.path.isdir(alerts_dir):
        rule_files = {os.path.basename(f) for f in glob.glob(os.path.join(alerts_dir, "*.y*ml"))
                      if isinstance(load_yaml(f), dict) and "groups" in load_yaml(f)}
        if not rule_files:
            c.fail("alerts/ has no rule file (a YAML file with groups:)")
        if rule_files - loaded:
            c.fail(f"prometheus: rule_files {prom.get('rule_files')} leave out {sorted(rule_files - loaded)}")
        elif loaded:
            c.ok(f"prometheus loads every rule file of alerts/: {sorted(loaded)}")
    elif not prom.get("rule_files"):
        c.fail("prometheus: no rule_files")

    # Scrape the exporter service under the job name the alerts expect.
    exp = compose["services"].get("exporter") or {}
    eport = port_of(flag(exp.get("command"), "web.listen-address"))
    jobs = {j.get("job_name"): j for j in prom.get("scrape_configs") or []}
    job = jobs.get("anthropic-work-exporter")
    targets = [t for sc in (job or {}).get("static_configs") or [] for t in sc.get("targets") or []]
    if f"exporter:{eport}" not in targets:
        c.fail(f"prometheus: job anthropic-work-exporter must scrape exporter:{eport}, scrapes {targets}")
    else:
        c.ok(f"prometheus scrapes exporter:{eport} as job anthropic-work-exporter")
    am = compose["services"].get("alertmanager") or {}
    amport = port_of(flag(am.get("command"), "web.listen-address"), 9093)
    am_targets = [t for a in (prom.get("alerting") or {}).get("alertmanagers") or []
                  for sc in a.get("static_configs") or [] for t in sc.get("targets") or []]
    if f"alertmanager:{amport}" not in am_targets:
        c.fail(f"prometheus: must send alerts to alertmanager:{amport}, sends to {am_targets}")
    else:
        c.ok(f"prometheus sends alerts to alertmanager:{amport}")
    return prom


def check_alertmanager(c, compose, fsroot):
    svc = compose["services"].get("alertmanager") or {}
    cfg = flag(svc.get("command"), "config.file")
    if not cfg:
        c.fail("alertmanager: no --config.file in its command")
        return
    path = os.path.join(fsroot, cfg.lstrip("/"))
    if not os.path.exists(path):
        if not any("alertmanager.yml" in p for p in c.pending):
            c.fail(f"alertmanager: {cfg} is not mounted")
        return
    rc, out = run(["amtool", "check-config", path])
    if rc != 0:
        c.fail(f"amtool check-config {cfg}:\n{out}")
    else:
        c.ok(f"amtool check-config {cfg}: SUCCESS")


def check_grafana(c, compose, fsroot, prom):
    svc = compose["services"].get("grafana") or {}
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    prov = os.path.join(fsroot, (env.get("GF_PATHS_PROVISIONING") or "/etc/grafana/provisioning").lstrip("/"))
    ds_files = glob.glob(os.path.join(prov, "datasources", "*.y*ml"))
    db_files = glob.glob(os.path.join(prov, "dashboards", "*.y*ml"))
    if not ds_files:
        c.fail("grafana: no data source provisioning file under /etc/grafana/provisioning/datasources")
    if not db_files:
        c.fail("grafana: no dashboard provisioning file under /etc/grafana/provisioning/dashboards")

    prom_svc = compose["services"].get("prometheus") or {}
    pport = port_of(flag(prom_svc.get("command"), "web.listen-address"), 9090)
    scrape = ((prom or {}).get("global") or {}).get("scrape_interval", "1m")
    defaults = []
    proms = []
    for f in ds_files:
        doc = load_yaml(f)
        where = f"grafana datasources/{os.path.basename(f)}"
        if not isinstance(doc, dict) or doc.get("apiVersion") != 1:
            c.fail(f"{where}: apiVersion must be 1")
            continue
        for ds in doc.get("datasources") or []:
            unknown = set(ds) - DATASOURCE_KEYS
            if unknown:
                c.fail(f"{where}: unknown keys {sorted(unknown)} in {ds.get('name')}")
            for k in ("name", "type", "url", "uid"):
                if not ds.get(k):
                    c.fail(f"{where}: data source without {k}")
            if ds.get("access", "proxy") != "proxy":
                c.fail(f"{where}: {ds.get('name')}: access must be proxy (the browser cannot reach service names)")
            if ds.get("isDefault"):
                defaults.append(ds)
            m = re.fullmatch(r"https?://([\w.-]+):(\d+)/?", ds.get("url") or "")
            if not m or m.group(1) not in compose["services"]:
                c.fail(f"{where}: {ds.get('name')}: url {ds.get('url')!r} must be http://<service>:<port> of the stack")
            if ds.get("type") == "prometheus":
                proms.append(ds)
                if m and (m.group(1), int(m.group(2))) != ("prometheus", pport):
                    c.fail(f"{where}: prometheus url must be http://prometheus:{pport}")
                ti = (ds.get("jsonData") or {}).get("timeInterval")
                if ti != scrape:
                    c.fail(f"{where}: jsonData.timeInterval {ti!r} must equal the scrape interval {scrape!r} ($__rate_interval)")
    if len(proms) != 1 or len(defaults) != 1 or defaults[0] is not proms[0]:
        c.fail("grafana: exactly one Prometheus data source, the default one (the dashboards' `datasource` variable picks it)")
    else:
        c.ok(f"grafana data source {proms[0]['name']!r} -> {proms[0]['url']} (default, timeInterval {scrape})")

    want = sorted(os.path.basename(p) for p in glob.glob(os.path.join(c.root, "dashboards", "*.json")))
    for f in db_files:
        doc = load_yaml(f)
        where = f"grafana dashboards/{os.path.basename(f)}"
        if not isinstance(doc, dict) or doc.get("apiVersion") != 1 or not doc.get("providers"):
            c.fail(f"{where}: needs apiVersion 1 and providers")
            continue
        for p in doc["providers"]:
            unknown = set(p) - PROVIDER_KEYS
            if unknown:
                c.fail(f"{where}: unknown keys {sorted(unknown)}")
            if p.get("type", "file") != "file" or not p.get("name"):
                c.fail(f"{where}: provider needs a name and type file")
            path = (p.get("options") or {}).get("path")
            if not path:
                c.fail(f"{where}: provider {p.get('name')} has no options.path")
                continue
            got = sorted(os.path.basename(x) for x in glob.glob(os.path.join(fsroot, path.lstrip("/"), "*.json")))
            if got != want:
                c.fail(f"{where}: {path} holds {got} in the container, dashboards/ has {want}")
            else:
                c.ok(f"grafana provider {p.get('name')!r} loads {got} from {path}")
    home = env.get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home and not os.path.exists(os.path.join(fsroot, home.lstrip("/"))):
        c.fail(f"grafana: home dashboard {home} is not mounted")


def check_readme(c, compose):
    path = os.path.join(c.compose_dir, "README.md")
    if not os.path.exists(path):
        c.fail("deploy/compose/README.md missing")
        return
    text = open(path, encoding="utf-8").read()
    if COMMAND not in text:
        c.fail(f"README.md must give the command `{COMMAND}`")
    for name, svc in compose["services"].items():
        for p in svc.get("ports") or []:
            host = str(p).split(":")[0]
            if f"localhost:{host}" not in text:
                c.fail(f"README.md does not mention http://localhost:{host} ({name})")
    if "not run" not in text.lower():
        c.fail("README.md must say what was not run (no container engine on the build machines)")
    check_readme_claims(c, compose, text)


def minutes(duration):
    """'15m', '90s', '1h' -> minutes."""
    n, unit = int(duration[:-1]), duration[-1]
    return n * {"s": 1 / 60, "m": 1, "h": 60}[unit]


def check_readme_claims(c, compose, text):
    """What the README says the stack does is what its files say: every `NAME=value` or
    `--flag=value` it quotes is set in compose.yaml, and its range of `for:` durations is
    the rules' own."""
    dumped = yaml.safe_dump(compose, width=1 << 20)
    for setting in re.findall(r"`((?:[A-Z][A-Z0-9_]+|--[a-z][\w.-]*)=[^`\s]+)`", text):
        if setting not in dumped:
            c.fail(f"README.md quotes `{setting}`, which compose.yaml does not set")
    fors = [minutes(r["for"]) for p in glob.glob(os.path.join(c.root, "alerts", "*.rules.yml"))
            for g in load_yaml(p)["groups"] for r in g["rules"] if "alert" in r and "for" in r]
    m = re.search(r"`for:` durations \(([\d.]+) to ([\d.]+) minutes\)", text)
    if fors and not (m and (float(m.group(1)), float(m.group(2))) == (min(fors), max(fors))):
        c.fail(f"README.md must give the rules' `for:` durations as ({min(fors):g} to {max(fors):g} minutes)"
               f", not {m.group(0) if m else 'nothing'}")


def check(root, compose=None, quiet=False):
    c = Check(root, quiet)
    path = os.path.join(c.compose_dir, "compose.yaml")
    if compose is None:
        compose = load_yaml(path)
        c.ok("compose.yaml parses")
    mounts = check_compose(c, compose)
    if c.errors:
        return c
    with tempfile.TemporaryDirectory() as fsroot:
        for name in ("prometheus", "alertmanager", "grafana"):
            sub = os.path.join(fsroot, name)
            mirror(c, mounts.get(name, []), sub)
        prom = check_prometheus(c, compose, os.path.join(fsroot, "prometheus"), mounts)
        check_alertmanager(c, compose, os.path.join(fsroot, "alertmanager"))
        check_grafana(c, compose, os.path.join(fsroot, "grafana"), prom)
    check_readme(c, compose)
    return c


STUBS = {
    "Dockerfile": "FROM scratch\n",
    "alerts/stub.rules.yml": "groups:\n  - name: stub\n    rules:\n      - alert: Stub\n        expr: vector(1)\n",
    "deploy/alertmanager/alertmanager.yml": "route:\n  receiver: x\nreceivers:\n  - name: x\n",
}


def selftest(root):
    # Work on a copy in which files still pending from other issues are stubbed,
    # so that every fault is checked for, whatever has landed on this branch.
    with tempfile.TemporaryDirectory() as tmp:
        for part in ("deploy", "dashboards", "alerts", "Dockerfile"):
            src = os.path.join(root, part)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(tmp, part))
            elif os.path.exists(src):
                shutil.copy(src, os.path.join(tmp, part))
        for rel, text in STUBS.items():
            top = rel.split("/")[0] if rel.startswith("alerts/") else rel
            if not os.path.exists(os.path.join(root, top)):
                os.makedirs(os.path.dirname(os.path.join(tmp, rel)) or tmp, exist_ok=True)
                with open(os.path.join(tmp, rel), "w") as f:
                    f.write(text)
                print(f"  (stub for the self-test: {rel})")
        return selftest_in(tmp)


def selftest_in(root):
    pristine = load_yaml(os.path.join(root, "deploy", "compose", "compose.yaml"))
    base = check(root, copy.deepcopy(pristine), quiet=True)
    if base.errors or base.pending:
        print(f"selftest: the unmodified stack already fails: {base.errors + base.pending}")
        return 1

    def svc(d, n):
        return d["services"][n]

    mutations = {
        "mount of a missing file": lambda d: svc(d, "prometheus")["volumes"].append("./nope.yml:/etc/nope.yml:ro"),
        "unpinned image": lambda d: svc(d, "grafana").__setitem__("image", "grafana/grafana"),
        "exporter not built from the repo": lambda d: svc(d, "exporter")["build"].__setitem__("context", "."),
        "exporter on loopback only": lambda d: svc(d, "exporter").__setitem__("command", ["demo", "--web.listen-address=127.0.0.1:9781"]),
        "prometheus config not mounted": lambda d: svc(d, "prometheus").__setitem__("volumes", [v for v in svc(d, "prometheus")["volumes"] if "prometheus.yml" not in v]),
        "rules mounted elsewhere": lambda d: svc(d, "prometheus").__setitem__("volumes", [v.replace("/etc/prometheus/rules", "/rules") for v in svc(d, "prometheus")["volumes"]]),
        "dashboards not mounted": lambda d: svc(d, "grafana").__setitem__("volumes", [v for v in svc(d, "grafana")["volumes"] if "dashboards:" not in v]),
        "provisioning not mounted": lambda d: svc(d, "grafana").__setitem__("volumes", [v for v in svc(d, "grafana")["volumes"] if "provisioning" not in v]),
        "service renamed": lambda d: d["services"].__setitem__("prom", d["services"].pop("prometheus")),
        "port published twice": lambda d: svc(d, "grafana")["ports"].append("9090:9090"),
        "undeclared named volume": lambda d: svc(d, "grafana")["volumes"].append("nowhere:/x"),
        "a setting the README quotes dropped": lambda d: svc(d, "exporter").__setitem__(
            "command", [a for a in svc(d, "exporter")["command"] if not a.startswith("--web.external-url=")]),
    }
    missed = []
    for label, mutate in mutations.items():
        d = copy.deepcopy(pristine)
        mutate(d)
        c = check(root, d, quiet=True)
        print(f"  {'caught' if c.errors else 'MISSED':6} {label}" + (f": {c.errors[0].splitlines()[0]}" if c.errors else ""))
        if not c.errors:
            missed.append(label)
    print(f"selftest: {len(mutations) - len(missed)} of {len(mutations)} faults caught")
    return 1 if missed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", nargs="?", default="check", choices=["check", "selftest"])
    ap.add_argument("--root", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
    args = ap.parse_args()
    for tool in ("promtool", "amtool"):
        if not shutil.which(tool):
            print(f"FAIL {tool} not on PATH (scripts/test installs Debian's prometheus and prometheus-alertmanager)")
            return 1
    if args.mode == "selftest":
        return selftest(args.root)
    c = check(args.root)
    for p in c.pending:
        print(f"PENDING {p}")
    print(f"compose: {'ok' if not c.errors else f'{len(c.errors)} problem(s)'}"
          + (f", {len(c.pending)} pending" if c.pending else ""))
    return 1 if c.errors else 0


if __name__ == "__main__":
    sys.exit(main())
