"""Drives the simulated Environments Work API with the official Python SDK.

Usage: python tests/sdk/test_sdk.py CREDENTIALS_JSON EXPORTER_URL

The simulator must run with a static population (`--workers 0
--arrivals-per-minute 0 --items-per-environment 40`) so that claims here do
not race simulated workers, and with SDK-shaped paging (`--empty-page-every
N`, lists ending with `"next_page": ""`). The exporter at EXPORTER_URL reads
the same simulator (discovery, a keys directory, a workspace id, small pages);
its counts are compared with the simulator's ground truth before anything
here changes the queues, and its request headers with the SDK's. Every
client validates responses strictly, so a field the SDK's types do not accept
fails the test. Prints one line per check and a summary; exits 1 when any
check fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import traceback
import urllib.request

for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_PROFILE"):
    os.environ.pop(var, None)

import anthropic  # noqa: E402
from anthropic import Anthropic, AsyncAnthropic  # noqa: E402
from anthropic.lib.environments._poller import aiter_work  # noqa: E402
from anthropic.types.beta import BetaEnvironment  # noqa: E402
from anthropic.types.beta.environments import (  # noqa: E402
    BetaHeartbeatPreconditionFailedError,
    BetaSelfHostedWork,
    BetaSelfHostedWorkHeartbeatResponse,
    BetaSelfHostedWorkQueueStats,
)

CREDS = json.load(open(sys.argv[1]))
EXPORTER = sys.argv[2]
WORKSPACE = "wrkspc_sdk_suite"  # what sdk.sh gives the exporter as ANTHROPIC_WORKSPACE_ID
BASE = CREDS["base_url"]
ENV = CREDS["environments"][0]
OTHER = CREDS["environments"][1]
WORKER = "sdk-test-worker"

results: list[tuple[str, str | None]] = []


def check(name):
    """Runs the decorated function now and records whether it passed."""

    def run(fn):
        try:
            fn()
            results.append((name, None))
            print(f"ok    {name}")
        except Exception as e:  # noqa: BLE001 - every failure is reported
            results.append((name, f"{type(e).__name__}: {e}"))
            print(f"FAIL  {name}: {type(e).__name__}: {e}")
            traceback.print_exc()
        return fn

    return run


def client(**kw) -> Anthropic:
    return Anthropic(base_url=BASE, _strict_response_validation=True, max_retries=0, **kw)


api = client(api_key=CREDS["api_key"])
env_client = client(auth_token=ENV["key"])
other_client = client(auth_token=OTHER["key"])


def expect(exc_class, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc_class as e:
        assert e.request_id and e.request_id.startswith("req_"), f"request id {e.request_id!r}"
        return e
    raise AssertionError(f"expected {exc_class.__name__}")


def admin(method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(
        BASE + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {CREDS['admin_token']}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def get_json(url: str, headers: dict) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
        return json.load(resp)


def exporter_samples() -> dict[tuple[str, tuple], float]:
    """`/metrics` of the exporter as {(name, sorted labels): value}."""
    with urllib.request.urlopen(EXPORTER + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name, _, labels = head.partition("{")
        pairs = tuple(sorted(tuple(kv.split("=", 1)) for kv in labels.rstrip("}").split('",') if kv))
        out[(name, tuple((k, v.strip('"')) for k, v in pairs))] = float(value)
    return out


def sample(samples: dict, name: str, **labels) -> float | None:
    for (n, ls), v in samples.items():
        d = dict(ls)
        if n == name and all(d.get(k) == want for k, want in labels.items()):
            return v
    return None


@check("the simulator pages like the API: an empty page with a cursor first, the last page ends with \"\"")
def _():
    headers = {
        "Authorization": f"Bearer {ENV['key']}",
        "anthropic-version": "2026-10-21",
        "anthropic-beta": "managed-agents-2026-04-01",
    }
    url = f"{BASE}/v1/environments/{ENV['id']}/work?limit=7"
    first = get_json(url, headers)
    assert first["data"] == [] and first["next_page"], first
    pages, items, empty, cursor = 1, 0, 1, first["next_page"]
    while cursor:
        page = get_json(f"{url}&page={cursor}", headers)
        pages, items, cursor = pages + 1, items + len(page["data"]), page["next_page"]
        empty += not page["data"]
    assert cursor == "" and items == 40, (cursor, items)
    assert pages > 40 // 7 + 1 and empty >= 1, (pages, empty)


@check("the exporter's counts equal /_sim/state in the same run (SDK-shaped paging)")
def _():
    truth = {e["id"]: e for e in admin("GET", "/_sim/state")["environments"]}
    deadline = time.time() + 30
    while True:
        m = exporter_samples()
        ups = [sample(m, "anthropic_work_up", environment_id=i) for i in truth]
        if all(u == 1.0 for u in ups):
            break
        assert time.time() < deadline, f"exporter not up for every environment: {ups}"
        time.sleep(0.5)
    for env_id, t in truth.items():
        for state, n in t["counts"].items():
            got = sample(m, "anthropic_work_items", environment_id=env_id, state=state)
            assert got == n, (env_id, state, got, n)
        assert sample(m, "anthropic_work_queue_depth", environment_id=env_id) == t["depth"], env_id
        assert sample(m, "anthropic_work_exporter_list_truncated", environment_id=env_id) == 0.0
        failures = sum(v for (n, ls), v in m.items()
                       if n == "anthropic_work_exporter_refresh_failures_total" and dict(ls).get("environment_id") == env_id)
        assert failures == 0, (env_id, failures)
        assert sample(m, "anthropic_work_environment_info", environment_id=env_id, scope="organization") == 1.0
    assert sample(m, "anthropic_work_exporter_discovered_environments") == len(truth)


# Headers the SDK sends that the exporter deliberately does not (see README, "Wire"):
SDK_ONLY = {
    "user-agent": "the exporter names itself (anthropic-work-exporter/VERSION)",
    "x-stainless-*": "the SDK's telemetry about the Python client (lang, os, arch, runtime, retry count, timeouts)",
    "connection": "HTTP transport (keep-alive is the default of HTTP/1.1)",
    "host": "HTTP transport; names the same server either way",
}


def exempt(name: str) -> bool:
    return name in SDK_ONLY or (name.startswith("x-stainless-") and "x-stainless-*" in SDK_ONLY)


@check("the exporter sends, per endpoint, exactly the headers SDK 2.14 sends (exceptions listed in SDK_ONLY)")
def _():
    api.beta.environments.work.stats(ENV["id"], workspace_id=WORKSPACE)
    list(env_client.beta.environments.work.list(ENV["id"], limit=7))
    list(api.beta.environments.list(workspace_id=WORKSPACE))
    for endpoint in ("work.stats", "work.list", "environments.list"):
        seen = admin("GET", f"/_sim/requests?endpoint={endpoint}")["requests"]
        by = {}
        for r in seen:
            agent = r["headers"].get("user-agent", "")
            who = "sdk" if agent.startswith("Anthropic/Python") else "exporter" if agent.startswith("anthropic-work-exporter/") else None
            if who:
                by[who] = r["headers"]  # the latest of each
        assert set(by) == {"sdk", "exporter"}, (endpoint, set(by))
        sdk = {k: v for k, v in by["sdk"].items() if not exempt(k)}
        exporter = {k: v for k, v in by["exporter"].items() if not exempt(k)}
        assert exporter == sdk, f"{endpoint}: exporter {exporter} != SDK {sdk}"
        assert sdk["anthropic-version"] == "2026-10-21", sdk
    listed = admin("GET", "/_sim/requests?endpoint=work.list")["requests"]
    assert all("anthropic-workspace-id" not in r["headers"] for r in listed), "never on the work list"


@check("environments list (auto-paged) parses and hides archived ones")
def _():
    envs = list(api.beta.environments.list(limit=1))
    assert all(isinstance(e, BetaEnvironment) for e in envs)
    ids = {e.id for e in envs}
    assert {e["id"] for e in CREDS["environments"]} <= ids, ids
    assert any(e.config.type == "cloud" for e in envs), "a cloud environment is listed"
    assert all(e.archived_at is None for e in envs)
    archived = list(api.beta.environments.list(include_archived=True))
    assert len(archived) == len(envs) + 1, (len(archived), len(envs))
    one = api.beta.environments.retrieve(ENV["id"])
    assert one.id == ENV["id"] and one.config.type == "self_hosted"


@check("stats with the API key and with the environment key")
def _():
    for c in (api, env_client):
        s = c.beta.environments.work.stats(ENV["id"])
        assert isinstance(s, BetaSelfHostedWorkQueueStats) and s.type == "work_queue_stats"
        assert s.depth >= 1 and s.pending >= 0, s
        assert s.oldest_queued_at is not None


@check("work list pages through every item with a small limit")
def _():
    items = list(env_client.beta.environments.work.list(ENV["id"], limit=7))
    assert all(isinstance(w, BetaSelfHostedWork) for w in items)
    assert len(items) == 40, len(items)
    assert len({w.id for w in items}) == 40
    assert all(w.secret is None and w.environment_id == ENV["id"] for w in items)
    assert {w.state for w in items} == {"queued", "starting", "active", "stopping", "stopped"}
    truth = admin("GET", "/_sim/state")["environments"][0]
    assert truth["total"] == 40 and truth["id"] == ENV["id"], truth


@check("errors come out as the SDK's exception classes")
def _():
    work = env_client.beta.environments.work
    expect(anthropic.AuthenticationError, api.beta.environments.work.list, ENV["id"])
    expect(anthropic.AuthenticationError, env_client.beta.environments.list)
    expect(anthropic.AuthenticationError, client(api_key="sk-ant-wrong").beta.environments.work.stats, ENV["id"])
    expect(anthropic.PermissionDeniedError, other_client.beta.environments.work.list, ENV["id"])
    e = expect(anthropic.BadRequestError, work.list, ENV["id"], limit=0)
    assert e.type == "invalid_request_error", e.type
    expect(anthropic.BadRequestError, work.list, ENV["id"], limit=1001)
    expect(anthropic.NotFoundError, api.beta.environments.work.retrieve, "work_01nope", environment_id=ENV["id"])
    expect(anthropic.NotFoundError, api.beta.environments.work.stats, "env_01doesnotexist")
    cloud = next(e for e in api.beta.environments.list() if e.config.type == "cloud")
    expect(anthropic.NotFoundError, api.beta.environments.work.stats, cloud.id)
    first = next(iter(work.list(ENV["id"], limit=1)))
    expect(anthropic.AuthenticationError, env_client.beta.environments.work.retrieve, first.id, environment_id=ENV["id"])


claimed: list[BetaSelfHostedWork] = []


@check("the SDK's own poller claims and acks every queued item, then the queue is empty")
def _():
    async def drain():
        scoped = AsyncAnthropic(base_url=BASE, auth_token=ENV["key"], _strict_response_validation=True, max_retries=0)
        async for item in aiter_work(
            scoped.beta.environments.work,
            environment_id=ENV["id"],
            worker_id=WORKER,
            reclaim_older_than_ms=1,
            drain=True,
            auto_stop=False,
        ):
            claimed.append(item)
        await scoped.close()

    asyncio.run(drain())
    assert len(claimed) == 4, [w.id for w in claimed]  # 3 queued + 1 pending (reclaimed)
    assert all(w.secret for w in claimed), "a poll fills the secret"
    for w in claimed:
        got = api.beta.environments.work.retrieve(w.id, environment_id=ENV["id"])
        assert got.state == "starting" and got.acknowledged_at and got.secret is None, got
    assert env_client.beta.environments.work.poll(ENV["id"], anthropic_worker_id=WORKER) is None
    stats = api.beta.environments.work.stats(ENV["id"])
    assert (stats.depth, stats.pending, stats.oldest_queued_at) == (0, 0, None), stats
    assert stats.workers_polling == 1, stats


@check("heartbeats follow the lease protocol; a stale one raises BetaHeartbeatPreconditionFailedError")
def _():
    work = env_client.beta.environments.work
    item = claimed[0]
    hb = work.heartbeat(item.id, environment_id=ENV["id"], expected_last_heartbeat="NO_HEARTBEAT", desired_ttl_seconds=20)
    assert isinstance(hb, BetaSelfHostedWorkHeartbeatResponse)
    assert (hb.type, hb.state, hb.lease_extended, hb.ttl_seconds) == ("work_heartbeat", "active", True, 20), hb
    hb2 = work.heartbeat(item.id, environment_id=ENV["id"], expected_last_heartbeat=hb.last_heartbeat)
    assert hb2.last_heartbeat != hb.last_heartbeat
    e = expect(
        BetaHeartbeatPreconditionFailedError,
        work.heartbeat,
        item.id,
        environment_id=ENV["id"],
        expected_last_heartbeat=hb.last_heartbeat,
    )
    assert isinstance(e, anthropic.PreconditionFailedError) and e.status_code == 412
    assert e.error_code == "heartbeat_precondition_failed", e.error_code
    assert e.details.current_state.state == "active", e.details
    assert e.details.current_state.last_heartbeat == hb2.last_heartbeat
    assert e.details.current_state.lease_extended is False


def sdk_sessions_token(secret):
    """The SDK's own reading of a poll secret (2.16+ `_poller.py`; 2.14 `_worker.py`)."""
    try:
        from anthropic.lib.environments._poller import sessions_token_from_secret

        token = sessions_token_from_secret(secret)
        return token.get_secret_value() if token is not None else None
    except ImportError:
        from anthropic.lib.environments._worker import _sessions_token_from_secret

        return _sessions_token_from_secret(secret)


