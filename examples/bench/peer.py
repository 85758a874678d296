"""The benchmark's Python peer: what a user would write with the official SDK
and prometheus_client to export the same queues. Stats with the API key,
every page of the work list with the environment's key (the SDK's
auto-pager), counts per state and the oldest heartbeat folded into gauges,
`concurrency` environments at a time, back to back (flat out: at 1,000
environments it cannot keep a 30 s interval). The SDK's own HTTP client
(httpx2) negotiates compression and reads SSL_CERT_FILE, as for any user.

Usage: python peer.py CREDENTIALS_JSON PORT CONCURRENCY BASE_URL
The benchmark reads its CPU and memory from /proc and its refresh count and
wall time from `peer_refresh_seconds` on PORT.
"""

import json
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import anthropic
from prometheus_client import Counter as Total, Gauge, Summary, start_http_server

creds = json.load(open(sys.argv[1]))
port, concurrency, base_url = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

DEPTH = Gauge("peer_work_queue_depth", "Stats depth.", ["environment_id"])
POLLING = Gauge("peer_work_queue_workers_polling", "Stats workers_polling.", ["environment_id"])
ITEMS = Gauge("peer_work_items", "Work items per state.", ["environment_id", "state"])
HEARTBEAT = Gauge("peer_work_heartbeat_oldest_age_seconds", "Oldest heartbeat of active items.", ["environment_id"])
REFRESH = Summary("peer_refresh_seconds", "Wall time of one environment refresh.")
FAILURES = Total("peer_refresh_failures", "Refreshes that raised.")

api = anthropic.Anthropic(api_key=creds["api_key"], base_url=base_url, max_retries=2)
# One connection pool: with_options shares the HTTP client.
keyed = {e["id"]: api.with_options(api_key=None, auth_token=e["key"]) for e in creds["environments"]}


def refresh(env_id: str) -> None:
    try:
        fold(env_id)
    except Exception as e:  # noqa: BLE001 - a user's loop logs and goes on
        FAILURES.inc()
        print(f"refresh of {env_id} failed: {e!r}", file=sys.stderr)


def fold(env_id: str) -> None:
    started = time.monotonic()
    stats = api.beta.environments.work.stats(env_id)
    DEPTH.labels(env_id).set(stats.depth)
    POLLING.labels(env_id).set(stats.workers_polling or 0)
    counts = Counter()
    oldest = None
    for item in keyed[env_id].beta.environments.work.list(env_id, limit=1000):
        counts[item.state] += 1
        if item.state == "active" and item.latest_heartbeat_at is not None:
            hb = item.latest_heartbeat_at
            oldest = hb if oldest is None or hb < oldest else oldest
    for state, n in counts.items():
        ITEMS.labels(env_id, state).set(n)
    # SDK 2.17 types timestamps as RFC 3339 strings: one shape, so the least string is the oldest.
    age = (datetime.now(timezone.utc) - datetime.fromisoformat(oldest.replace("Z", "+00:00"))).total_seconds() if oldest else 0
    HEARTBEAT.labels(env_id).set(age)
    REFRESH.observe(time.monotonic() - started)


start_http_server(port, addr="127.0.0.1")
ids = list(keyed)
with ThreadPoolExecutor(concurrency) as pool:
    while True:
        list(pool.map(refresh, ids))
