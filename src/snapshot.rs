//! What refreshes produced, per environment, shared with the metrics and
//! pages. A refresh replaces an environment's snapshot whole or not at all;
//! the lifecycle histograms and counters accumulate across refreshes.

use crate::config::{Cadence, Environment};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use work_api::ApiError;

pub mod native;

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
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
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
/// running anything (queued → starting → stopped, no `started_at`), so none of
/// the session figures (states, leases, lifecycles, drill-down lists) counts them.
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
        self.heartbeats_ms
            .partition_point(|&hb| hb < now_ms - ttl_ms)
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

/// A histogram with fixed buckets and sparse exponential (native) ones fed
/// the same observations, for durations observed once per item.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub bounds: &'static [f64],
    /// Per bucket, not cumulative; one more than `bounds` for +Inf.
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
    pub native: native::Native,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
            native: native::Native::default(),
        }
    }

    pub fn observe(&mut self, value: f64) {
        let v = if value.is_finite() {
            value.max(0.0)
        } else {
            0.0
        };
        let i = self.bounds.partition_point(|&b| b < v);
        self.counts[i] += 1;
        self.native.observe(v);
        self.sum += v;
        self.count += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.native.merge(&other.native);
        self.sum += other.sum;
        self.count += other.count;
    }
}

pub const QUEUE_WAIT_BUCKETS: &[f64] = &[
    0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];
pub const STARTUP_BUCKETS: &[f64] = &[0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0];
pub const RUN_BUCKETS: &[f64] = &[
    10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0,
];
pub const STOP_BUCKETS: &[f64] = &[0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// Durations and counts of work items' lifecycles, accumulated across refreshes.
#[derive(Debug, Clone, PartialEq)]
pub struct Lifecycle {
    pub queue_wait: Histogram,
    pub startup: Histogram,
    pub run: Histogram,
    pub stop: Histogram,
    pub created: u64,
    pub stopped: u64,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            queue_wait: Histogram::new(QUEUE_WAIT_BUCKETS),
            startup: Histogram::new(STARTUP_BUCKETS),
            run: Histogram::new(RUN_BUCKETS),
            stop: Histogram::new(STOP_BUCKETS),
            created: 0,
            stopped: 0,
        }
    }
}

