//! One environment's work queue as the simulated server holds it: items,
//! queue, pending claims, leases. Pure logic: every operation takes `now_ms`,
//! so tests drive time by hand.

use crate::ids;
use std::collections::{BTreeMap, HashMap, VecDeque};
use work_api::wire::{LeaseState, WorkState};

/// "No timestamp" in the compact item representation.
pub(crate) const NONE: i64 = i64::MIN;
/// Lease TTL used for the ground truth's expired leases (the exporter's default).
pub(crate) const LEASE_TTL_MS: i64 = 300_000;
/// The API's default lease TTL (SDK 2.16+ `_lease.py`: `CLAIM_TIMEOUT = 300.0`).
pub(crate) const DEFAULT_TTL_S: i64 = 300;
/// A heartbeat older than this has missed three (the ground truth's stale
/// heartbeats; the exporter's default `stale_heartbeat` threshold).
pub(crate) const STALE_HEARTBEAT_MS: i64 = 90_000;
/// Bounds applied to `desired_ttl_seconds`.
pub(crate) const MIN_TTL_S: i64 = 10;
pub(crate) const MAX_TTL_S: i64 = 600;
/// `workers_polling` counts workers seen within this window.
pub(crate) const POLLING_WINDOW_MS: i64 = 30_000;
pub(crate) const DEFAULT_RECLAIM_MS: i64 = 5_000;
/// How long a graceful stop stays in `stopping` before the server completes it.
pub(crate) const STOP_GRACE_MS: i64 = 2_000;
pub(crate) const NO_HEARTBEAT: &str = "NO_HEARTBEAT";

/// What a work item carries (`data.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemKind {
    /// A session to run.
    Session,
    /// The platform's probe of the fleet: the official worker acknowledges
    /// it and force-stops it without running anything.
    Healthcheck,
}

/// A work item, kept compact (about 80 bytes) so that ten million fit.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub seq: u64,
    pub state: WorkState,
    pub kind: ItemKind,
    pub created: i64,
    pub acked: i64,
    pub started: i64,
    pub heartbeat: i64,
    pub stop_requested: i64,
    pub stopped: i64,
    /// When it was last handed out by a poll; `NONE` unless pending.
    pub polled: i64,
    pub ttl_s: u16,
    /// Part of the static `--items-per-environment` population: never pruned.
    pub seeded: bool,
    // Boxed: most items have none, and 8 bytes beat 24 times ten million.
    #[allow(clippy::box_collection)]
    pub metadata: Option<Box<BTreeMap<String, String>>>,
}

impl Item {
    pub(crate) fn new(seq: u64, created: i64) -> Self {
        Item {
            seq,
            state: WorkState::Queued,
            kind: ItemKind::Session,
            created,
            acked: NONE,
            started: NONE,
            heartbeat: NONE,
            stop_requested: NONE,
            stopped: NONE,
            polled: NONE,
            ttl_s: DEFAULT_TTL_S as u16,
            seeded: false,
            metadata: None,
        }
    }
}

pub(crate) fn opt_ts(ms: i64) -> Option<String> {
    (ms != NONE).then(|| ids::timestamp(ms))
}

/// An API error an operation answers with (rendered by `http`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fault {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub current_state: Option<LeaseState>,
    /// `retry-after` header, in seconds.
    pub retry_after_s: Option<u32>,
}

