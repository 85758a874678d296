//! Folds list pages into counts as they arrive, so a refresh's memory does not
//! grow with the number of pages, and tracks items across refreshes so each
//! lifecycle duration is observed exactly once.
//!
//! Tracking is bounded: only items not yet `stopped` are remembered (a u64
//! hash of the id and a few flags), and an item unseen for `FORGET_AFTER`
//! walks is forgotten. A `stopped` item that was never tracked (it went
//! through its whole life between two refreshes) is recognised as new by its
//! `stopped_at` being later than every `stopped_at` of earlier walks.

use crate::snapshot::{ItemSample, Lifecycle, WorkSnapshot};
pub use pickup::PickupRule;
use std::collections::BinaryHeap;
pub use tracker::Tracker;
use tracker::{KeyMap, KeySet, Tracked};
use work_api::decode::{DataType, WorkRow};
use work_api::wire::WorkState;

mod pickup;
mod tracker;

const ACKED: u8 = 1;
const STARTED: u8 = 2;
const RAN: u8 = 4;
const STOP_DONE: u8 = 8;

/// Walks an item may go unseen before it is forgotten.
const FORGET_AFTER: u8 = 3;
/// Items kept per alert condition for the drill-down page.
const SAMPLES: usize = 20;

/// A max-heap of the oldest `SAMPLES` items by a timestamp.
#[derive(Debug, Default)]
struct Oldest(BinaryHeap<(i64, ItemSample)>);

impl Oldest {
    fn offer(&mut self, ts: i64, row: &WorkRow<'_>) {
        if self.0.len() < SAMPLES {
            self.0.push((ts, sample(row)));
        } else if let Some(mut top) = self.0.peek_mut().filter(|top| ts < top.0) {
            // The evicted sample's strings are reused: a walk that meets ever
            // older items allocates nothing per row.
            top.0 = ts;
            refill(&mut top.1, row);
        }
    }
    fn into_sorted(self) -> Vec<ItemSample> {
        self.0
            .into_sorted_vec()
            .into_iter()
            .map(|(_, s)| s)
            .collect()
    }
}

/// One walk in progress over an environment's work list.
#[derive(Debug)]
pub struct Fold<'t> {
    old: &'t Tracker,
    next: KeyMap<Tracked>,
    stopped_seen: KeySet,
    /// Healthchecks and items of unknown types seen in this walk (never tracked).
    apart_seen: KeySet,
    max_stopped_ms: i64,
    started_ms: i64,
    work: WorkSnapshot,
    delta: Lifecycle,
    queued: Oldest,
    heartbeats: Oldest,
    stopping: Oldest,
    waiting_healthchecks: Oldest,
    /// Judges pick-ups for the SLI; `None` counts none.
    pickup: Option<PickupRule>,
}

/// A row as the drill-down page names it.
fn sample(row: &WorkRow<'_>) -> ItemSample {
    let mut s = ItemSample::default();
    refill(&mut s, row);
    s
}

/// `s` made the sample of `row`, in the strings it already holds.
fn refill(s: &mut ItemSample, row: &WorkRow<'_>) {
    s.work_id.clear();
    s.work_id.push_str(&row.id);
    s.session_id.clear();
    s.session_id.push_str(
        row.data
            .as_ref()
            .and_then(|d| d.id.as_deref())
            .unwrap_or(""),
    );
    s.state = row.state.as_str();
    s.created_at_ms = row.created_at_ms;
    s.acknowledged_at_ms = row.acknowledged_at_ms;
    s.started_at_ms = row.started_at_ms;
    s.latest_heartbeat_at_ms = row.latest_heartbeat_at_ms;
    s.stop_requested_at_ms = row.stop_requested_at_ms;
}

fn secs(from: Option<i64>, to: Option<i64>) -> Option<f64> {
    Some((to? - from?).max(0) as f64 / 1000.0)
}

impl<'t> Fold<'t> {
    pub fn new(old: &'t Tracker, started_ms: i64) -> Self {
        Fold {
            old,
            next: KeyMap::with_capacity_and_hasher(old.len(), Default::default()),
            stopped_seen: KeySet::default(),
            apart_seen: KeySet::default(),
            max_stopped_ms: old.stopped_watermark_ms,
            started_ms,
            work: WorkSnapshot::default(),
            delta: Lifecycle::default(),
            queued: Oldest::default(),
            heartbeats: Oldest::default(),
            stopping: Oldest::default(),
            waiting_healthchecks: Oldest::default(),
            pickup: None,
        }
    }

