#!/usr/bin/env python3
"""Mixed fleet: one rules file, two environments, two service levels (stdlib only).

Starts on 127.0.0.1 (free ports, a temporary directory): the simulator with two
environments in the `backlog` scenario (the same workload: work arrives faster
than four workers take it, so both queues age alike); the exporter reading a
config file that gives the first environment tight queue-lag thresholds (5 s
warning, 10 s critical) and the second loose ones (1 h, 2 h); Prometheus
loading the rules rendered from mixin/ with only QueueLag's `for:` cut to 5 s
(every threshold and expression as shipped); Alertmanager with the example
config, its receivers pointed at a webhook here and group_wait 1 s.

Checks: both environments serve their thresholds; both queues wait alike, past
the tight critical threshold and far under the loose warning; the tight one's
QueueLag critical reaches the pager receiver with the environment's extra label
(team) intact; the loose one neither pages nor has a QueueLag alert at all,
even pending. Exit status 0 when every check passed.
"""

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alert_drill import (free_port, log,  # noqa: E402
                         StackRun, start_rules_stack, start_webhook, wait_until)

TIGHT = {"queue_lag_warning": "5s", "queue_lag_critical": "10s"}
LOOSE = {"queue_lag_warning": "1h", "queue_lag_critical": "2h"}
# The mixin, as shipped but for QueueLag's `for:` (5 minutes is too long for a test).
MIXIN_CONFIG = "{'for'+: {queueLag: '5s'}}"
DEADLINE_S = 150
QUIET_S = 15  # after the tight page: longer than for: + group_wait + a margin


class Run(StackRun):
    def start(self):
        w = self.workdir
        sim_port, exp_port, prom_port, am_port = free_port(), free_port(), free_port(), free_port()
        webhook = start_webhook(self.inbox)
        creds = self.start_simulator(sim_port)
        (self.tight, tkey), (self.loose, lkey) = [(e["id"], e["key"]) for e in creds["environments"][:2]]
        (w / "exporter.yml").write_text(json.dumps({
            "api_key": {"env": "ANTHROPIC_API_KEY"},
            "environments": [
                {"id": self.tight, "name": "interactive", "labels": {"team": "interactive"},
                 "key": {"env": "MF_KEY_TIGHT"}, "thresholds": TIGHT},
                {"id": self.loose, "name": "batch", "labels": {"team": "batch"},
                 "key": {"env": "MF_KEY_LOOSE"}, "thresholds": LOOSE},
            ]}, indent=2))
        # Keys reach the exporter as its config file says: by environment variable.
        os.environ.update({"ANTHROPIC_API_KEY": creds["api_key"], "MF_KEY_TIGHT": tkey, "MF_KEY_LOOSE": lkey})
        self.prom = start_rules_stack(self.procs, self.args, w, creds["base_url"], (exp_port, prom_port, am_port),
                                      webhook, MIXIN_CONFIG)

    def pages(self, env_id):
        return [a for _, _, receiver, a in self.inbox.alerts()
                if receiver == "anthropic-work-pager" and a["labels"].get("environment_id") == env_id]

    def run(self):
        self.start()
        served = lambda: {(s["metric"]["environment_id"], s["metric"]["threshold"]): float(s["value"][1])
                          for s in self.query("anthropic_work_alert_threshold")}
        wait_until("both environments' thresholds in Prometheus", lambda: len(served()) == 4, 60, self.procs)
        got = served()
        self.check("each environment serves its own queue-lag thresholds", got == {
            (self.tight, "queue_lag_warning_seconds"): 5, (self.tight, "queue_lag_critical_seconds"): 10,
            (self.loose, "queue_lag_warning_seconds"): 3600, (self.loose, "queue_lag_critical_seconds"): 7200}, got)
        wait_until("the tight environment's page", lambda: self.pages(self.tight), DEADLINE_S, self.procs, interval=1)
        page = self.pages(self.tight)[0]
        self.check("the tight environment pages: AnthropicWorkQueueLag, critical, to the pager",
                   page["labels"].get("alertname") == "AnthropicWorkQueueLag"
                   and page["labels"].get("severity") == "critical", page["labels"])
        self.check("the page keeps the environment's extra label team=interactive",
                   page["labels"].get("team") == "interactive", page["labels"])
        ages = {s["metric"]["environment_id"]: float(s["value"][1])
                for s in self.query('anthropic_work_queue_oldest_age_seconds{job="anthropic-work-exporter"}')}
        log(f"oldest queued work: tight {ages.get(self.tight)} s, loose {ages.get(self.loose)} s")
        self.check("both queues wait alike: past the tight critical threshold, far under the loose warning",
                   all(10 < ages.get(e, 0) < 3600 for e in (self.tight, self.loose)), ages)
        time.sleep(QUIET_S)
        self.check("the loose environment never pages", not self.pages(self.loose), self.pages(self.loose))
        lag = self.query(f'ALERTS{{alertname="AnthropicWorkQueueLag",environment_id="{self.loose}"}}')
        self.check("the loose environment has no QueueLag alert at all, not even pending", not lag, lag)
        lag = {s["metric"]["severity"] for s in self.query(
            f'ALERTS{{alertname="AnthropicWorkQueueLag",alertstate="firing",environment_id="{self.tight}"}}')}
        self.check("the tight environment fires both QueueLag severities", lag == {"warning", "critical"}, lag)


if __name__ == "__main__":
    sys.exit(Run.main(__doc__, "mixed fleet"))
