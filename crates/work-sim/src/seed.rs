//! The static `--items-per-environment` population: items in every state,
//! with timestamps a real queue would show (oldest finished, newest waiting).
//! Every 50th finished or never-polled item is a healthcheck, shaped as the
//! official worker leaves one (acknowledged and stopped, never started), so
//! populations under 50 items (the SDK suite's) hold sessions only.

use crate::ids::SplitMix64;
use crate::state::{EnvQueue, Item, ItemKind};
use work_api::wire::WorkState;

/// Share of the population per state, oldest first.
const BLOCKS: [(WorkState, f64); 6] = [
    (WorkState::Stopped, 0.52),
    (WorkState::Stopping, 0.04),
    (WorkState::Active, 0.30),
    (WorkState::Starting, 0.04),
    // Queued split in two: pending (polled, not acked) then never polled.
    (WorkState::Queued, 0.02),
    (WorkState::Queued, 0.08),
];
/// Share of seeded active items whose lease has expired.
const EXPIRED_SHARE: f64 = 0.05;
const SPAN_MS: i64 = 3_600_000;
/// One item in this many of the stopped and never-polled blocks is a healthcheck.
const HEALTHCHECK_EVERY: usize = 50;

pub(crate) fn populate(q: &mut EnvQueue, n: usize, rng: &mut SplitMix64, now: i64) {
    q.reserve(n);
    let mut bounds = Vec::with_capacity(BLOCKS.len());
    let mut acc = 0.0;
    for (_, share) in BLOCKS {
        acc += share;
        bounds.push((acc * n as f64).round() as usize);
    }
    for k in 0..n {
        let block = bounds
            .iter()
            .position(|&b| k < b)
            .unwrap_or(BLOCKS.len() - 1);
        let created = now - SPAN_MS + (k as i64 * (SPAN_MS - 1_000)) / n.max(1) as i64;
        let mut it = Item::new(0, created);
        it.state = BLOCKS[block].0;
        let at = |t: i64| t.max(created).min(now);
        if k % HEALTHCHECK_EVERY == HEALTHCHECK_EVERY - 1 && matches!(block, 0 | 5) {
            it.kind = ItemKind::Healthcheck;
            if block == 0 {
                it.acked = at(created + rng.range(200, 3_000));
                it.stopped = at(it.acked + rng.range(0, 500));
                it.stop_requested = it.stopped;
            }
            q.push_seeded(it);
            continue;
        }
        match block {
            0 => {
                it.acked = at(created + rng.range(200, 5_000));
                it.started = at(it.acked + rng.range(200, 2_000));
                it.stopped = at(created + rng.range(10_000, 300_000));
                it.stop_requested = at(it.stopped - rng.range(0, 2_000)).max(it.started);
                it.heartbeat = at(it.stop_requested - rng.range(0, 5_000)).max(it.started);
            }
            1 => {
                it.acked = at(created + rng.range(200, 5_000));
                it.started = at(it.acked + rng.range(200, 2_000));
                it.stop_requested = at(now - rng.range(0, 60_000)).max(it.started);
                it.heartbeat = at(now - rng.range(0, 10_000)).max(it.started);
            }
            2 => {
                it.acked = at(created + rng.range(200, 5_000));
                it.started = at(it.acked + rng.range(200, 2_000));
                let age = if rng.chance(EXPIRED_SHARE) {
                    rng.range(100_000, 600_000)
                } else {
                    rng.range(0, 30_000)
                };
                it.heartbeat = at(now - age).max(it.started);
            }
            3 => it.acked = at(now - rng.range(0, 20_000)),
            4 => it.polled = at(now - rng.range(0, 4_000)),
            _ => {}
        }
        q.push_seeded(it);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn population_covers_every_state_with_consistent_timestamps() {
        let now = 1_780_000_000_000;
        let mut q = EnvQueue::new("env_01s".into(), 1);
        populate(&mut q, 10_000, &mut SplitMix64::new(1), now);
        let t = q.truth(now);
        assert_eq!(t.total, 10_000);
        for s in WorkState::KNOWN {
            assert!(t.counts[s.as_str()] > 0, "{s:?}: {t:?}");
        }
        assert_eq!(
            t.healthchecks["stopped"], 104,
            "every 50th of 5,200 stopped"
        );
        assert_eq!(
            t.healthchecks["queued"], 16,
            "every 50th of 800 never polled"
        );
        let sessions: u64 = t.counts.values().sum();
        assert_eq!(sessions + 120, t.total);
        assert!(t.oldest_waiting_healthcheck_at.is_some());
        assert_eq!(t.pending, 200);
        assert_eq!(t.depth, 800);
        assert!(t.expired_leases > 50 && t.expired_leases < 300, "{t:?}");
        let stats = q.stats(now);
        assert!(stats.oldest_queued_at.is_some());
        for it in q.items() {
            for ts in [
                it.acked,
                it.started,
                it.heartbeat,
                it.stop_requested,
                it.stopped,
            ] {
                assert!(
                    ts == crate::state::NONE || (ts >= it.created && ts <= now),
                    "{it:?}"
                );
            }
        }
    }
}
