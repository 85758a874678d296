//! Every per-environment metric family, declared as data in ONE table
//! (`FAMILIES`): name, type, HELP, its own labels, and how its values are
//! read from an environment's state. **To add a per-environment metric, add
//! a row here** (and its line in `docs/metrics.md`, which a test compares with
//! this table): `environments.rs` renders every row by one loop, in every
//! format, through the family filter, with `environment_id` and the
//! environment's configured labels first. The exporter's own metrics (one
//! series per process) live in `instruments.rs` instead.
//!
//! Rebuilt from the snapshots on every scrape: a removed environment
//! disappears, a state with no items reads an explicit 0, and ages are
//! computed at scrape time. A family with no sample in a scrape is left out.

use super::context::RenderContext;
use super::text::Kind;
use crate::snapshot::{EnvironmentState, Histogram, Snapshot};
use work_api::wire::WorkState;

/// What a family's value function sees of one environment at scrape time.
pub struct View<'a> {
    pub state: &'a EnvironmentState,
    /// The snapshot for the list-derived families, or `None` when the list was
    /// never walked or its last success is older than `--refresh.stale-after`.
    pub list: Option<&'a Snapshot>,
    /// The snapshot for the stats-derived families, the same way for stats.
    pub stats: Option<&'a Snapshot>,
    pub ctx: &'a RenderContext,
}

impl View<'_> {
    /// When this environment's counters and histograms started (Unix seconds).
    pub fn created(&self) -> f64 {
        self.state.watched_since_ms as f64 / 1000.0
    }

    /// Seconds from `ts_ms` to the scrape; 0 when there is no such time.
    fn age(&self, ts_ms: Option<i64>) -> f64 {
        ts_ms.map_or(0.0, |t| (self.ctx.now_ms - t).max(0) as f64 / 1000.0)
    }
}

