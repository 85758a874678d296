//! What refreshes produced, per environment, shared with the metrics and
//! pages. A refresh replaces an environment's snapshot whole or not at all;
//! the lifecycle histograms and counters accumulate across refreshes.

use crate::config::{Cadence, Environment};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use work_api::ApiError;

mod lifecycle;
pub mod native;
mod store;

pub use lifecycle::{
    Histogram, Lifecycle, QUEUE_WAIT_BUCKETS, RUN_BUCKETS, STARTUP_BUCKETS, STOP_BUCKETS,
};
pub use store::Store;

/// Queue statistics, as `GET …/work/stats` returned them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueSnapshot {
    pub depth: i64,
    pub pending: i64,
    pub workers_polling: Option<i64>,
    pub oldest_queued_at_ms: Option<i64>,
}

impl From<&work_api::wire::QueueStats> for QueueSnapshot {
    fn from(stats: &work_api::wire::QueueStats) -> Self {
        QueueSnapshot {
            depth: stats.depth,
            pending: stats.pending,
            workers_polling: stats.workers_polling,
            oldest_queued_at_ms: stats
                .oldest_queued_at
                .as_deref()
                .and_then(work_api::wire::parse_timestamp)
                .map(|s| (s * 1000.0) as i64),
        }
    }
}

/// A work item named on the drill-down page (never in a metric label).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ItemSample {
    pub work_id: String,
    pub session_id: String,
    pub state: &'static str,
    pub created_at_ms: Option<i64>,
    pub acknowledged_at_ms: Option<i64>,
    pub started_at_ms: Option<i64>,
    pub latest_heartbeat_at_ms: Option<i64>,
    pub stop_requested_at_ms: Option<i64>,
}

/// Counts from one full walk of the work list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkSnapshot {
    /// Items per known state, in `WorkState::KNOWN` order.
    pub states: [u64; 5],
    /// Session items and healthchecks whose state this version does not know.
    pub unknown_state: u64,
    /// Items whose `data.type` is neither `session` nor `healthcheck`, in
    /// any state (counted nowhere else).
    pub other_type: u64,
    /// Healthcheck items, counted apart from the session figures.
    pub healthchecks: Healthchecks,
    /// Last heartbeat (acknowledgement when none yet) of every starting/active
    /// item, ascending, so ages and expired leases are computed at scrape time.
    pub heartbeats_ms: Vec<i64>,
    pub oldest_stop_requested_ms: Option<i64>,
    /// The walk hit --list.max-pages before the last page.
    pub truncated: bool,
    pub pages: u32,
    /// Oldest items behind each alert condition, for the drill-down page.
    pub oldest_queued: Vec<ItemSample>,
    pub oldest_heartbeats: Vec<ItemSample>,
    pub oldest_stopping: Vec<ItemSample>,
}

/// Healthcheck items (`data.type` = `healthcheck`): the platform's probes of
/// the fleet. The official worker acknowledges one and force-stops it without
/// running anything: up to SDK 2.15 straight away (queued → starting →
/// stopped, no `started_at`), from 2.16 after the first heartbeat it sends on
/// every item (queued → starting → active → stopped); a fleet may run both.
/// None of the session figures (states, heartbeats, leases, lifecycles,
/// drill-down lists) counts them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Healthchecks {
    /// Per known state, in `WorkState::KNOWN` order.
    pub states: [u64; 5],
    /// Oldest `created_at` among waiting healthchecks: `queued`, i.e. not yet
    /// acknowledged by any worker (polled-but-unacknowledged ones included:
    /// the list cannot tell them apart).
    pub oldest_waiting_ms: Option<i64>,
    /// The oldest waiting ones, for the drill-down page.
    pub oldest_waiting: Vec<ItemSample>,
}

impl WorkSnapshot {
    /// Starting/active items whose heartbeat is older than `ttl_ms` at `now_ms`.
    pub fn leases_expired(&self, now_ms: i64, ttl_ms: i64) -> usize {
        self.heartbeats_older_than(now_ms, ttl_ms)
    }

