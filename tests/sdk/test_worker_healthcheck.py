"""The official SDK worker against the simulator's healthcheck and session
items, and the exporter's figures against the simulator's ground truth.

Usage: python tests/sdk/test_worker_healthcheck.py CREDENTIALS_JSON EXPORTER_URL

The simulator must run with no simulated workers, frequent healthcheck items,
a few sessions and a manual clock (`--workers 0 --arrivals-per-minute 20
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
A session item is acknowledged, its session read with `GET /v1/sessions/{id}`
(which the simulator answers `terminated`, as it runs no agent), skipped and
force-stopped; 2.16+ heartbeats it first, 2.14 in a task beside the read
(so it may stop one before the first heartbeat).
Both generations use the sessions token of the poll's `secret` as the bearer
of an item's heartbeat, stop and session read. Either way no item may stay
unstopped and the SDK may not warn about the secret. Clients do not validate strictly: SDK 2.14 types `data.type` as
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
# Where each generation logs that it skipped a healthcheck, and (both) an ended session.
SKIP_LINE = "skipping a work item that is not for a session" if HEARTBEATS_FIRST else "skipping non-session work item"
SKIP_SESSION = "skipping the work item of a terminated session"


class Log(logging.Handler):
    """Counts the worker's skip lines and keeps every warning the SDK logs."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.skips = 0
        self.session_skips = 0
        self.warnings: list[str] = []

    def emit(self, record):
        msg = record.getMessage()
        if msg.startswith(SKIP_LINE):
            self.skips += 1
        if msg.startswith(SKIP_SESSION):
            self.session_skips += 1
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
    probes = [w for w in stopped if w.data.type == "healthcheck"]
    sessions = [w for w in stopped if w.data.type == "session"]
    check("every item listed is a healthcheck or a session", {w.data.type for w in items} <= {"healthcheck", "session"},
          {w.data.type for w in items})
    check("the worker handled several healthchecks and skipped each", len(probes) >= 3 and log.skips == len(probes),
          f"{len(probes)} stopped, {log.skips} skipped by the worker")
    check("the worker handled sessions, each read as terminated and skipped",
          len(sessions) >= 1 and log.session_skips == len(sessions),
          f"{len(sessions)} stopped, {log.session_skips} skipped by the worker")
    check("every item it took ended stopped", len(taken) == len(stopped), [w.state for w in taken])

    def shape(w):
        return (w.acknowledged_at is not None, w.started_at is not None, w.latest_heartbeat_at is not None,
                w.stopped_at is not None)

    check("each healthcheck was acknowledged, " + ("heartbeated (active), " if HEARTBEATS_FIRST else "never heartbeated, ")
          + "then stopped", {shape(w) for w in probes} == {(True, HEARTBEATS_FIRST, HEARTBEATS_FIRST, True)},
          {shape(w) for w in probes})
    # 2.16+ claims with the first heartbeat before it reads the session; 2.14
    # heartbeats in a task beside the read, so a session read as terminated
    # at once may be stopped before that task's first heartbeat.
    session_shapes = {(True, True, True, True)} | (set() if HEARTBEATS_FIRST else {(True, False, False, True)})
    check("each session was acknowledged, " + ("heartbeated (active), " if HEARTBEATS_FIRST else "perhaps heartbeated, ")
          + "then stopped", {shape(w) for w in sessions} <= session_shapes, {shape(w) for w in sessions})
    check("no warning about the poll secret", not any("secret" in w or "sessions token" in w for w in log.warnings),
          log.warnings)
    # The per-item credential of the secret, not the environment key, on each heartbeat, stop and session read.
    auth = {e: {r["headers"].get("authorization") for r in admin("GET", "/_sim/requests?endpoint=" + e)["requests"]}
            for e in ("work.heartbeat", "work.stop", "sessions.retrieve")}
    check("heartbeats, stops and session reads carry the item's sessions token",
          all(a <= {"Bearer <sessions_token>"} for a in auth.values())
          and all(auth[e] for e in ("work.stop", "sessions.retrieve") + (("work.heartbeat",) if HEARTBEATS_FIRST else ())),
          auth)

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
    check("ground truth: healthchecks apart from sessions", t["healthchecks"]["stopped"] == len(probes)
          and t["counts"]["stopped"] == len(sessions), t)
    print(f"\nSDK {anthropic.__version__} worker on healthcheck and session items: {'FAIL' if failures else 'PASS'}")
    return 1 if failures else 0


def same(got: tuple[dict, dict], want: tuple[dict, dict]) -> bool:
    """Every state of the truth equal; a state the exporter leaves out (healthcheck
    active or stopping while 0) counts as 0."""
    return all(got[i].get(s, 0) == n for i in (0, 1) for s, n in want[i].items()) and all(
        s in want[i] for i in (0, 1) for s in got[i])


if __name__ == "__main__":
    sys.exit(main())
