#!/usr/bin/env bash
# The pick-up SLO's burn-rate window pairs on recorded series (docs/runbooks.md,
# "Pick-up SLO"): days of simulator traffic shaped per drill, the exporter
# refreshing every 30 simulated seconds, replayed through `promtool test rules`
# with the shipped SLO groups. Fails when a drill's pair (1h/5m, 6h/30m, 1d/2h,
# 3d/6h) does not fire alone at its checked time, when anything fires before
# the onset, when the minimum-traffic guard lets three sessions a day page, or
# when --metrics.histograms native serves other pick-up counters. Needs
# promtool (Debian: prometheus); about a minute and a half on the dev profile.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v promtool >/dev/null || { echo "FAIL: promtool not installed (Debian: prometheus)" >&2; exit 1; }
cargo run --quiet --locked --example time_to_page -- --slo-pairs
