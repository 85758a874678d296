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

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alert_drill import (free_port,  # noqa: E402
                         StackRun, start_rules_stack, start_webhook, wait_until)

MIXIN_CONFIG = "{'for'+: {queueLag: '2s'}}"
DEADLINE_S = 120


class Run(StackRun):
    def start(self):
        w = self.workdir
        sim_port, exp_port, prom_port, am_port = free_port(), free_port(), free_port(), free_port()
        webhook = start_webhook(self.inbox)
        creds = self.start_simulator(sim_port)
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
        self.prom = start_rules_stack(self.procs, self.args, w, creds["base_url"], (exp_port, prom_port, am_port),
                                      webhook, MIXIN_CONFIG)

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


if __name__ == "__main__":
    sys.exit(Run.main(__doc__, "metadata routing"))