/// Where a family's samples come from.
pub enum Read {
    /// One sample, or none (withdrawn while stale, absent while the API reports null).
    One(fn(&View) -> Option<f64>),
    /// Samples told apart by the family's own labels: `emit(values of those
    /// labels, in order, value)` once per sample.
    Each(fn(&View, &mut Emit<'_>)),
    /// A lifecycle histogram: fixed and native buckets as the format and
    /// `--metrics.histograms` allow.
    Histogram(for<'a> fn(&View<'a>) -> &'a Histogram),
}

/// Takes one sample of a `Read::Each` family.
pub type Emit<'e> = dyn FnMut(&[&str], f64) + 'e;

/// One per-environment metric family.
pub struct Family {
    /// As in the text format's `# TYPE` line (`_total` on counters).
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    /// Its own labels, after `environment_id` and the configured ones.
    pub labels: &'static [&'static str],
    pub read: Read,
}

use Kind::{Counter, Gauge, Histogram as Hist};
use Read::{Each, One};

/// THE table, in exposition order (one row per family: kept so by hand).
#[rustfmt::skip]
pub const FAMILIES: &[Family] = &[
    // The exporter's view of an environment: never withdrawn while it is watched.
    Family { name: "anthropic_work_up", kind: Gauge, labels: &[], help: "1 when the last refresh of the environment fully succeeded, else 0.", read: One(|v| Some(f64::from(u8::from(v.state.up)))) },
    Family { name: "anthropic_work_exporter_last_success_timestamp_seconds", kind: Gauge, labels: &[], help: "Unix time at which the last successful refresh of the environment (stats or list) ended.", read: One(|v| v.state.last_success_ms.map(|t| t as f64 / 1000.0)) },
    Family { name: "anthropic_work_list_age_seconds", kind: Gauge, labels: &[], help: "Age at scrape time of the last complete work list walk, which the per-state counts, heartbeats, expired leases and drill-down come from; absent before the first.", read: One(|v| v.state.snapshot.as_deref().and_then(|s| s.work_finished_at_ms).map(|t| v.age(Some(t)))) },
    // Data (stats), withdrawn when stale.
    Family { name: "anthropic_work_queue_depth", kind: Gauge, labels: &[], help: "Work items waiting to be picked up (stats depth), from a background refresh.", read: One(|v| v.stats.map(|s| s.queue.depth as f64)) },
    Family { name: "anthropic_work_queue_pending", kind: Gauge, labels: &[], help: "Work items polled but not acknowledged (stats pending), from a background refresh.", read: One(|v| v.stats.map(|s| s.queue.pending as f64)) },
    Family { name: "anthropic_work_queue_workers_polling", kind: Gauge, labels: &[], help: "Workers that polled in the last 30 s (stats workers_polling; busy workers do not poll), from a background refresh. Absent when the API returns null.", read: One(|v| v.stats.and_then(|s| s.queue.workers_polling).map(|w| w as f64)) },
    Family { name: "anthropic_work_queue_oldest_queued_timestamp_seconds", kind: Gauge, labels: &[], help: "Unix time of the oldest queued or pending item (stats oldest_queued_at), from a background refresh. Absent when null.", read: One(|v| v.stats.and_then(|s| s.queue.oldest_queued_at_ms).map(|t| t as f64 / 1000.0)) },
    Family { name: "anthropic_work_queue_oldest_age_seconds", kind: Gauge, labels: &[], help: "Age at scrape time of the oldest queued or pending item; 0 when the queue is empty.", read: One(|v| v.stats.map(|s| v.age(s.queue.oldest_queued_at_ms))) },
    // Data (list), withdrawn when stale.
    Family { name: "anthropic_work_heartbeat_oldest_age_seconds", kind: Gauge, labels: &[], help: "Age at scrape time of the oldest heartbeat among starting and active items (acknowledgement time when none yet); 0 when none.", read: One(|v| v.list.map(|s| v.age(s.work.heartbeats_ms.first().copied()))) },
    Family { name: "anthropic_work_leases_expired", kind: Gauge, labels: &[], help: "Starting and active items whose last heartbeat (or acknowledgement) is older than --lease.ttl (default 300 s, the API's default lease TTL) at scrape time: leases the API no longer holds.", read: One(|v| v.list.map(|s| s.work.leases_expired(v.ctx.now_ms, v.ctx.lease_ttl_ms()) as f64)) },
    Family { name: "anthropic_work_heartbeats_stale", kind: Gauge, labels: &[], help: "Starting and active session items whose last heartbeat (or acknowledgement) is older than the stale_heartbeat threshold (default 90 s, three missed heartbeats) at scrape time: their workers stopped heartbeating, long before the lease is lost.", read: One(|v| v.list.map(|s| s.work.heartbeats_stale(v.ctx.now_ms, v.ctx.options.thresholds.stale_heartbeat_ms(&v.state.environment.id)) as f64)) },
    Family { name: "anthropic_work_healthcheck_waiting_oldest_age_seconds", kind: Gauge, labels: &[], help: "Age at scrape time of the oldest healthcheck item no worker has acknowledged yet (state queued); 0 when none waits. A live, idle worker takes one within seconds.", read: One(|v| v.list.map(|s| v.age(s.work.healthchecks.oldest_waiting_ms))) },
    Family { name: "anthropic_work_stopping_oldest_age_seconds", kind: Gauge, labels: &[], help: "Age at scrape time of the oldest stop request among stopping items; 0 when none.", read: One(|v| v.list.map(|s| v.age(s.work.oldest_stop_requested_ms))) },
    Family { name: "anthropic_work_exporter_list_truncated", kind: Gauge, labels: &[], help: "1 when the last work list walk stopped at --list.max-pages before the last page.", read: One(|v| v.list.map(|s| f64::from(u8::from(s.work.truncated)))) },
    Family { name: "anthropic_work_items", kind: Gauge, labels: &["state"], help: "Session work items per state, counted from the whole work list by a background refresh (healthcheck items are in anthropic_work_healthcheck_items).", read: Each(|v, emit| per_state(v, emit, |s| &s.work.states, |_| true)) },
    Family { name: "anthropic_work_healthcheck_items", kind: Gauge, labels: &["state"], help: "Healthcheck work items (data.type healthcheck, the platform's probes of the fleet) per state, from the same walk: queued, starting and stopped always; active (an SDK 2.16+ worker holding one for its first heartbeat) and stopping only while above 0.", read: Each(|v, emit| per_state(v, emit, |s| &s.work.healthchecks.states, healthcheck_path)) },
    Family { name: "anthropic_work_items_unrecognized", kind: Gauge, labels: &["kind"], help: "Work items this exporter version does not fully know, by kind: state (a session or healthcheck item in an unknown state) or data_type (data.type neither session nor healthcheck, any state); counted in no other gauge.", read: Each(|v, emit| {
        if let Some(s) = v.list {
            emit(&["state"], s.work.unknown_state as f64);
            emit(&["data_type"], s.work.other_type as f64);
        }
    }) },
    // Lifecycles and counters: accumulated across refreshes, never withdrawn.
    Family { name: "anthropic_work_queue_wait_seconds", kind: Hist, labels: &[], help: "Time from creation to acknowledgement (acknowledged_at - created_at), observed once per item.", read: Read::Histogram(|v| &v.state.lifecycle.queue_wait) },
    Family { name: "anthropic_work_startup_seconds", kind: Hist, labels: &[], help: "Time from acknowledgement to start (started_at - acknowledged_at), observed once per item.", read: Read::Histogram(|v| &v.state.lifecycle.startup) },
    Family { name: "anthropic_work_run_seconds", kind: Hist, labels: &[], help: "Time from start to stop (stopped_at - started_at), observed once per item.", read: Read::Histogram(|v| &v.state.lifecycle.run) },
    Family { name: "anthropic_work_stop_seconds", kind: Hist, labels: &[], help: "Time from stop request to stopped (stopped_at - stop_requested_at), observed once per item.", read: Read::Histogram(|v| &v.state.lifecycle.stop) },
    Family { name: "anthropic_work_items_created_total", kind: Counter, labels: &[], help: "Work items first seen that were created after the exporter started.", read: One(|v| Some(v.state.lifecycle.created as f64)) },
    Family { name: "anthropic_work_items_stopped_total", kind: Counter, labels: &[], help: "Work items seen reaching stopped after the exporter started.", read: One(|v| Some(v.state.lifecycle.stopped as f64)) },
    Family { name: "anthropic_work_pickups_total", kind: Counter, labels: &["outcome"], help: "Sessions judged against the pick-up SLO's latency threshold, once each: outcome good (acknowledged within it) or bad (waited past it, acknowledged or not; counted the walk its wait is seen past it). Healthchecks excluded.", read: Each(|v, emit| {
        emit(&["good"], v.state.lifecycle.pickups_good as f64);
        emit(&["bad"], v.state.lifecycle.pickups_bad as f64);
    }) },
    Family { name: "anthropic_work_exporter_refresh_failures_total", kind: Counter, labels: &["reason"], help: "Failed refreshes of the environment, by reason.", read: Each(|v, emit| {
        for (reason, n) in &v.state.failures {
            emit(&[reason], *n as f64);
        }
    }) },
    // Descriptions: constant 1, or configured values.
    Family { name: "anthropic_work_environment_info", kind: Gauge, labels: &["name", "scope", "drilldown_url"], help: "Always 1; describes a watched environment (name, scope, drill-down page).", read: Each(|v, emit| {
        let e = &v.state.environment;
        let url = format!("{}/environments/{}", v.ctx.drilldown_base, e.id);
        emit(&[&e.name, e.scope.as_str(), &url], 1.0);
    }) },
    Family { name: "anthropic_work_alert_threshold", kind: Gauge, labels: &["threshold"], help: "Alert thresholds set for the environment in the exporter's config file (its own, or the file's top-level thresholds), in base units; the alert rules use their own default for a threshold not served.", read: Each(|v, emit| {
        for served in v.ctx.options.thresholds.served(&v.state.environment.id) {
            emit(&[served.threshold.label()], served.value);
        }
    }) },
    Family { name: "anthropic_work_pickup_slo", kind: Gauge, labels: &["setting"], help: "The environment's pick-up SLO (--slo.* flags, or the config file's pickup_* thresholds): setting objective_ratio, latency_threshold_seconds or window_seconds.", read: Each(|v, emit| {
        for (setting, value) in v.ctx.options.thresholds.pickup.get(&v.state.environment.id).served() {
            emit(&[setting], value);
        }
    }) },
];

/// One sample per known state of a list-derived count; a state for which
/// `always` is false is written only while its count is above 0.
fn per_state(
    v: &View,
    emit: &mut Emit<'_>,
    counts: fn(&Snapshot) -> &[u64; 5],
    always: fn(WorkState) -> bool,
) {
    if let Some(s) = v.list {
        for (state, n) in WorkState::KNOWN.iter().zip(counts(s)) {
            if *n > 0 || always(*state) {
                emit(&[state.as_str()], *n as f64);
            }
        }
    }
}

/// The states every healthcheck passes through (queued → starting →
/// stopped: the official worker acknowledges one and force-stops it, never
/// running it). An SDK 2.16+ worker sends its first heartbeat first, so its
/// healthchecks are `active` for that moment (well under a second), and
/// `stopping` only follows a stop requested by hand: both shown only while
/// above 0, which keeps two mostly-zero series per environment out of
/// Prometheus, for 2.14 and 2.16+ fleets alike.
fn healthcheck_path(state: WorkState) -> bool {
    matches!(
        state,
        WorkState::Queued | WorkState::Starting | WorkState::Stopped
    )
}