    /// Count pick-ups good or bad by `rule` in this walk.
    pub fn with_pickups(mut self, rule: PickupRule) -> Self {
        self.pickup = Some(rule);
        self
    }

    /// Count one row of a page.
    pub fn add(&mut self, row: &WorkRow<'_>) {
        let key = self.old.key(&row.id);
        // Absent `data` or `type`: the item predates the field; count it as a session.
        match row.data.as_ref().and_then(|d| d.kind) {
            Some(DataType::Session) | None => {}
            Some(DataType::Healthcheck) => return self.add_healthcheck(key, row),
            Some(DataType::Other) => {
                if self.apart_seen.insert(key) {
                    self.work.other_type += 1;
                }
                return;
            }
        }
        let stopped = row.state == WorkState::Stopped;
        // A row seen twice in one walk (the list shifted under the cursor) counts once.
        if self.next.contains_key(&key) || (stopped && !self.stopped_seen.insert(key)) {
            return;
        }
        self.count_state(row);
        self.observe_lifecycle(key, row, stopped);
    }

    /// The session counted in its state, and offered as a sample of the
    /// condition its state may alert on.
    #[inline]
    fn count_state(&mut self, row: &WorkRow<'_>) {
        match row.state.index() {
            Some(i) => self.work.states[i] += 1,
            None => self.work.unknown_state += 1,
        }
        match row.state {
            WorkState::Queued => {
                if let Some(ts) = row.created_at_ms {
                    self.queued.offer(ts, row);
                }
            }
            WorkState::Starting | WorkState::Active => {
                let last_sign_of_life = row.latest_heartbeat_at_ms.or(row.acknowledged_at_ms);
                if let Some(ts) = last_sign_of_life.or(row.created_at_ms) {
                    self.work.heartbeats_ms.push(ts);
                    self.heartbeats.offer(ts, row);
                }
            }
            WorkState::Stopping => {
                if let Some(ts) = row.stop_requested_at_ms {
                    self.work.oldest_stop_requested_ms =
                        Some(self.work.oldest_stop_requested_ms.map_or(ts, |o| o.min(ts)));
                    self.stopping.offer(ts, row);
                }
            }
            _ => {}
        }
    }

    /// The lifecycle durations this row shows for the first time, and the
    /// session remembered for the next walk unless it stopped.
    #[inline]
    fn observe_lifecycle(&mut self, key: u64, row: &WorkRow<'_>, stopped: bool) {
        let known = self.old.get(key);
        let mut t = match known {
            Some(t) => Tracked {
                observed: t.observed,
                missed: 0,
            },
            None => match self.first_sighting(row, stopped) {
                Some(t) => t,
                None => return,
            },
        };
        let known = known.is_some();
        self.observe_waits(&mut t, row, known);
        self.judge_pickup(&mut t, row, known);
        if stopped {
            // Stopped and observed: forget it.
            return self.observe_stop(t, row, known);
        }
        self.next.insert(key, t);
    }

    /// A session no earlier walk tracked: counted as created when it was
    /// created since the exporter started; `None` when it is a stopped one
    /// already counted in an earlier walk, or stopped before the exporter started.
    #[inline]
    fn first_sighting(&mut self, row: &WorkRow<'_>, stopped: bool) -> Option<Tracked> {
        let stopped_at = row.stopped_at_ms;
        if stopped && stopped_at.is_none_or(|s| s <= self.old.stopped_watermark_ms) {
            if let Some(s) = stopped_at {
                self.max_stopped_ms = self.max_stopped_ms.max(s);
            }
            return None;
        }
        if row.created_at_ms.is_some_and(|c| c >= self.started_ms) {
            self.delta.created += 1;
        }
        Some(Tracked {
            observed: 0,
            missed: 0,
        })
    }

    /// Whether an event ending at `end` is news: always for a tracked
    /// session; for one seen the first time, an event before the exporter
    /// started is history.
    #[inline]
    fn fresh(&self, known: bool, end: Option<i64>) -> bool {
        known || end.is_some_and(|e| e >= self.started_ms)
    }