impl Fault {
    pub(crate) fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Fault {
            status,
            code,
            message: message.into(),
            current_state: None,
            retry_after_s: None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Poller {
    last_ms: i64,
}

#[derive(Debug)]
pub(crate) struct EnvQueue {
    pub id: String,
    pub salt: u64,
    next_seq: u64,
    /// Every item, ordered by `seq` (so by id).
    items: Vec<Item>,
    /// Queued items no poll has handed out yet, oldest first.
    queue: VecDeque<u64>,
    /// Polled but not acknowledged.
    pending: Vec<u64>,
    /// Graceful stops and when the server completes them.
    stopping: VecDeque<(u64, i64)>,
    pollers: HashMap<String, Poller>,
    /// Stopped items that `prune` may drop.
    prunable: usize,
}

impl EnvQueue {
    pub(crate) fn new(id: String, salt: u64) -> Self {
        EnvQueue {
            id,
            salt,
            next_seq: 1,
            items: Vec::new(),
            queue: VecDeque::new(),
            pending: Vec::new(),
            stopping: VecDeque::new(),
            pollers: HashMap::new(),
            prunable: 0,
        }
    }

    pub(crate) fn items(&self) -> &[Item] {
        &self.items
    }

    pub(crate) fn depth(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn find(&self, seq: u64) -> Option<usize> {
        self.items.binary_search_by_key(&seq, |i| i.seq).ok()
    }

    pub(crate) fn get(&self, seq: u64) -> Option<&Item> {
        self.find(seq).map(|i| &self.items[i])
    }

    fn idx(&self, seq: u64) -> Result<usize, Fault> {
        self.find(seq)
            .ok_or_else(|| Fault::new(404, "work_not_found", "work item not found"))
    }

    /// A new session arrives: a queued item created at `now`.
    pub(crate) fn enqueue(&mut self, now: i64) -> u64 {
        self.enqueue_kind(ItemKind::Session, now)
    }

    /// A new item of `kind` joins the back of the queue.
    pub(crate) fn enqueue_kind(&mut self, kind: ItemKind, now: i64) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut item = Item::new(seq, now);
        item.kind = kind;
        self.items.push(item);
        self.queue.push_back(seq);
        seq
    }

    /// Room for `n` more items without regrowing (the seeded population).
    pub(crate) fn reserve(&mut self, n: usize) {
        self.items.reserve_exact(n);
    }

    /// Adds a seeded item (its `seq` is assigned here; states are taken as given).
    pub(crate) fn push_seeded(&mut self, mut item: Item) {
        item.seq = self.next_seq;
        self.next_seq += 1;
        item.seeded = true;
        if item.state == WorkState::Queued {
            if item.polled == NONE {
                self.queue.push_back(item.seq);
            } else {
                self.pending.push(item.seq);
            }
        }
        self.items.push(item);
    }

    /// Hands out the oldest reclaimable pending item, else the next queued
    /// one. Records the worker id for `workers_polling`.
    pub(crate) fn poll(
        &mut self,
        worker: Option<&str>,
        reclaim_ms: i64,
        now: i64,
    ) -> Option<usize> {
        let reclaim = self
            .pending
            .iter()
            .filter_map(|&s| self.get(s).map(|i| (i.polled, s)))
            .filter(|&(polled, _)| polled <= now - reclaim_ms)
            .min()
            .map(|(_, s)| s);
        let seq = reclaim.or_else(|| self.queue.pop_front());
        let idx = seq.and_then(|s| self.find(s));
        if let Some(i) = idx {
            self.items[i].polled = now;
            let s = self.items[i].seq;
            if !self.pending.contains(&s) {
                self.pending.push(s);
            }
        }
        if let Some(w) = worker.filter(|w| !w.is_empty()) {
            let p = Poller { last_ms: now };
            match self.pollers.get_mut(w) {
                Some(slot) => *slot = p,
                None => {
                    self.pollers.insert(w.to_owned(), p);
                }
            }
        }
        idx
    }

    fn unqueue(&mut self, seq: u64) {
        self.queue.retain(|&s| s != seq);
        self.pending.retain(|&s| s != seq);
    }

    pub(crate) fn ack(&mut self, seq: u64, now: i64) -> Result<usize, Fault> {
        let i = self.idx(seq)?;
        let state = self.items[i].state;
        if state != WorkState::Queued {
            let msg = format!(
                "work item is {}; only a queued item can be acknowledged",
                state.as_str()
            );
            return Err(Fault::new(409, "work_not_queued", msg));
        }
        self.unqueue(seq);
        let it = &mut self.items[i];
        it.state = WorkState::Starting;
        it.acked = now;
        it.polled = NONE;
        Ok(i)
    }

    pub(crate) fn update_metadata(
        &mut self,
        seq: u64,
        patch: Vec<(String, Option<String>)>,
    ) -> Result<usize, Fault> {
        let i = self.idx(seq)?;
        let meta = self.items[i].metadata.get_or_insert_with(Default::default);
        for (k, v) in patch {
            match v {
                Some(v) => meta.insert(k, v),
                None => meta.remove(&k),
            };
        }
        if meta.is_empty() {
            self.items[i].metadata = None;
        }
        Ok(i)
    }
}

mod lease;
mod report;

pub(crate) use report::Truth;

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