@check("the poll secret carries a sessions token: the bearer of that item's heartbeat, and of no other item's")
def _():
    mine, other = claimed[2], claimed[3]
    token = sdk_sessions_token(mine.secret)
    assert token, "the SDK finds a sessions_token in the secret"
    scoped = client(auth_token=token).beta.environments.work
    hb = scoped.heartbeat(mine.id, environment_id=ENV["id"], expected_last_heartbeat="NO_HEARTBEAT")
    assert (hb.state, hb.lease_extended, hb.ttl_seconds) == ("active", True, 300), hb
    expect(anthropic.AuthenticationError, scoped.heartbeat, other.id, environment_id=ENV["id"],
           expected_last_heartbeat="NO_HEARTBEAT")
    expect(anthropic.AuthenticationError, scoped.list, ENV["id"])
    assert api.beta.environments.work.retrieve(other.id, environment_id=ENV["id"]).state == "starting"


@check("retrieve and update with the API key: metadata merges, null deletes")
def _():
    w = api.beta.environments.work
    item = claimed[0]
    got = w.update(item.id, environment_id=ENV["id"], metadata={"team": "sre", "tier": "gold"})
    assert got.metadata == {"team": "sre", "tier": "gold"}, got.metadata
    got = w.update(item.id, environment_id=ENV["id"], metadata={"tier": None, "region": "eu"})
    assert got.metadata == {"team": "sre", "region": "eu"}, got.metadata
    again = w.retrieve(item.id, environment_id=ENV["id"])
    assert again.metadata == got.metadata and again.state == "active" and again.latest_heartbeat_at


