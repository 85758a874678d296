"""The official SDK worker against the simulator's healthcheck items, and the
exporter's figures against the simulator's ground truth.

Usage: python tests/sdk/test_worker_healthcheck.py CREDENTIALS_JSON EXPORTER_URL

The simulator must run with no simulated workers or sessions, frequent
healthcheck items and a manual clock (`--workers 0 --arrivals-per-minute 0
--healthcheck-interval 1s --clock manual`): this script moves the clock a
second at a time while the installed SDK's `EnvironmentWorker` runs, then
stops both, so the queue holds still while the exporter (EXPORTER_URL, a short
refresh interval) is compared with the ground truth.

What the worker leaves depends on its generation (api-notes, "Objects"):
- up to 2.15 it acknowledges a healthcheck, skips it and force-stops it
  (queued -> starting -> stopped: no `started_at`, no heartbeat);
- from 2.16 it sends the first heartbeat on every item it acknowledges, then
  skips a non-session item and force-stops it (queued -> starting -> active ->
  stopped: `started_at` and `latest_heartbeat_at` set), with the sessions token
  of the poll's `secret` as the bearer of that heartbeat and stop.
Either way no item may stay unstopped and the SDK may not warn about the
secret. Clients do not validate strictly: SDK 2.14 types `data.type` as
`Literal["session"]` (the worker runs with the default, lenient validation in
production). Exits 1 on any failed check.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import urllib.request

for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_PROFILE"):
    os.environ.pop(var, None)

import anthropic  # noqa: E402
from anthropic import Anthropic, AsyncAnthropic  # noqa: E402
from anthropic.lib.environments._worker import EnvironmentWorker  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

CREDS = json.load(open(sys.argv[1]))
EXPORTER = sys.argv[2]
ENV = CREDS["environments"][0]
RUN_S = 6
VERSION = tuple(int(p) for p in anthropic.__version__.split(".")[:2])
HEARTBEATS_FIRST = VERSION >= (2, 16)
# Where each generation logs that it skipped a healthcheck.
SKIP_LINE = "skipping a work item that is not for a session" if HEARTBEATS_FIRST else "skipping non-session work item"


class Log(logging.Handler):
    """Counts the worker's skip lines and keeps every warning the SDK logs."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.skips = 0
        self.warnings: list[str] = []

    def emit(self, record):
        msg = record.getMessage()
        if msg.startswith(SKIP_LINE):
            self.skips += 1
        if record.levelno >= logging.WARNING:
            self.warnings.append(f"{record.name}: {msg}")


def admin(method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(
        CREDS["base_url"] + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + CREDS["admin_token"], "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.load(resp)


def truth() -> dict:
    return admin("GET", "/_sim/state")["environments"][0]


async def run_worker() -> None:
    client = AsyncAnthropic(base_url=CREDS["base_url"], api_key=CREDS["api_key"], max_retries=0)
    worker = EnvironmentWorker(client, environment_id=ENV["id"], environment_key=ENV["key"], worker_id="hc-worker")

    async def tick():
        # A healthcheck a simulated second, several a worker's poll sleep (1-3 s real).
        while True:
            await asyncio.to_thread(admin, "POST", "/_sim/advance", {"seconds": 1})
            await asyncio.sleep(0.4)

    ticker = asyncio.create_task(tick())
    try:
        await asyncio.wait_for(worker.run(), RUN_S)
    except asyncio.TimeoutError:
        pass
    finally:
        ticker.cancel()
        await client.close()


def exporter_figures() -> tuple[dict, dict]:
    """Healthcheck and session items per state, as the exporter serves them."""
    with urllib.request.urlopen(EXPORTER + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    hc, sessions = {}, {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.labels.get("environment_id") != ENV["id"]:
                continue
            if s.name == "anthropic_work_healthcheck_items":
                hc[s.labels["state"]] = int(s.value)
            elif s.name == "anthropic_work_items":
                sessions[s.labels["state"]] = int(s.value)
    return hc, sessions


def main() -> int:
    log = Log()
    logging.getLogger("anthropic").addHandler(log)  # the worker's loggers propagate to it
    logging.getLogger("anthropic.lib.environments").setLevel(logging.DEBUG)
    asyncio.run(run_worker())

    failures = []

    def check(name, ok, detail=""):
        print(f"{'ok  ' if ok else 'FAIL'}  {name}{': ' + str(detail) if detail else ''}")
        if not ok:
            failures.append(name)

    print(f"SDK {anthropic.__version__}: {'2.16+' if HEARTBEATS_FIRST else '2.15 or older'} worker")
    items = list(Anthropic(base_url=CREDS["base_url"], auth_token=ENV["key"]).beta.environments.work.list(ENV["id"]))
    taken = [w for w in items if w.state != "queued"]
    stopped = [w for w in taken if w.state == "stopped"]
    check("every item listed is a healthcheck", all(w.data.type == "healthcheck" for w in items), [w.data.type for w in items])
    check("the worker handled several and skipped each", len(stopped) >= 3 and log.skips == len(stopped),
          f"{len(stopped)} stopped, {log.skips} skipped by the worker")
    check("every item it took ended stopped", len(taken) == len(stopped), [w.state for w in taken])
    shapes = {(w.acknowledged_at is not None, w.started_at is not None, w.latest_heartbeat_at is not None,
               w.stopped_at is not None) for w in stopped}
    expected = {(True, HEARTBEATS_FIRST, HEARTBEATS_FIRST, True)}
    check("each was acknowledged, " + ("heartbeated (active), " if HEARTBEATS_FIRST else "never heartbeated, ")
          + "then stopped", shapes == expected, shapes)
    check("no warning about the poll secret", not any("secret" in w or "sessions token" in w for w in log.warnings),
          log.warnings)
    if HEARTBEATS_FIRST:
        # The per-item credential of the secret, not the environment key, on each heartbeat and stop.
        auth = {r["headers"].get("authorization") for e in ("work.heartbeat", "work.stop")
                for r in admin("GET", "/_sim/requests?endpoint=" + e)["requests"]}
        check("heartbeats and stops carry the item's sessions token", auth == {"Bearer <sessions_token>"}, auth)

    # The queue holds still now (the clock no longer moves): the exporter's
    # next walk must give exactly the ground truth.
    t = truth()
    want = ({k: v for k, v in t["healthchecks"].items()}, t["counts"])
    deadline = time.time() + 10
    got = exporter_figures()
    while not same(got, want) and time.time() < deadline:
        time.sleep(0.25)
        got = exporter_figures()
    check("exporter: healthcheck and session items per state equal the ground truth", same(got, want),
          f"exporter {got}, truth {want}")
    check("ground truth: healthchecks apart, no session", sum(t["counts"].values()) == 0
          and t["healthchecks"]["stopped"] == len(stopped), t)
    print(f"\nSDK {anthropic.__version__} worker and healthcheck items: {'FAIL' if failures else 'PASS'}")
    return 1 if failures else 0


def same(got: tuple[dict, dict], want: tuple[dict, dict]) -> bool:
    """Every state of the truth equal; a state the exporter leaves out (healthcheck
    active or stopping while 0) counts as 0."""
    return all(got[i].get(s, 0) == n for i in (0, 1) for s, n in want[i].items()) and all(
        s in want[i] for i in (0, 1) for s in got[i])


if __name__ == "__main__":
    sys.exit(main())