impl Lifecycle {
    pub fn merge(&mut self, d: &Lifecycle) {
        self.queue_wait.merge(&d.queue_wait);
        self.startup.merge(&d.startup);
        self.run.merge(&d.run);
        self.stop.merge(&d.stop);
        self.created += d.created;
        self.stopped += d.stopped;
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

const RECENT_ERRORS: usize = 5;

/// Every watched environment's state, keyed by id.
#[derive(Debug, Clone, Default)]
pub struct Store {
    /// Each state behind its own pointer: a render takes the pointers out
    /// (`view`) and reads without the lock; a commit swaps in a new state
    /// (copy on write) instead of waiting for renders.
    map: Arc<RwLock<BTreeMap<String, Arc<EnvironmentState>>>>,
    /// True until the first discovery has set the watched environments.
    discovery_pending: Arc<AtomicBool>,
    /// Bumped by every change of health or of the watched set (not by a good
    /// refresh of a healthy environment), so a shared `/metrics` body knows
    /// whether it may still be served.
    status_changes: Arc<AtomicU64>,
    /// How far the budget stretches each cadence (f64 bits; stats, list):
    /// default staleness follows the achieved interval, not the configured one.
    stretch: Arc<[AtomicU64; 2]>,
}

impl Store {
    pub fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, Arc<EnvironmentState>>> {
        self.map.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<String, Arc<EnvironmentState>>> {
        self.map.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The states of every environment (or of `only`), in id order, held
    /// apart from the store: reading them takes no lock.
    pub fn view(&self, only: Option<&str>) -> Vec<Arc<EnvironmentState>> {
        let map = self.read();
        match only {
            Some(id) => map.get(id).cloned().into_iter().collect(),
            None => map.values().cloned().collect(),
        }
    }

    /// How many environments are watched.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Called with the write lock held: a reader that sees the new number
    /// reads the map after this change.
    fn status_changed(&self) {
        self.status_changes.fetch_add(1, Ordering::AcqRel);
    }

    /// Changes of health or of the watched set so far. A `/metrics` body
    /// rendered when this was `n` may be shared only while it is still `n`:
    /// failures, recoveries and new or removed environments are never served
    /// late, while the numbers of healthy environments may be (by at most
    /// `metrics::shared::SHARE_WINDOW_MS`).
    pub fn status_changes(&self) -> u64 {
        self.status_changes.load(Ordering::Acquire)
    }

    /// Readiness waits for the first discovery while this is true.
    pub fn set_discovery_pending(&self, pending: bool) {
        self.discovery_pending.store(pending, Ordering::Relaxed);
        self.status_changed();
    }

    /// True once the watched set is known (the first discovery, when discovering, is done).
    pub fn environments_known(&self) -> bool {
        !self.discovery_pending.load(Ordering::Relaxed)
    }

    /// Make the watched set exactly `envs`: new ones start empty, removed ones lose every series.
    pub fn set_environments(&self, envs: &[Environment]) {
        let mut map = self.write();
        self.status_changed();
        map.retain(|id, _| envs.iter().any(|e| &e.id == id));
        for e in envs {
            match map.get_mut(&e.id) {
                Some(state) => Arc::make_mut(state).environment = e.clone(),
                None => {
                    map.insert(e.id.clone(), Arc::new(EnvironmentState::new(e.clone())));
                }
            }
        }
    }

    /// The budget's stretch of each cadence (1 when the configured interval holds).
    pub fn set_stretch(&self, stats: f64, list: f64) {
        self.stretch[0].store(stats.to_bits(), Ordering::Relaxed);
        self.stretch[1].store(list.to_bits(), Ordering::Relaxed);
    }

    pub fn stretch(&self, cadence: Cadence) -> f64 {
        let i = usize::from(cadence == Cadence::List);
        let v = f64::from_bits(self.stretch[i].load(Ordering::Relaxed));
        if v.is_finite() && v >= 1.0 {
            v
        } else {
            1.0
        }
    }

    /// Both parts were read: swap in the snapshot and add its lifecycle events.
    pub fn commit_success(&self, id: &str, snapshot: Snapshot, delta: &Lifecycle) {
        let mut map = self.write();
        if let Some(state) = map.get_mut(id) {
            let state = Arc::make_mut(state);
            if !state.up || !state.attempted {
                self.status_changed();
            }
            state.attempted = true;
            state.set_part_ok(Cadence::Stats, true);
            state.set_part_ok(Cadence::List, true);
            state.last_success_ms = snapshot
                .queue_finished_at_ms
                .max(snapshot.work_finished_at_ms);
            state.lifecycle.merge(delta);
            state.snapshot = Some(Arc::new(snapshot));
        }
    }

    /// Queue stats were read at `at_ms`: replace the queue part only.
    pub fn commit_queue(&self, id: &str, queue: QueueSnapshot, at_ms: i64) {
        self.commit_part(id, Cadence::Stats, at_ms, None, |s| {
            s.queue = queue;
            s.queue_finished_at_ms = Some(at_ms);
        });
    }

    /// The list walk finished at `at_ms`: replace the work part and add its lifecycle events.
    pub fn commit_work(&self, id: &str, work: WorkSnapshot, delta: &Lifecycle, at_ms: i64) {
        self.commit_part(id, Cadence::List, at_ms, Some(delta), |s| {
            s.work = work;
            s.work_finished_at_ms = Some(at_ms);
        });
    }

    fn commit_part(
        &self,
        id: &str,
        cadence: Cadence,
        at_ms: i64,
        delta: Option<&Lifecycle>,
        set: impl FnOnce(&mut Snapshot),
    ) {
        let mut map = self.write();
        if let Some(state) = map.get_mut(id) {
            let state = Arc::make_mut(state);
            let was_up = state.up && state.attempted;
            state.attempted = true;
            state.set_part_ok(cadence, true);
            if state.up != was_up {
                self.status_changed();
            }
            state.last_success_ms = Some(at_ms);
            if let Some(delta) = delta {
                state.lifecycle.merge(delta);
            }
            let mut snap = state.snapshot.as_deref().cloned().unwrap_or_default();
            set(&mut snap);
            state.snapshot = Some(Arc::new(snap));
        }
    }

    /// A refresh of the parts `cadences` failed: the environment is down,
    /// those parts' last numbers stay until stale. One failure is counted.
    pub fn commit_failure(&self, id: &str, cadences: &[Cadence], error: &ApiError, at_ms: i64) {
        let mut map = self.write();
        if let Some(state) = map.get_mut(id) {
            let state = Arc::make_mut(state);
            // Every failure, not only the first: its reason is counted.
            self.status_changed();
            state.attempted = true;
            for c in cadences {
                state.set_part_ok(*c, false);
            }
            *state.failures.entry(error.reason()).or_insert(0) += 1;
            state.recent_errors.push_front(RefreshError {
                at_ms,
                reason: error.reason(),
                message: error.to_string(),
            });
            state.recent_errors.truncate(RECENT_ERRORS);
        }
    }

    /// True once the watched set is known and every environment has had a first refresh attempt.
    pub fn all_attempted(&self) -> bool {
        self.environments_known() && self.read().values().all(|s| s.attempted)
    }
}

#[cfg(test)]
mod tests;
