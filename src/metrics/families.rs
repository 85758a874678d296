//! The per-environment metric families, declared as data and rebuilt from the
//! snapshots on every scrape: a removed environment disappears, a state with
//! no items reads an explicit 0, and ages are computed at scrape time.

use super::text::{Buckets, Exposition, Kind, Labels};
use crate::snapshot::{EnvironmentState, Histogram, Snapshot};
use std::collections::BTreeSet;
use work_api::wire::WorkState;

/// What a family's value function sees of one environment at scrape time.
pub struct View<'a> {
    pub state: &'a EnvironmentState,
    /// The snapshot for the list-derived families, or `None` when the list was
    /// never walked or its last success is older than `--refresh.stale-after`.
    pub snapshot: Option<&'a Snapshot>,
    /// The snapshot for the stats-derived families, the same way for stats.
    pub queue: Option<&'a Snapshot>,
    pub now_ms: i64,
    pub lease_ttl_ms: i64,
}

impl View<'_> {
    /// When this environment's counters and histograms started (Unix seconds).
    pub fn created(&self) -> f64 {
        self.state.watched_since_ms as f64 / 1000.0
    }
}

fn age(now_ms: i64, ts_ms: Option<i64>) -> f64 {
    ts_ms.map_or(0.0, |t| (now_ms - t).max(0) as f64 / 1000.0)
}

/// A gauge with one sample per environment.
pub struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    pub value: fn(&View) -> Option<f64>,
}

/// Gauges read from the latest snapshot; withdrawn when it is stale.
pub const QUEUE_AND_WORK: &[Gauge] = &[
    Gauge { name: "anthropic_work_queue_depth", help: "Work items waiting to be picked up (stats depth), from a background refresh.", value: |v| v.queue.map(|s| s.queue.depth as f64) },
    Gauge { name: "anthropic_work_queue_pending", help: "Work items polled but not acknowledged (stats pending), from a background refresh.", value: |v| v.queue.map(|s| s.queue.pending as f64) },
    Gauge { name: "anthropic_work_queue_workers_polling", help: "Workers that polled in the last 30 s (stats workers_polling; busy workers do not poll), from a background refresh. Absent when the API returns null.", value: |v| v.queue.and_then(|s| s.queue.workers_polling).map(|w| w as f64) },
    Gauge { name: "anthropic_work_queue_oldest_queued_timestamp_seconds", help: "Unix time of the oldest queued or pending item (stats oldest_queued_at), from a background refresh. Absent when null.", value: |v| v.queue.and_then(|s| s.queue.oldest_queued_at_ms).map(|t| t as f64 / 1000.0) },
    Gauge { name: "anthropic_work_queue_oldest_age_seconds", help: "Age at scrape time of the oldest queued or pending item; 0 when the queue is empty.", value: |v| v.queue.map(|s| age(v.now_ms, s.queue.oldest_queued_at_ms)) },
    Gauge { name: "anthropic_work_heartbeat_oldest_age_seconds", help: "Age at scrape time of the oldest heartbeat among starting and active items (acknowledgement time when none yet); 0 when none.", value: |v| v.snapshot.map(|s| age(v.now_ms, s.work.heartbeats_ms.first().copied())) },
    Gauge { name: "anthropic_work_leases_expired", help: "Starting and active items whose last heartbeat (or acknowledgement) is older than --lease.ttl at scrape time.", value: |v| v.snapshot.map(|s| s.work.leases_expired(v.now_ms, v.lease_ttl_ms) as f64) },
    Gauge { name: "anthropic_work_healthcheck_waiting_oldest_age_seconds", help: "Age at scrape time of the oldest healthcheck item no worker has acknowledged yet (state queued); 0 when none waits. A live, idle worker takes one within seconds.", value: |v| v.snapshot.map(|s| age(v.now_ms, s.work.healthchecks.oldest_waiting_ms)) },
    Gauge { name: "anthropic_work_stopping_oldest_age_seconds", help: "Age at scrape time of the oldest stop request among stopping items; 0 when none.", value: |v| v.snapshot.map(|s| age(v.now_ms, s.work.oldest_stop_requested_ms)) },
    Gauge { name: "anthropic_work_exporter_list_truncated", help: "1 when the last work list walk stopped at --list.max-pages before the last page.", value: |v| v.snapshot.map(|s| f64::from(u8::from(s.work.truncated))) },
];

