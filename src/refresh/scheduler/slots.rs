//! One slot per watched environment: when its stats and list are next due,
//! the parts a turn refreshes, what the slots ask of the budget, and the
//! slots kept in step with the watched set.

use super::{offset_fraction, start_window, Refreshes};
use crate::config::{Cadence, Cadences, Environment};
use crate::refresh::plan::{Demand, Plan};
use crate::refresh::Parts;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::time::{Duration, Instant};

pub(super) struct Slot {
    /// Shared with the refresh task: dispatching clones a pointer, not the environment.
    pub(super) env: Arc<Environment>,
    /// The flags' cadences with this environment's overrides.
    pub(super) cadences: Cadences,
    pub(super) stats_due: Instant,
    pub(super) list_due: Instant,
    pub(super) in_flight: bool,
    /// Pages the last list walk took; 1 until known.
    pub(super) list_pages: u32,
}

impl Slot {
    pub(super) fn next_due(&self) -> Instant {
        self.stats_due.min(self.list_due)
    }
}

/// When a part is next due, as its refresh is dispatched: one effective
/// interval after it was due, so each environment keeps its place; half an
/// interval from now at the earliest, when it ran late.
pub(super) fn next_due(due: Instant, effective: Duration, now: Instant) -> Instant {
    (due + effective).max(now + effective.mul_f64(0.5))
}

/// What the configured cadences of `slots` need, in requests per second.
pub(super) fn demand<'a>(slots: impl Iterator<Item = &'a Slot>) -> Demand {
    slots.fold(Demand::default(), |d, s| Demand {
        stats: d.stats + 1.0 / s.cadences.stats.as_secs_f64(),
        list: d.list + f64::from(s.list_pages) / s.cadences.list.as_secs_f64(),
    })
}

/// The parts of `slot` to refresh now (the overdue ones, and the other when it
/// falls due within a quarter interval: one refresh instead of two), and their
/// next turns.
pub(super) fn take_turn(slot: &mut Slot, plan: &Plan, now: Instant) -> Parts {
    let stats_every = plan.effective(&slot.cadences, Cadence::Stats);
    let list_every = plan.effective(&slot.cadences, Cadence::List);
    let soon = now + stats_every.min(list_every).mul_f64(0.25);
    let parts = Parts {
        stats: slot.stats_due <= soon,
        list: slot.list_due <= soon,
    };
    if parts.stats {
        slot.stats_due = next_due(slot.stats_due, stats_every, now);
    }
    if parts.list {
        slot.list_due = next_due(slot.list_due, list_every, now);
    }
    parts
}

/// Keeps the slots in step with the watched set: new environments get their
/// first turn spread evenly (by rank of their offset) over the start window.
pub(super) fn sync(
    refresher: &impl Refreshes,
    slots: &mut HashMap<String, Slot>,
    envs: &[Environment],
) {
    refresher.store().set_environments(envs);
    let ids: HashSet<&str> = envs.iter().map(|e| e.id.as_str()).collect();
    slots.retain(|id, _| ids.contains(id.as_str()));
    refresher.retain(&ids);
    let settings = refresher.settings().cadences;
    let mut new: Vec<(f64, &Environment)> = Vec::new();
    for e in envs {
        match slots.get_mut(&e.id) {
            Some(slot) => {
                slot.env = Arc::new(e.clone());
                slot.cadences = settings.with(&e.cadence);
            }
            None => new.push((offset_fraction(&e.id), e)),
        }
    }
    new.sort_by(|a, b| a.0.total_cmp(&b.0));
    let shortest = new
        .iter()
        .map(|(_, e)| {
            let c = settings.with(&e.cadence);
            c.stats.min(c.list)
        })
        .min()
        .unwrap_or(settings.stats);
    let window = start_window(new.len(), shortest, refresher.budget().rate());
    let now = Instant::now();
    let n = new.len().max(1) as f64;
    for (rank, (_, e)) in new.into_iter().enumerate() {
        let due = now + window.mul_f64(rank as f64 / n);
        slots.insert(
            e.id.clone(),
            Slot {
                env: Arc::new(e.clone()),
                cadences: settings.with(&e.cadence),
                stats_due: due,
                list_due: due,
                in_flight: false,
                list_pages: 1,
            },
        );
    }
}
