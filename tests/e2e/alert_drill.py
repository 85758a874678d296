#!/usr/bin/env python3
"""End-to-end alert drill with the real programs (stdlib only).

Starts, all on 127.0.0.1 with free ports and a temporary directory:
  - the exporter in demo mode (simulator + exporter in one process), 4 environments,
    the simulator on a manual clock (`--sim.clock manual`) that this script moves
    (see SIM_SPEED and SCENARIO_JUMP_S); the exporter reads the same clock;
  - Prometheus (scrape and rule evaluation every 1 s) loading a temporary copy
    of alerts/*.yml in which `for:` durations and the no-workers windows are
    shortened (see DRILL_REWRITES; the shipped file keeps production values);
  - Alertmanager with a temporary copy of deploy/alertmanager/alertmanager.yml
    whose receiver URLs point at a webhook served by this script, and whose
    group_wait/group_interval are shortened;
  - the webhook receiver itself (a thread of this script).

After a steady baseline (work picked up everywhere, no no-workers alert
pending), one simulated environment per scenario, all at once:
  env 1  workers-down      -> AnthropicWorkNoWorkers (critical, pager) must arrive
  env 2  stale-heartbeats  -> AnthropicWorkLeasesExpired (warning, team) must arrive
  env 3  saturated         -> AnthropicWorkNoWorkers must NOT arrive, although
                              work waits and no worker is idle (checked in Prometheus),
                              and healthcheck items wait behind the backlog
  env 4  api-down          -> AnthropicWorkRefreshFailing (critical, pager) must arrive
Each arriving alert must carry every annotation, and a drilldown_url for its
environment whose JSON names what is behind the alert (oldest queued items,
expired leases, refresh errors). The environment is then switched back to
`steady` and the resolved notification must arrive. Before the scenarios, the
Alertmanager's inhibition rules are checked with synthetic alerts.

Time: Prometheus's windows and `for:` run on real time, the workload on
simulated time. A background thread advances the simulator SIM_SPEED times
faster than real time, so work keeps flowing through every real-time window;
right after the switches the drill jumps SCENARIO_JUMP_S simulated seconds at
once, so leases pass their 300 s TTL, held work finishes and waiting items age
without anyone waiting for it. What is left of the run is real time: the
shortened rule windows and `for:`, and Alertmanager's grouping.

Exit status 0 when every check passed, 1 otherwise. Every process started is
stopped on exit.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JOB = "anthropic-work-exporter"
REFRESH_INTERVAL = "1s"
# The whole drill (start-up included) must end within this many seconds.
DEADLINE_S = 150
# The no-workers rule's pick-up windows, shortened (real time: Prometheus's).
NO_WORKERS_WINDOW = "8s"
# Saturated must stay silent for at least this long after work waits with
# no idle worker (the shortened no-workers window + for: + margin).
SATURATED_QUIET_S = 8 + 5 + 4
# Steady load before the scenarios: longer than the shortened no-workers window.
BASELINE_S = 10
# Simulated seconds per real second, moved in steps of SIM_STEP_S real
# seconds: at 20 arrivals a simulated minute, a steady environment picks up
# about 11 items in each 8 s window, so "nothing picked up" means something.
SIM_SPEED = 4
SIM_STEP_S = 0.25
# Simulated seconds jumped at once after the switches: stale leases pass their
# 300 s TTL, workers-down workers finish what they held and drop out of the
# API's 30 s polling window, and waiting work ages past the shortened thresholds.
SCENARIO_JUMP_S = 600

# Rewrites applied to the temporary copy of the rules, so the drill finishes
# in minutes. (pattern, replacement, expected number of matches; None = at
# least one). A mismatch fails the drill: update this table with the rules.
DRILL_REWRITES = [
    (r"(?m)^(\s+for:) \S+$", r"\1 5s", None),
    # No-workers: "nothing picked up in 5 minutes" -> NO_WORKERS_WINDOW; "oldest item
    # older than 60 s" (and the slow way's 180 s) -> 5 s, so that the saturated
    # environment (where work waits ~10-20 s) meets it and only the progress
    # clauses keep it silent. Both forms: the classic _count and the native
    # histogram; every series carries the mixin's job selector.
    (r"increase\((anthropic_work_queue_wait_seconds(?:_count)?\{[^}]*\})\[5m\]\)",
     rf"increase(\1[{NO_WORKERS_WINDOW}])", 2),
    (r"\((anthropic_work_queue_oldest_age_seconds\{[^}]*\}) > (?:60|180)\)", r"(\1 > 5)", 2),
    # Its healthcheck way: "no pick-up in 2 minutes" -> NO_WORKERS_WINDOW; "a
    # healthcheck waiting over 60 s" -> 5 s (the demo sends one every
    # HEALTHCHECK_INTERVAL), so that healthchecks waiting behind the saturated
    # backlog meet it too and only the progress clauses keep it silent.
    (r"increase\((anthropic_work_queue_wait_seconds(?:_count)?\{[^}]*\})\[2m\]\)",
     rf"increase(\1[{NO_WORKERS_WINDOW}])", 2),
    (r"\((anthropic_work_healthcheck_waiting_oldest_age_seconds\{[^}]*\}) > 60\)", r"(\1 > 5)", 1),
]
# The demo's healthcheck items, one per environment this often (simulated time).
HEALTHCHECK_INTERVAL = "5s"
AM_REWRITES = [
    (r"http://alert-receiver\.example\.invalid", None, 4),  # replaced by the webhook URL
    (r"(?m)^(\s+group_wait:) \S+$", r"\1 1s", None),
    (r"(?m)^(\s+group_interval:) \S+$", r"\1 2s", None),
]
REQUIRED_ANNOTATIONS = ("summary", "description", "runbook_url", "dashboard_url", "drilldown_url")

T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


class DrillFailure(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=5):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
        return resp.status, raw


def get_json(url, headers=None):
    status, raw = http("GET", url, headers=headers)
    return status, json.loads(raw)


def rewrite(text, rules, what):
    for pattern, repl, expected in rules:
        text, n = re.subn(pattern, repl, text)
        if (expected is None and n == 0) or (expected is not None and n != expected):
            raise DrillFailure(
                f"{what}: rewrite {pattern!r} matched {n} times, expected {expected or 'at least 1'}; "
                "the shipped file changed, update the drill's rewrite table")
    return text


# --- webhook receiver -------------------------------------------------------

class Inbox:
    """Notifications the Alertmanager delivered, in arrival order."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []  # (monotonic time, path, payload)

    def add(self, path, payload):
        with self.lock:
            self.items.append((time.monotonic(), path, payload))

    def alerts(self):
        """Flattened (time, path, receiver, alert) for every alert of every notification."""
        with self.lock:
            items = list(self.items)
        return [(t, path, p.get("receiver"), a) for t, path, p in items for a in p.get("alerts", [])]


