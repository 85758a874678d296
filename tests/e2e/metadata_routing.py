#!/usr/bin/env python3
"""Routing by owner: a discovered environment's metadata `team` label reaches the team (stdlib only).

Starts on 127.0.0.1 (free ports, a temporary directory): the simulator with two
environments in the `backlog` scenario, whose metadata says `team: payments`
(the first) and `team: search` (the second); the exporter discovering them
with `metadata_labels_allowlist: [team]` in its config file (and tight
top-level queue-lag thresholds, so both pages come within seconds);
Prometheus loading the rules rendered from mixin/ with only QueueLag's `for:`
cut to 2 s; Alertmanager with deploy/alertmanager/alertmanager.yml as shipped,
its receivers pointed at a webhook here and its group_wait cut to 1 s.

Checks: both environments' series carry their team; the payments
environment's QueueLag page is delivered by the example config's team route to
`payments-pager` with team="payments", and never to the default pager; the
search environment (no route of its own) pages the default pager with
team="search". Exit status 0 when every check passed.
"""

import argparse
import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alert_drill import (AM_REWRITES, DrillFailure, Inbox, Procs, free_port, get_json, log,  # noqa: E402
                         ok_status, rewrite, start_webhook, wait_until)

ROOT = Path(__file__).resolve().parents[2]
MIXIN_CONFIG = "{'for'+: {queueLag: '2s'}}"
DEADLINE_S = 120


class Run:
    def __init__(self, args):
        self.args = args
        self.workdir = Path(args.workdir)
        self.procs = Procs(self.workdir)
        self.inbox = Inbox()
        self.failures = []

    def check(self, name, ok, detail=""):
        log(f"{'PASS' if ok else 'FAIL'}  {name}{': ' + str(detail) if detail and not ok else ''}")
        if not ok:
            self.failures.append(name)
        return ok

    def query(self, q):
        _, body = get_json(self.prom + "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
        return body["data"]["result"]

    def start(self):
        w = self.workdir
        sim_port, exp_port, prom_port, am_port = free_port(), free_port(), free_port(), free_port()
        webhook = start_webhook(self.inbox)
        creds_path = w / "credentials.json"
        self.procs.start("simulator", [
            self.args.bin, "simulate", "--listen-address", f"127.0.0.1:{sim_port}", "--environments", "2",
            "--scenario", "backlog", "--credentials-out", str(creds_path)])
        wait_until("the simulator's credentials", lambda: creds_path.exists() and creds_path.stat().st_size > 0,
                   30, self.procs)
        creds = json.loads(creds_path.read_text())
        self.payments, self.search = [e["id"] for e in creds["environments"][:2]]
        keys = w / "keys"
        keys.mkdir()
        for e in creds["environments"]:
            (keys / e["id"]).write_text(e["key"])
        (w / "exporter.yml").write_text(json.dumps({
            "api_key": {"env": "ANTHROPIC_API_KEY"},
            "thresholds": {"queue_lag_warning": "2s", "queue_lag_critical": "4s"},
            "discovery": {"keys_dir": str(keys), "interval": "5s", "metadata_labels_allowlist": ["team"]},
        }, indent=2))
        # The API key reaches the exporter as its config file says: by environment variable.
        os.environ["ANTHROPIC_API_KEY"] = creds["api_key"]
        self.procs.start("exporter", [
            self.args.bin, "serve", "--config.file", str(w / "exporter.yml"), "--api.base-url", creds["base_url"],
            "--refresh.interval", "1s", "--web.listen-address", f"127.0.0.1:{exp_port}"])
        render = subprocess.run([sys.executable, str(ROOT / "mixin/render.py"), "--rules-only", "--out", str(w),
                                 "--config", MIXIN_CONFIG], capture_output=True, text=True)
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
        self.procs.start("alertmanager", [
            self.args.alertmanager, f"--config.file={w / 'alertmanager.yml'}", f"--storage.path={w / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=", "--log.level=warn"])
        self.procs.start("prometheus", [
            self.args.prometheus, f"--config.file={w / 'prometheus.yml'}", f"--storage.tsdb.path={w / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"])
        self.prom = f"http://127.0.0.1:{prom_port}"
        wait_until("the exporter to be ready", lambda: ok_status(f"http://127.0.0.1:{exp_port}/-/ready"), 30, self.procs)
        wait_until("Prometheus to be ready", lambda: ok_status(self.prom + "/-/ready"), 60, self.procs)

    def pages(self, env_id):
        """(receiver, labels) of every critical QueueLag alert delivered for env_id."""
        return [(receiver, a["labels"]) for _, _, receiver, a in self.inbox.alerts()
                if a["labels"].get("environment_id") == env_id and a["labels"].get("severity") == "critical"]

    def run(self):
        self.start()
        teams = lambda: {s["metric"]["environment_id"]: s["metric"].get("team")
                         for s in self.query('anthropic_work_up{job="anthropic-work-exporter"}')}
        wait_until("both environments in Prometheus", lambda: len(teams()) == 2, 60, self.procs)
        self.check("each environment's series carry its metadata team",
                   teams() == {self.payments: "payments", self.search: "search"}, teams())
        both = lambda: self.pages(self.payments) and self.pages(self.search)
        wait_until("both environments' pages", both, DEADLINE_S, self.procs, interval=1)
        pay, other = self.pages(self.payments), self.pages(self.search)
        self.check("the payments environment pages the payments pager, with team=\"payments\"",
                   all(r == "payments-pager" and l.get("team") == "payments" for r, l in pay), pay)
        self.check("the page is the queue-lag alert of that environment",
                   any(l.get("alertname") == "AnthropicWorkQueueLag" for _, l in pay), pay)
        self.check("the search environment, with no route of its own, pages the default pager with team=\"search\"",
                   all(r == "anthropic-work-pager" and l.get("team") == "search" for r, l in other), other)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--prometheus", required=True)
    p.add_argument("--alertmanager", required=True)
    p.add_argument("--workdir", required=True)
    run = Run(p.parse_args())
    try:
        run.run()
    except DrillFailure as e:
        run.check(str(e), False)
    finally:
        run.procs.stop_all()
        if run.failures:
            run.procs.dump_logs()
    print(f"metadata routing: {'FAIL' if run.failures else 'PASS'}")
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(main())