    /// The queue wait (created to acknowledged) and the startup
    /// (acknowledged to started), each once per session.
    #[inline]
    fn observe_waits(&mut self, t: &mut Tracked, row: &WorkRow<'_>, known: bool) {
        let (created, acked, started) =
            (row.created_at_ms, row.acknowledged_at_ms, row.started_at_ms);
        if t.observed & ACKED == 0 && acked.is_some() {
            t.observed |= ACKED;
            if self.fresh(known, acked) {
                self.delta
                    .queue_wait
                    .observe(secs(created, acked).unwrap_or(0.0));
            }
        }
        if t.observed & STARTED == 0 && started.is_some() {
            t.observed |= STARTED;
            if self.fresh(known, started) {
                self.delta
                    .startup
                    .observe(secs(acked.or(created), started).unwrap_or(0.0));
            }
        }
    }

    /// The session's pick-up counted good or bad once, when it is decided.
    #[inline]
    fn judge_pickup(&mut self, t: &mut Tracked, row: &WorkRow<'_>, known: bool) {
        let Some(rule) = self.pickup else { return };
        if t.observed & pickup::JUDGED != 0 {
            return;
        }
        let stamps = pickup::Stamps {
            created: row.created_at_ms,
            acked: row.acknowledged_at_ms,
            stop_requested: row.stop_requested_at_ms,
            stopped: row.stopped_at_ms,
        };
        match rule.judge(stamps, known, self.started_ms) {
            pickup::Verdict::Open => return,
            pickup::Verdict::Good => self.delta.pickups_good += 1,
            pickup::Verdict::Bad => self.delta.pickups_bad += 1,
            pickup::Verdict::Uncounted => {}
        }
        t.observed |= pickup::JUDGED;
    }

    /// A stopped session: counted once, with its run (started to stopped) and
    /// its stop (requested to stopped) durations.
    #[inline]
    fn observe_stop(&mut self, t: Tracked, row: &WorkRow<'_>, known: bool) {
        let stopped_at = row.stopped_at_ms;
        if let Some(s) = stopped_at {
            self.max_stopped_ms = self.max_stopped_ms.max(s);
        }
        if !self.fresh(known, stopped_at) {
            return;
        }
        self.delta.stopped += 1;
        if t.observed & RAN == 0 {
            if let Some(run) = secs(row.started_at_ms, stopped_at) {
                self.delta.run.observe(run);
            }
        }
        if t.observed & STOP_DONE == 0 {
            if let Some(stop) = secs(row.stop_requested_at_ms, stopped_at) {
                self.delta.stop.observe(stop);
            }
        }
    }

    /// A healthcheck item: counted per state, and its age while it waits.
    /// Never tracked: it has no lifecycle an operator measures sessions by.
    fn add_healthcheck(&mut self, key: u64, row: &WorkRow<'_>) {
        if !self.apart_seen.insert(key) {
            return;
        }
        let h = &mut self.work.healthchecks;
        match row.state.index() {
            Some(i) => h.states[i] += 1,
            None => self.work.unknown_state += 1,
        }
        // Waiting = not yet acknowledged. A worker that acknowledges one is
        // alive even if it dies before stopping it, so `starting` is not waiting.
        if let (WorkState::Queued, Some(ts)) = (row.state, row.created_at_ms) {
            h.oldest_waiting_ms = Some(h.oldest_waiting_ms.map_or(ts, |o| o.min(ts)));
            self.waiting_healthchecks.offer(ts, row);
        }
    }

    /// The walk completed: the snapshot's counts, the lifecycle events to add,
    /// and the tracker for the next walk.
    pub fn finish(mut self, truncated: bool, pages: u32) -> (WorkSnapshot, Lifecycle, Tracker) {
        for (key, t) in self.old.items() {
            if !self.next.contains_key(&key)
                && !self.stopped_seen.contains(&key)
                && t.missed + 1 < FORGET_AFTER
            {
                self.next.insert(
                    key,
                    Tracked {
                        observed: t.observed,
                        missed: t.missed + 1,
                    },
                );
            }
        }
        self.work.heartbeats_ms.sort_unstable();
        self.work.heartbeats_ms.shrink_to_fit();
        self.work.truncated = truncated;
        self.work.pages = pages;
        self.work.oldest_queued = self.queued.into_sorted();
        self.work.oldest_heartbeats = self.heartbeats.into_sorted();
        self.work.oldest_stopping = self.stopping.into_sorted();
        self.work.healthchecks.oldest_waiting = self.waiting_healthchecks.into_sorted();
        let tracker = Tracker::packed(self.next, self.max_stopped_ms, self.old.seed);
        (self.work, self.delta, tracker)
    }
}

#[cfg(test)]
mod tests;