def start_webhook(inbox):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            try:
                inbox.add(self.path, json.loads(body))
            except ValueError:
                inbox.add(self.path, {"invalid": body.decode(errors="replace")})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- processes --------------------------------------------------------------

class Procs:
    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []  # (name, Popen, log path)

    def start(self, name, argv):
        path = self.workdir / f"{name}.log"
        f = open(path, "wb")
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append((name, p, path))
        log(f"started {name} (pid {p.pid}): {' '.join(argv[:3])} ...")
        return p

    def check_alive(self):
        for name, p, path in self.procs:
            if p.poll() is not None:
                raise DrillFailure(f"{name} exited with status {p.returncode}; see its log below")

    def stop_all(self):
        for name, p, _ in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for name, p, _ in reversed(self.procs):
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)

    def dump_logs(self, lines=25):
        for name, _, path in self.procs:
            try:
                tail = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            print(f"----- last {len(tail)} lines of {name} log -----")
            for line in tail:
                print(f"  {line}")


def wait_until(what, fn, timeout, procs, interval=0.3):
    end = time.monotonic() + timeout
    last_err = None
    while time.monotonic() < end:
        procs.check_alive()
        try:
            if fn():
                return
        except (OSError, ValueError, KeyError, urllib.error.URLError) as e:
            last_err = e
        time.sleep(interval)
    raise DrillFailure(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last_err})" if last_err else ""))


def ok_status(url):
    try:
        status, _ = http("GET", url, timeout=2)
        return status == 200
    except urllib.error.HTTPError:
        return False



