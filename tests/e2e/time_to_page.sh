#!/usr/bin/env bash
# Time to page with the shipped rules (docs/runbooks.md, "Time to page"):
# every drill recorded from the simulator on a manual clock and replayed
# through `promtool test rules`. Fails when workers-down is not notified
# within 4 minutes, the pick-up SLO's fast burn not within 15 minutes of
# pick-ups stopping, when its slow burn pages, when steady or saturated pages
# in an hour, when
# CapacityExhausted flaps, or when the table in docs/runbooks.md is stale.
# Needs promtool (Debian: prometheus) and cargo; runs in under a minute after
# the example is built (dev profile, like the other suites).
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v promtool >/dev/null || { echo "FAIL: promtool not installed (Debian: prometheus)" >&2; exit 1; }
cargo run --quiet --locked --example time_to_page -- --check
