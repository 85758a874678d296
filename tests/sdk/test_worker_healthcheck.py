"""The official SDK worker against the simulator's healthcheck items.

Usage: python tests/sdk/test_worker_healthcheck.py CREDENTIALS_JSON

The simulator must run with no simulated workers or sessions and frequent
healthcheck items (`--workers 0 --arrivals-per-minute 0 --healthcheck-interval
1s`). SDK 2.14's `EnvironmentWorker` runs for a few seconds: it must claim
each healthcheck, acknowledge it, skip it and force-stop it, leaving it
stopped with no `started_at` and no heartbeat, exactly as the simulator's own
workers leave theirs. Clients do not validate strictly here: SDK 2.14 types
`data.type` as `Literal["session"]`, so strict validation refuses healthcheck
items (the worker runs with the default, lenient validation in production).
Exits 1 on any failed check.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import urllib.request

for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_PROFILE"):
    os.environ.pop(var, None)

from anthropic import Anthropic, AsyncAnthropic  # noqa: E402
from anthropic.lib.environments._worker import EnvironmentWorker  # noqa: E402

CREDS = json.load(open(sys.argv[1]))
ENV = CREDS["environments"][0]
RUN_S = 6


class Skips(logging.Handler):
    """Counts the worker's "skipping non-session work item" lines."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.healthchecks = 0

    def emit(self, record):
        msg = record.getMessage()
        if msg.startswith("skipping non-session work item") and "type=healthcheck" in msg:
            self.healthchecks += 1


def truth() -> dict:
    req = urllib.request.Request(
        CREDS["base_url"] + "/_sim/state", headers={"Authorization": "Bearer " + CREDS["admin_token"]}
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.load(resp)["environments"][0]


async def run_worker() -> None:
    client = AsyncAnthropic(base_url=CREDS["base_url"], api_key=CREDS["api_key"], max_retries=0)
    worker = EnvironmentWorker(client, environment_id=ENV["id"], environment_key=ENV["key"], worker_id="hc-worker")
    try:
        await asyncio.wait_for(worker.run(), RUN_S)
    except asyncio.TimeoutError:
        pass
    finally:
        await client.close()


def main() -> int:
    skips = Skips()
    log = logging.getLogger("anthropic.lib.environments._worker")
    log.setLevel(logging.DEBUG)
    log.addHandler(skips)
    asyncio.run(run_worker())

    failures = []

    def check(name, ok, detail=""):
        print(f"{'ok  ' if ok else 'FAIL'}  {name}{': ' + str(detail) if detail else ''}")
        if not ok:
            failures.append(name)

    items = list(Anthropic(base_url=CREDS["base_url"], auth_token=ENV["key"]).beta.environments.work.list(ENV["id"]))
    stopped = [w for w in items if w.state == "stopped"]
    check("every item listed is a healthcheck", all(w.data.type == "healthcheck" for w in items), [w.data.type for w in items])
    check("the worker handled several", len(stopped) >= 3 and skips.healthchecks >= len(stopped),
          f"{len(stopped)} stopped, {skips.healthchecks} skipped by the worker")
    shapes = {(w.acknowledged_at is not None, w.started_at, w.latest_heartbeat_at, w.stopped_at is not None) for w in stopped}
    check("each was acknowledged and stopped, never started or heartbeated", shapes == {(True, None, None, True)}, shapes)
    t = truth()
    # (A new healthcheck may arrive between the list and this read: compare the stopped ones.)
    check("ground truth: healthchecks apart, no session",
          sum(t["counts"].values()) == 0 and t["healthchecks"]["stopped"] == len(stopped), t)
    print(f"\nSDK worker and healthcheck items: {'FAIL' if failures else 'PASS'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