def start_rules_stack(procs, args, w, base_url, ports, webhook, mixin_config):
    """The exporter (serve --config.file w/exporter.yml, refreshing every second), the shipped
    rules rendered with `mixin_config`, and Prometheus and Alertmanager (the shipped config, its
    receivers pointed at `webhook`) on loopback; waits until the exporter and Prometheus are ready
    and returns Prometheus' URL. `ports`: (exporter, Prometheus, Alertmanager). Shared by
    mixed_fleet.py and metadata_routing.py, which differ in the exporter's config and the checks."""
    exp_port, prom_port, am_port = ports
    procs.start("exporter", [
        args.bin, "serve", "--config.file", str(w / "exporter.yml"), "--api.base-url", base_url,
        "--refresh.interval", "1s", "--web.listen-address", f"127.0.0.1:{exp_port}"])
    render = subprocess.run([sys.executable, str(ROOT / "mixin/render.py"), "--rules-only", "--out", str(w),
                             "--config", mixin_config], capture_output=True, text=True)
    if render.returncode != 0:
        raise DrillFailure(f"mixin/render.py failed: {render.stderr}")
    am_rules = [(p, f"http://127.0.0.1:{webhook.server_address[1]}" if r is None else r, n)
                for p, r, n in AM_REWRITES]
    (w / "alertmanager.yml").write_text(
        rewrite((ROOT / "deploy/alertmanager/alertmanager.yml").read_text(), am_rules, "alertmanager.yml"))
    (w / "prometheus.yml").write_text(f"""\
global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}
rule_files: ['{w}/alerts/anthropic-work-exporter.rules.yml']
alerting: {{alertmanagers: [{{static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]}}]}}
scrape_configs:
  - job_name: anthropic-work-exporter
    static_configs: [{{targets: ['127.0.0.1:{exp_port}']}}]
""")
    procs.start("alertmanager", [
        args.alertmanager, f"--config.file={w / 'alertmanager.yml'}", f"--storage.path={w / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=", "--log.level=warn"])
    procs.start("prometheus", [
        args.prometheus, f"--config.file={w / 'prometheus.yml'}", f"--storage.tsdb.path={w / 'prom-data'}",
        f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"])
    prom = f"http://127.0.0.1:{prom_port}"
    wait_until("the exporter to be ready", lambda: ok_status(f"http://127.0.0.1:{exp_port}/-/ready"), 30, procs)
    wait_until("Prometheus to be ready", lambda: ok_status(prom + "/-/ready"), 60, procs)
    return prom


class StackRun:
    """What mixed_fleet.py and metadata_routing.py share: their processes, the webhook inbox,
    PASS/FAIL lines, Prometheus queries, and a two-environment simulator in the backlog scenario."""

    def __init__(self, args):
        self.args = args
        self.workdir = Path(args.workdir)
        self.procs = Procs(self.workdir)
        self.inbox = Inbox()
        self.failures = []
        self.prom = None

    def check(self, name, ok, detail=""):
        log(f"{'PASS' if ok else 'FAIL'}  {name}{': ' + str(detail) if detail and not ok else ''}")
        if not ok:
            self.failures.append(name)
        return ok

    def query(self, q):
        _, body = get_json(self.prom + "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
        return body["data"]["result"]

    def start_simulator(self, port):
        """`simulate` with two environments in the backlog scenario; its credentials."""
        creds_path = self.workdir / "credentials.json"
        self.procs.start("simulator", [
            self.args.bin, "simulate", "--listen-address", f"127.0.0.1:{port}", "--environments", "2",
            "--scenario", "backlog", "--credentials-out", str(creds_path)])
        wait_until("the simulator's credentials", lambda: creds_path.exists() and creds_path.stat().st_size > 0,
                   30, self.procs)
        return json.loads(creds_path.read_text())

    @classmethod
    def main(cls, doc, what):
        """Parse the suite's flags, run it, stop every process, print `what: PASS|FAIL`; the exit status."""
        p = argparse.ArgumentParser(description=doc.splitlines()[0])
        for flag in ("--bin", "--prometheus", "--alertmanager", "--workdir"):
            p.add_argument(flag, required=True)
        run = cls(p.parse_args())
        try:
            run.run()
        except DrillFailure as e:
            run.check(str(e), False)
        finally:
            run.procs.stop_all()
            if run.failures:
                run.procs.dump_logs()
        print(f"{what}: {'FAIL' if run.failures else 'PASS'}")
        return 1 if run.failures else 0

# --- simulated time ---------------------------------------------------------

class SimClock:
    """The simulator's manual clock, moved over its admin endpoint: SIM_SPEED
    times real time from a background thread, plus jumps."""

    def __init__(self, base_url, admin_token):
        self.url = base_url + "/_sim/advance"
        self.headers = {"Authorization": f"Bearer {admin_token}"}
        self.error = None
        self.advanced = 0.0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def advance(self, seconds):
        status, raw = http("POST", self.url, {"seconds": seconds}, self.headers, timeout=30)
        if status != 200:
            raise DrillFailure(f"advancing the simulator's clock: HTTP {status} {raw[:200]!r}")
        self.advanced += seconds

    def _run(self):
        while not self.stopping.wait(SIM_STEP_S):
            try:
                self.advance(SIM_SPEED * SIM_STEP_S)
            except Exception as e:  # reported by check(), from the main thread
                self.error = e
                return

    def start(self):
        self.thread.start()
        log(f"simulator clock: {SIM_SPEED} simulated seconds per real second")

    def check(self):
        if self.error is not None:
            raise DrillFailure(f"the simulator's clock stopped: {self.error}")

    def stop(self):
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)


# --- the drill --------------------------------------------------------------

class Drill:
    def __init__(self, args):
        self.args = args
        self.workdir = Path(args.workdir)
        self.procs = Procs(self.workdir)
        self.inbox = Inbox()
        self.results = []  # (check, ok, detail)
        self.clock = None

    def check(self, name, ok, detail=""):
        self.results.append((name, ok, detail))
        log(f"{'PASS' if ok else 'FAIL'}  {name}{': ' + detail if detail else ''}")
        if not ok:
            raise DrillFailure(name + (": " + detail if detail else ""))

    # -- set-up --

    def prepare_configs(self, webhook_url, am_port, exporter_port):
        rules_dir = self.workdir / "rules"
        rules_dir.mkdir()
        rule_files = sorted((ROOT / "alerts").glob("*.yml"))
        if not rule_files:
            raise DrillFailure("no rule files in alerts/")
        for src in rule_files:
            text = rewrite(src.read_text(), DRILL_REWRITES, src.name)
            (rules_dir / src.name).write_text(text)
        am_text = (ROOT / "deploy/alertmanager/alertmanager.yml").read_text()
        rules = [(p, webhook_url if r is None else r, n) for p, r, n in AM_REWRITES]
        (self.workdir / "alertmanager.yml").write_text(rewrite(am_text, rules, "alertmanager.yml"))
        (self.workdir / "prometheus.yml").write_text(f"""\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - {rules_dir}/*.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:{am_port}']
scrape_configs:
  - job_name: {JOB}
    static_configs:
      - targets: ['127.0.0.1:{exporter_port}']
""")
        log(f"temporary configs in {self.workdir} (rules: for: 5s, no-workers window {NO_WORKERS_WINDOW}, age > 5 s)")

    def start_all(self):
        webhook = start_webhook(self.inbox)
        self.webhook_url = f"http://127.0.0.1:{webhook.server_address[1]}"
        exporter_port, prom_port, am_port = free_port(), free_port(), free_port()
        self.prepare_configs(self.webhook_url, am_port, exporter_port)
        creds_path = self.workdir / "credentials.json"

        self.procs.start("exporter-demo", [
            self.args.bin, "demo",
            "--web.listen-address", f"127.0.0.1:{exporter_port}",
            "--environments", "4",
            "--scenario", "steady",
            "--refresh.interval", REFRESH_INTERVAL,
            "--sim.healthcheck-interval", HEALTHCHECK_INTERVAL,
            "--sim.clock", "manual",
            "--credentials-out", str(creds_path),
        ])
        self.procs.start("alertmanager", [
            self.args.alertmanager,
            f"--config.file={self.workdir / 'alertmanager.yml'}",
            f"--storage.path={self.workdir / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ])
        self.procs.start("prometheus", [
            self.args.prometheus,
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.workdir / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            "--log.level=warn",
        ])
        self.exporter = f"http://127.0.0.1:{exporter_port}"
        self.prom = f"http://127.0.0.1:{prom_port}"
        self.am = f"http://127.0.0.1:{am_port}"

        wait_until("the demo's credentials file", lambda: creds_path.exists() and creds_path.stat().st_size > 0, 30, self.procs)
        wait_until("the exporter to be ready", lambda: ok_status(self.exporter + "/-/ready"), 30, self.procs)
        creds = json.loads(creds_path.read_text())
        self.sim = creds["base_url"].rstrip("/")
        self.admin_token = creds["admin_token"]
        self.envs = [e["id"] for e in creds["environments"]]
        if len(self.envs) < 4:
            raise DrillFailure(f"the demo reported {len(self.envs)} environments, need 4")
        self.clock = SimClock(self.sim, self.admin_token)
        self.clock.start()
        wait_until("Alertmanager to be ready", lambda: ok_status(self.am + "/-/ready"), 30, self.procs)
        wait_until("Prometheus to be ready", lambda: ok_status(self.prom + "/-/ready"), 60, self.procs)

        def rules_loaded():
            _, body = get_json(self.prom + "/api/v1/rules")
            groups = body["data"]["groups"]
            bad = [r["name"] for g in groups for r in g["rules"] if r.get("health") == "err"]
            if bad:
                raise DrillFailure(f"rules failing to evaluate in Prometheus: {bad}")
            return sum(1 for g in groups for r in g["rules"] if r["type"] == "alerting") >= 10
        wait_until("Prometheus to load the alert rules", rules_loaded, 30, self.procs)

        def all_up():
            v = self.query(f'anthropic_work_up{{job="{JOB}"}} == 1')
            return len(v) >= 4
        wait_until("every environment to be scraped with anthropic_work_up == 1", all_up, 60, self.procs)
        log(f"environments: {', '.join(self.envs[:4])}")

    # -- helpers --

    def query(self, q):
        _, body = get_json(self.prom + "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
        if body.get("status") != "success":
            raise DrillFailure(f"query failed: {q}: {body}")
        return body["data"]["result"]

    def switch(self, env, scenario):
        status, raw = http("POST", self.sim + "/_sim/scenario", {"scenario": scenario, "environment": env},
                           {"Authorization": f"Bearer {self.admin_token}"})
        if status != 200:
            raise DrillFailure(f"switching {env} to {scenario}: HTTP {status} {raw[:200]!r}")
        log(f"simulator: {env} -> {scenario}")

    # -- checks --

    def check_inhibition(self):
        """The example Alertmanager config's inhibition rules, with synthetic alerts."""
        now = datetime.now(timezone.utc)
        ends = (now + timedelta(seconds=40)).isoformat()
        base = {"job": "alert-drill-synthetic", "instance": "synthetic:9781"}

        def alert(name, severity, **labels):
            return {"labels": {**base, "alertname": name, "severity": severity, **labels},
                    "annotations": {"summary": "synthetic alert of the drill's inhibition check"},
                    "startsAt": now.isoformat(), "endsAt": ends}
        alerts = [
            alert("AnthropicWorkRefreshFailing", "critical", environment_id="inhibit-blind"),
            alert("AnthropicWorkQueueLag", "warning", environment_id="inhibit-blind"),
            alert("AnthropicWorkNoWorkers", "critical", environment_id="inhibit-blind"),
            alert("AnthropicWorkExporterAbsent", "critical", instance="synthetic-gone:9781"),
            alert("AnthropicWorkLeasesExpired", "warning", instance="synthetic-gone:9781", environment_id="inhibit-gone"),
            alert("AnthropicWorkNoWorkers", "critical", environment_id="inhibit-noworkers"),
            alert("AnthropicWorkCapacityExhausted", "warning", environment_id="inhibit-noworkers"),
            alert("AnthropicWorkQueueLag", "warning", environment_id="inhibit-control"),
            alert("AnthropicWorkOrganizationBlocked", "critical", environment_id="inhibit-org", reason="spend_limit"),
            alert("AnthropicWorkRefreshFailing", "critical", environment_id="inhibit-org"),
            # Multi-target (docs/deployment.md): one probe target per environment, instance = its id.
            alert("AnthropicWorkExporterAbsent", "critical", instance="inhibit-probe-gone"),
            alert("AnthropicWorkNoWorkers", "critical", instance="inhibit-probe-gone", environment_id="inhibit-probe-gone"),
            alert("AnthropicWorkNoWorkers", "critical", instance="inhibit-probe-up", environment_id="inhibit-probe-up"),
        ]
        http("POST", self.am + "/api/v2/alerts", alerts)
        expected = {
            ("AnthropicWorkRefreshFailing", "inhibit-blind"): "active",
            ("AnthropicWorkQueueLag", "inhibit-blind"): "suppressed",
            ("AnthropicWorkNoWorkers", "inhibit-blind"): "suppressed",
            ("AnthropicWorkExporterAbsent", ""): "active",
            ("AnthropicWorkLeasesExpired", "inhibit-gone"): "suppressed",
            ("AnthropicWorkNoWorkers", "inhibit-noworkers"): "active",
            ("AnthropicWorkCapacityExhausted", "inhibit-noworkers"): "suppressed",
            ("AnthropicWorkQueueLag", "inhibit-control"): "active",
            ("AnthropicWorkOrganizationBlocked", "inhibit-org"): "active",
            ("AnthropicWorkRefreshFailing", "inhibit-org"): "suppressed",
            ("AnthropicWorkNoWorkers", "inhibit-probe-gone"): "suppressed",
            ("AnthropicWorkNoWorkers", "inhibit-probe-up"): "active",
        }
        got = {}

        def states():
            _, body = get_json(self.am + "/api/v2/alerts?" + urllib.parse.urlencode({"filter": 'job="alert-drill-synthetic"'}))
            got.clear()
            for a in body:
                got[(a["labels"]["alertname"], a["labels"].get("environment_id", ""))] = a["status"]["state"]
            return got == expected
        try:
            wait_until("Alertmanager to apply the inhibition rules", states, 10, self.procs)
            ok = True
        except DrillFailure:
            ok = False
        wrong = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
        self.check("Alertmanager inhibition: blind exporter, absent exporter (and probe target), no-workers, refused organisation and control",
                   ok, "as expected" if ok else f"(alert, env): (got, expected) = {wrong}")

    def check_delivery(self, name, env, alert, receiver, drilldown_check):
        """The firing notification of `alert` for `env`: annotations, receiver, drill-down page."""
        labels, annotations = alert["labels"], alert.get("annotations", {})
        missing = [a for a in REQUIRED_ANNOTATIONS if not annotations.get(a)]
        self.check(f"{name}: every annotation present", not missing and "severity" in labels,
                   f"missing {missing}" if missing else f"severity={labels.get('severity')}")
        self.check(f"{name}: routed to {receiver}", alert["_receiver"] == receiver, f"receiver={alert['_receiver']}")
        url = annotations["drilldown_url"]
        self.check(f"{name}: drilldown_url links to the environment's page",
                   url.startswith(self.exporter + "/") and url.rstrip("/").endswith("/environments/" + env), url)
        status, page = get_json(url, {"Accept": "application/json"})
        ok, detail = drilldown_check(page)
        self.check(f"{name}: drill-down page names what is behind the alert",
                   status == 200 and page.get("environment_id") == env and ok, detail)

    def steady_baseline(self):
        """Let the no-workers window fill with steady data: pick-ups in every
        environment, and no no-workers alert pending or firing."""
        started = time.monotonic()

        def ready():
            self.clock.check()
            busy = self.query(f'increase(anthropic_work_queue_wait_seconds_count{{job="{JOB}"}}[{NO_WORKERS_WINDOW}]) > 0')
            return len(busy) >= 4 and time.monotonic() - started >= BASELINE_S
        wait_until(f"{BASELINE_S}s of steady data with pick-ups in every environment", ready, 90, self.procs, interval=1)
        alerts = self.query('ALERTS{alertname="AnthropicWorkNoWorkers"}')
        self.check("steady baseline: no no-workers alert pending or firing", not alerts,
                   f"{len(alerts)} found" if alerts else f"{time.monotonic() - started:.0f}s of steady load, work picked up everywhere")

    def run(self):
        self.start_all()
        self.check_inhibition()
        self.steady_baseline()

        e_down, e_stale, e_sat, e_api = self.envs[:4]
        phases = {
            "workers-down": dict(env=e_down, alert="AnthropicWorkNoWorkers", receiver="anthropic-work-pager",
                                 check=lambda p: (bool(p.get("oldest_queued")) and bool(p.get("waiting_healthchecks")),
                                                  f"{len(p.get('oldest_queued') or [])} oldest queued sessions and "
                                                  f"{len(p.get('waiting_healthchecks') or [])} waiting healthchecks listed")),
            "stale-heartbeats": dict(env=e_stale, alert="AnthropicWorkLeasesExpired", receiver="anthropic-work-team",
                                     check=lambda p: (bool(p.get("expired_leases")) and all(i.get("work_id") for i in p["expired_leases"]),
                                                      f"{len(p.get('expired_leases') or [])} expired leases listed with work ids")),
            "api-down": dict(env=e_api, alert="AnthropicWorkRefreshFailing", receiver="anthropic-work-pager",
                             check=lambda p: (bool(p.get("recent_errors")) and p.get("up") is False,
                                              f"up={p.get('up')}, {len(p.get('recent_errors') or [])} recent errors listed")),
        }
        for scenario, ph in phases.items():
            self.switch(ph["env"], scenario)
            ph["switched"] = time.monotonic()
        self.switch(e_sat, "saturated")
        sat_since = time.monotonic()
        self.clock.advance(SCENARIO_JUMP_S)
        log(f"simulator: jumped {SCENARIO_JUMP_S} simulated seconds ahead")
        sat_naive_first = None
        sat_checks = sat_naive = sat_hc_waiting = 0
        sat_progress = False
        next_sat_query = 0.0
        seen = 0

        while True:
            self.procs.check_alive()
            self.clock.check()
            now = time.monotonic()
            if now - T0 > DEADLINE_S:
                pending = [f"{s}: {'resolve' if 'fired' in ph else 'fire'} {ph['alert']}" for s, ph in phases.items() if "resolved" not in ph]
                if sat_naive_first is None or now - sat_naive_first < SATURATED_QUIET_S:
                    pending.append(f"saturated: work waiting with no idle worker for {SATURATED_QUIET_S}s")
                self.diagnose()
                raise DrillFailure(f"deadline of {DEADLINE_S}s passed, still waiting for: {'; '.join(pending)}")

            alerts = self.inbox.alerts()
            for t, path, receiver, a in alerts[seen:]:
                a["_receiver"] = receiver
                lab = a.get("labels", {})
                if lab.get("job") == "alert-drill-synthetic":
                    continue
                log(f"webhook {path}: {a.get('status'):8} {lab.get('alertname')} "
                    f"env={lab.get('environment_id', '-')} severity={lab.get('severity')}")
                if lab.get("alertname") == "AnthropicWorkNoWorkers" and lab.get("environment_id") == e_sat \
                        and a.get("status") == "firing":
                    self.check("saturated: no-workers alert stays silent", False,
                               f"delivered after {t - sat_since:.0f}s of saturation: {a.get('annotations', {}).get('description')}")
                missing = [k for k in REQUIRED_ANNOTATIONS if not a.get("annotations", {}).get(k)]
                if missing:
                    self.check(f"{lab.get('alertname')} carries every annotation", False, f"missing {missing}")
                for scenario, ph in phases.items():
                    if lab.get("alertname") != ph["alert"] or lab.get("environment_id") != ph["env"]:
                        continue
                    if a.get("status") == "firing" and "fired" not in ph:
                        ph["fired"] = t
                        log(f"{scenario}: {ph['alert']} delivered {t - ph['switched']:.0f}s after the switch")
                        self.check_delivery(scenario, ph["env"], a, ph["receiver"], ph["check"])
                        self.switch(ph["env"], "steady")
                        ph["restored"] = time.monotonic()
                    elif a.get("status") == "resolved" and "restored" in ph and "resolved" not in ph:
                        ph["resolved"] = t
                        self.check(f"{scenario}: resolved notification delivered", True,
                                   f"{t - ph['restored']:.0f}s after switching back to steady")
            seen = len(alerts)

            # Saturated: confirm the trap is real (work waits, no idle worker,
            # yet items are picked up), and count how long it has held.
            if now >= next_sat_query:
                next_sat_query = now + 2
                sel = f'{{job="{JOB}",environment_id="{e_sat}"}}'
                # No idle worker: no more workers poll than hold a live lease
                # (the API counts a worker that claimed in the last 30 s as
                # polling, so a saturated fleet with short runs is not at 0).
                naive = self.query(f"(anthropic_work_queue_depth{sel} > 0) and on(environment_id) "
                                   f"(anthropic_work_queue_workers_polling{sel} <= on(environment_id) "
                                   f"environment_id:anthropic_work_leases_live:count{sel})")
                sat_checks += 1
                if naive:
                    sat_naive += 1
                    if sat_naive_first is None:
                        sat_naive_first = now
                        log(f"saturated: work waiting and no idle worker in {e_sat}")
                if self.query(f"increase(anthropic_work_queue_wait_seconds_count{sel}[{NO_WORKERS_WINDOW}]) > 0"):
                    sat_progress = True
                # Busy workers do not poll: healthchecks wait behind the backlog.
                if self.query(f"anthropic_work_healthcheck_waiting_oldest_age_seconds{sel} > 5"):
                    sat_hc_waiting += 1

            done = all("resolved" in ph for ph in phases.values())
            sat_done = sat_naive_first is not None and now - sat_naive_first >= SATURATED_QUIET_S
            if done and sat_done:
                break
            time.sleep(0.5)

        self.check("saturated: work waited with no idle worker", sat_naive >= sat_checks // 2,
                   f"{sat_naive} of {sat_checks} checks saw depth > 0 and workers_polling <= live leases")
        self.check("saturated: items kept being picked up", sat_progress)
        log(f"saturated: a healthcheck waited over 5 s (the shortened threshold) at {sat_hc_waiting} of {sat_checks} checks")
        self.check("saturated: no-workers alert stays silent", True,
                   f"none delivered in {time.monotonic() - sat_since:.0f}s of saturation")
        self.switch(e_sat, "steady")
        self.report(phases)

    def diagnose(self):
        try:
            for r in self.query("ALERTS"):
                m = r["metric"]
                log(f"  Prometheus ALERTS: {m.get('alertname')} {m.get('alertstate')} env={m.get('environment_id', '-')}")
            for metric in ("anthropic_work_up", "anthropic_work_queue_depth", "anthropic_work_queue_workers_polling",
                           "anthropic_work_leases_expired", "environment_id:anthropic_work_leases_live:count"):
                for r in self.query(metric):
                    log(f"  {metric}{{environment_id={r['metric'].get('environment_id')}}} = {r['value'][1]}")
        except Exception as e:  # diagnostics only
            log(f"  (diagnostics failed: {e})")

    def report(self, phases):
        print("\nalert drill timings (seconds):")
        print(f"  {'scenario':18} {'alert':30} {'fired after switch':>19} {'resolved after restore':>23}")
        for scenario, ph in phases.items():
            print(f"  {scenario:18} {ph['alert']:30} {ph['fired'] - ph['switched']:19.1f} {ph['resolved'] - ph['restored']:23.1f}")
        print(f"  saturated          AnthropicWorkNoWorkers         {'never (as required)':>19}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the anthropic-work-exporter binary")
    ap.add_argument("--prometheus", default=shutil.which("prometheus") or "prometheus")
    ap.add_argument("--alertmanager", default=shutil.which("prometheus-alertmanager") or shutil.which("alertmanager") or "alertmanager")
    ap.add_argument("--workdir", required=True, help="an empty temporary directory")
    args = ap.parse_args()

    # SIGTERM (from the wrapper's trap or timeout) -> normal exit, so `finally` stops the processes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    drill = Drill(args)
    ok = False
    try:
        drill.run()
        ok = True
    except DrillFailure as e:
        print(f"\nFAIL: {e}", flush=True)
        drill.procs.dump_logs()
    except (KeyboardInterrupt, SystemExit):
        print("\nFAIL: interrupted", flush=True)
    finally:
        if drill.clock is not None:
            drill.clock.stop()
        drill.procs.stop_all()
    passed = sum(1 for _, k, _ in drill.results if k)
    print(f"\nalert drill: {'PASS' if ok else 'FAIL'} ({passed} checks passed, "
          f"{len(drill.results) - passed} failed, {time.monotonic() - T0:.0f}s)", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