    /// Starting/active items whose heartbeat is older than `stale_ms` at
    /// `now_ms`: their workers stopped heartbeating (a stale heartbeat comes
    /// long before a lost lease: 90 s against the API's 300 s TTL).
    pub fn heartbeats_stale(&self, now_ms: i64, stale_ms: i64) -> usize {
        self.heartbeats_older_than(now_ms, stale_ms)
    }

    fn heartbeats_older_than(&self, now_ms: i64, age_ms: i64) -> usize {
        self.heartbeats_ms
            .partition_point(|&hb| hb < now_ms - age_ms)
    }
}

/// The last successful read of each part of an environment. Stats and the
/// list walk run on their own cadences, so each part keeps its own finish
/// time (`None` until that part was first read): the list's age says how old
/// the lease check and the drill-down are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub queue: QueueSnapshot,
    pub work: WorkSnapshot,
    pub queue_finished_at_ms: Option<i64>,
    pub work_finished_at_ms: Option<i64>,
}

impl Snapshot {
    /// Both parts read at `at_ms` (tests, benchmarks, a combined refresh).
    pub fn whole(queue: QueueSnapshot, work: WorkSnapshot, at_ms: i64) -> Self {
        Snapshot {
            queue,
            work,
            queue_finished_at_ms: Some(at_ms),
            work_finished_at_ms: Some(at_ms),
        }
    }

    /// When `cadence`'s part was last read.
    pub fn finished_at_ms(&self, cadence: Cadence) -> Option<i64> {
        match cadence {
            Cadence::Stats => self.queue_finished_at_ms,
            Cadence::List => self.work_finished_at_ms,
        }
    }
}

/// A failed refresh, as the landing and drill-down pages show it.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshError {
    pub at_ms: i64,
    pub reason: &'static str,
    pub message: String,
}

/// Everything known about one environment.
#[derive(Debug, Clone)]
pub struct EnvironmentState {
    pub environment: Environment,
    pub snapshot: Option<Arc<Snapshot>>,
    /// The last refresh of both parts succeeded (`stats_ok && list_ok`).
    pub up: bool,
    /// The last refresh of each part succeeded.
    pub stats_ok: bool,
    pub list_ok: bool,
    pub attempted: bool,
    pub last_success_ms: Option<i64>,
    pub lifecycle: Lifecycle,
    pub failures: BTreeMap<&'static str, u64>,
    pub recent_errors: VecDeque<RefreshError>,
    /// Unix time (ms) the environment started being watched: when its
    /// counters and histograms began (OpenMetrics `_created`).
    pub watched_since_ms: i64,
}

impl EnvironmentState {
    fn new(environment: Environment) -> Self {
        EnvironmentState {
            environment,
            snapshot: None,
            up: false,
            stats_ok: false,
            list_ok: false,
            attempted: false,
            last_success_ms: None,
            lifecycle: Lifecycle::default(),
            failures: ApiError::PREINITIALISED_REASONS
                .iter()
                .map(|r| (*r, 0))
                .collect(),
            recent_errors: VecDeque::new(),
            watched_since_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        }
    }

    /// The snapshot, if `cadence`'s part of it was read and may still be
    /// served: its last refresh succeeded, or failed less than
    /// `stale_after_ms` after the part's last success.
    pub fn fresh_part(
        &self,
        cadence: Cadence,
        now_ms: i64,
        stale_after_ms: i64,
    ) -> Option<&Snapshot> {
        let snap = self.snapshot.as_deref()?;
        let at = snap.finished_at_ms(cadence)?;
        let ok = match cadence {
            Cadence::Stats => self.stats_ok,
            Cadence::List => self.list_ok,
        };
        (ok || now_ms - at <= stale_after_ms).then_some(snap)
    }

    fn set_part_ok(&mut self, cadence: Cadence, ok: bool) {
        match cadence {
            Cadence::Stats => self.stats_ok = ok,
            Cadence::List => self.list_ok = ok,
        }
        self.up = self.stats_ok && self.list_ok;
    }
}

#[cfg(test)]
mod tests;