/// Gauges about the exporter's view of an environment; never withdrawn while it is watched.
pub const HEALTH: &[Gauge] = &[
    Gauge {
        name: "anthropic_work_up",
        help: "1 when the last refresh of the environment fully succeeded, else 0.",
        value: |v| Some(f64::from(u8::from(v.state.up))),
    },
    Gauge {
        name: "anthropic_work_exporter_last_success_timestamp_seconds",
        help: "Unix time at which the last successful refresh of the environment (stats or list) ended.",
        value: |v| v.state.last_success_ms.map(|t| t as f64 / 1000.0),
    },
    Gauge {
        name: "anthropic_work_list_age_seconds",
        help: "Age at scrape time of the last complete work list walk, which the per-state counts, heartbeats, expired leases and drill-down come from; absent before the first.",
        value: |v| v.state.snapshot.as_deref().and_then(|s| s.work_finished_at_ms).map(|t| age(v.now_ms, Some(t))),
    },
];

/// A lifecycle histogram per environment.
pub struct HistogramFamily {
    pub name: &'static str,
    pub help: &'static str,
    pub histogram: fn(&EnvironmentState) -> &Histogram,
}

pub const LIFECYCLE: &[HistogramFamily] = &[
    HistogramFamily { name: "anthropic_work_queue_wait_seconds", help: "Time from creation to acknowledgement (acknowledged_at - created_at), observed once per item.", histogram: |s| &s.lifecycle.queue_wait },
    HistogramFamily { name: "anthropic_work_startup_seconds", help: "Time from acknowledgement to start (started_at - acknowledged_at), observed once per item.", histogram: |s| &s.lifecycle.startup },
    HistogramFamily { name: "anthropic_work_run_seconds", help: "Time from start to stop (stopped_at - started_at), observed once per item.", histogram: |s| &s.lifecycle.run },
    HistogramFamily { name: "anthropic_work_stop_seconds", help: "Time from stop request to stopped (stopped_at - stop_requested_at), observed once per item.", histogram: |s| &s.lifecycle.stop },
];