@check("stop goes through stopping to stopped; force skips it; a second stop is a ConflictError")
def _():
    work = env_client.beta.environments.work
    graceful, forced = claimed[0], claimed[1]
    s = work.stop(graceful.id, environment_id=ENV["id"])
    assert s.state == "stopping" and s.stop_requested_at and s.stopped_at is None, s
    hb = work.heartbeat(graceful.id, environment_id=ENV["id"], expected_last_heartbeat="ignored while stopping")
    # SDK 2.16+ lets go only on lease_extended false (_lease.py, "heartbeat signals shutdown").
    assert (hb.state, hb.lease_extended) == ("stopping", False), hb
    f = work.stop(forced.id, environment_id=ENV["id"], force=True)
    assert f.state == "stopped" and f.stopped_at, f
    expect(anthropic.ConflictError, work.stop, forced.id, environment_id=ENV["id"])
    deadline = time.time() + 10
    while api.beta.environments.work.retrieve(graceful.id, environment_id=ENV["id"]).state != "stopped":
        assert time.time() < deadline, "graceful stop never completed"
        time.sleep(0.25)


@check("api-flaky: the SDK retries 429/5xx (honouring retry-after) and succeeds")
def _():
    admin("POST", "/_sim/scenario", {"scenario": "api-flaky", "environment": OTHER["id"]})
    try:
        patient = client(api_key=CREDS["api_key"]).with_options(max_retries=6)
        for _ in range(8):
            assert patient.beta.environments.work.stats(OTHER["id"]).type == "work_queue_stats"
    finally:
        admin("POST", "/_sim/scenario", {"scenario": "steady", "environment": OTHER["id"]})


@check("api-down: requests fail as InternalServerError while admin endpoints work")
def _():
    admin("POST", "/_sim/scenario", {"scenario": "api-down", "environment": OTHER["id"]})
    try:
        e = expect(anthropic.InternalServerError, api.beta.environments.work.stats, OTHER["id"])
        assert e.status_code in (500, 503), e.status_code
        assert admin("GET", "/_sim/state")["environments"][1]["scenario"] == "api-down"
    finally:
        admin("POST", "/_sim/scenario", {"scenario": "steady"})


failed = [(n, err) for n, err in results if err]
print()
print(f"SDK {anthropic.__version__} against {BASE}: {len(results) - len(failed)} passed, {len(failed)} failed")
for name, err in failed:
    print(f"  failed: {name}: {err}")
sys.exit(1 if failed else 0)
