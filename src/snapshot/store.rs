//! Every watched environment's state behind one map of pointers: refreshes
//! commit into it (copy on write), renders and pages take the pointers out.

use super::{EnvironmentState, Lifecycle, QueueSnapshot, RefreshError, Snapshot, WorkSnapshot};
use crate::config::{Cadence, Environment};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use work_api::ApiError;

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