/// A gauge per known state (every state explicit, 0 included) for each view with a snapshot.
/// One sample per state; a state for which `always` is false is written only
/// while its count is above 0.
fn per_state(
    out: &mut Exposition<'_>,
    views: &[&(View<'_>, Vec<(&str, &str)>)],
    name: &str,
    help: &str,
    counts: fn(&Snapshot) -> &[u64; 5],
    always: fn(WorkState) -> bool,
) {
    out.header(name, Kind::Gauge, help);
    for (v, l) in views {
        if let Some(s) = v.snapshot {
            for (st, n) in WorkState::KNOWN.iter().zip(counts(s)) {
                if *n > 0 || always(*st) {
                    out.sample(name, l, Some(("state", st.as_str())), *n as f64);
                }
            }
        }
    }
}

/// The states a healthcheck passes through (queued → starting → stopped: the
/// official worker acknowledges one and force-stops it, never running it).
/// `active` and `stopping` would mean a worker ran a probe: shown only then,
/// which keeps two always-zero series per environment out of Prometheus.
fn healthcheck_path(state: WorkState) -> bool {
    matches!(
        state,
        WorkState::Queued | WorkState::Starting | WorkState::Stopped
    )
}

/// Per-environment labels: `environment_id` plus every configured extra label
/// (the union over environments, empty where one has none, so each family has one label set).
pub fn label_names(states: &[&EnvironmentState]) -> Vec<String> {
    let names: BTreeSet<&String> = states
        .iter()
        .flat_map(|s| s.environment.labels.keys())
        .collect();
    names.into_iter().cloned().collect()
}

pub fn labels_of<'a>(state: &'a EnvironmentState, extra: &'a [String]) -> Vec<(&'a str, &'a str)> {
    let mut v = Vec::with_capacity(1 + extra.len());
    v.push(("environment_id", state.environment.id.as_str()));
    for name in extra {
        v.push((
            name.as_str(),
            state
                .environment
                .labels
                .get(name)
                .map_or("", String::as_str),
        ));
    }
    v
}

/// Write every per-environment family for `views` (with their labels).
pub fn render(
    out: &mut Exposition<'_>,
    views: &[(View<'_>, Vec<(&str, &str)>)],
    drilldown_base: &str,
) {
    for g in HEALTH.iter().chain(QUEUE_AND_WORK) {
        let samples: Vec<(&Labels<'_>, f64)> = views
            .iter()
            .filter_map(|(v, l)| (g.value)(v).map(|x| (l.as_slice(), x)))
            .collect();
        if samples.is_empty() {
            continue;
        }
        out.header(g.name, Kind::Gauge, g.help);
        for (l, x) in samples {
            out.sample(g.name, l, None, x);
        }
    }

    let with_snapshot: Vec<_> = views.iter().filter(|(v, _)| v.snapshot.is_some()).collect();
    if !with_snapshot.is_empty() {
        per_state(
            out,
            &with_snapshot,
            "anthropic_work_items",
            "Session work items per state, counted from the whole work list by a background refresh (healthcheck items are in anthropic_work_healthcheck_items).",
            |s| &s.work.states,
            |_| true,
        );
        per_state(
            out,
            &with_snapshot,
            "anthropic_work_healthcheck_items",
            "Healthcheck work items (data.type healthcheck, the platform's probes of the fleet) per state, from the same walk.",
            |s| &s.work.healthchecks.states,
            healthcheck_path,
        );
        out.header(
            "anthropic_work_items_unrecognized",
            Kind::Gauge,
            "Work items this exporter version does not fully know, by kind: state (a session or healthcheck item in an unknown state) or data_type (data.type neither session nor healthcheck, any state); counted in no other gauge.",
        );
        for (v, l) in &with_snapshot {
            if let Some(s) = v.snapshot {
                out.sample(
                    "anthropic_work_items_unrecognized",
                    l,
                    Some(("kind", "state")),
                    s.work.unknown_state as f64,
                );
                out.sample(
                    "anthropic_work_items_unrecognized",
                    l,
                    Some(("kind", "data_type")),
                    s.work.other_type as f64,
                );
            }
        }
    }

    if views.is_empty() {
        return;
    }
    for h in LIFECYCLE {
        out.header(h.name, Kind::Histogram, h.help);
        // Every environment's histogram of a family has the same bounds: format them once.
        let mut buckets: Option<(&[f64], Buckets)> = None;
        for (v, l) in views {
            let hist = (h.histogram)(v.state);
            if !matches!(&buckets, Some((b, _)) if std::ptr::eq(*b, hist.bounds)) {
                buckets = Some((hist.bounds, Buckets::new(hist.bounds)));
            }
            if let Some((_, le)) = &buckets {
                out.lifecycle(le, h.name, l, hist, Some(v.created()));
            }
        }
    }
    out.header(
        "anthropic_work_items_created_total",
        Kind::Counter,
        "Work items first seen that were created after the exporter started.",
    );
    for (v, l) in views {
        out.counter(
            "anthropic_work_items_created_total",
            l,
            None,
            v.state.lifecycle.created as f64,
            Some(v.created()),
        );
    }
    out.header(
        "anthropic_work_items_stopped_total",
        Kind::Counter,
        "Work items seen reaching stopped after the exporter started.",
    );
    for (v, l) in views {
        out.counter(
            "anthropic_work_items_stopped_total",
            l,
            None,
            v.state.lifecycle.stopped as f64,
            Some(v.created()),
        );
    }
    out.header(
        "anthropic_work_exporter_refresh_failures_total",
        Kind::Counter,
        "Failed refreshes of the environment, by reason.",
    );
    for (v, l) in views {
        for (reason, n) in &v.state.failures {
            out.counter(
                "anthropic_work_exporter_refresh_failures_total",
                l,
                Some(("reason", reason)),
                *n as f64,
                Some(v.created()),
            );
        }
    }
    out.header(
        "anthropic_work_environment_info",
        Kind::Gauge,
        "Always 1; describes a watched environment (name, scope, drill-down page).",
    );
    for (v, l) in views {
        let url = format!("{drilldown_base}/environments/{}", v.state.environment.id);
        let mut labels = l.clone();
        labels.push(("name", v.state.environment.name.as_str()));
        labels.push(("scope", v.state.environment.scope.as_str()));
        labels.push(("drilldown_url", url.as_str()));
        out.sample("anthropic_work_environment_info", &labels, None, 1.0);
    }
}
