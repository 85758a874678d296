//! What an environment's queue reports: stats, list pages, the ground truth,
//! and pruning of finished items.

use super::{EnvQueue, ItemKind, LEASE_TTL_MS, NONE, POLLING_WINDOW_MS, STALE_HEARTBEAT_MS};
use crate::ids;
use std::collections::BTreeMap;
use work_api::wire::{QueueStats, WorkState};

/// Ground truth of one environment, for `GET /_sim/state` and tests.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub(crate) struct Truth {
    /// Session items per state.
    pub counts: BTreeMap<&'static str, u64>,
    /// Healthcheck items per state.
    pub healthchecks: BTreeMap<&'static str, u64>,
    /// `created_at` of the oldest healthcheck still queued (no worker acknowledged it).
    pub oldest_waiting_healthcheck_at: Option<String>,
    /// Every item listed, sessions and healthchecks.
    pub total: u64,
    pub depth: i64,
    pub pending: i64,
    pub workers_polling: i64,
    pub oldest_queued_at: Option<String>,
    /// Starting/active sessions whose last heartbeat (acknowledgement when
    /// none yet) is older than 90 s: three missed heartbeats.
    pub stale_heartbeats: u64,
    /// The same, older than the 300 s lease TTL.
    pub expired_leases: u64,
}

impl EnvQueue {
    fn oldest_queued_ms(&self) -> Option<i64> {
        let front = self
            .queue
            .front()
            .and_then(|&s| self.get(s))
            .map(|i| i.created);
        let pending = self
            .pending
            .iter()
            .filter_map(|&s| self.get(s))
            .map(|i| i.created)
            .min();
        front.into_iter().chain(pending).min()
    }

    /// Every worker that polled within the window, whether or not its poll
    /// claimed an item: the API counts workers by their last poll.
    fn workers_polling(&self, now: i64) -> i64 {
        self.pollers
            .values()
            .filter(|p| now - p.last_ms <= POLLING_WINDOW_MS)
            .count() as i64
    }

    pub(crate) fn stats(&self, now: i64) -> QueueStats {
        QueueStats {
            kind: "work_queue_stats".into(),
            depth: self.queue.len() as i64,
            pending: self.pending.len() as i64,
            oldest_queued_at: self.oldest_queued_ms().map(ids::timestamp),
            workers_polling: Some(self.workers_polling(now)),
        }
    }

    /// Index range of the page after item `after` (exclusive) and the cursor
    /// of the page following it.
    pub(crate) fn page(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> (std::ops::Range<usize>, Option<u64>) {
        let start = after.map_or(0, |s| self.items.partition_point(|i| i.seq <= s));
        let end = start.saturating_add(limit).min(self.items.len());
        let next = (end < self.items.len() && end > start).then(|| self.items[end - 1].seq);
        (start..end, next)
    }

    pub(crate) fn truth(&self, now: i64) -> Truth {
        let mut counts: BTreeMap<&'static str, u64> =
            WorkState::KNOWN.iter().map(|s| (s.as_str(), 0)).collect();
        let mut healthchecks = counts.clone();
        let mut oldest_waiting_healthcheck = None::<i64>;
        let (mut stale, mut expired) = (0, 0);
        for it in &self.items {
            if it.kind == ItemKind::Healthcheck {
                *healthchecks.entry(it.state.as_str()).or_default() += 1;
                if it.state == WorkState::Queued {
                    oldest_waiting_healthcheck =
                        Some(oldest_waiting_healthcheck.map_or(it.created, |o| o.min(it.created)));
                }
                continue;
            }
            *counts.entry(it.state.as_str()).or_default() += 1;
            if matches!(it.state, WorkState::Starting | WorkState::Active) {
                let last = if it.heartbeat != NONE {
                    it.heartbeat
                } else {
                    it.acked
                };
                if last != NONE && now - last > STALE_HEARTBEAT_MS {
                    stale += 1;
                }
                if last != NONE && now - last > LEASE_TTL_MS {
                    expired += 1;
                }
            }
        }
        Truth {
            counts,
            healthchecks,
            oldest_waiting_healthcheck_at: oldest_waiting_healthcheck.map(ids::timestamp),
            total: self.items.len() as u64,
            depth: self.queue.len() as i64,
            pending: self.pending.len() as i64,
            workers_polling: self.workers_polling(now),
            oldest_queued_at: self.oldest_queued_ms().map(ids::timestamp),
            stale_heartbeats: stale,
            expired_leases: expired,
        }
    }

    /// Drops stopped items older than `keep_ms` (bounded memory) and pollers
    /// long gone.
    pub(crate) fn prune(&mut self, keep_ms: i64, now: i64) {
        self.pollers
            .retain(|_, p| now - p.last_ms <= 2 * POLLING_WINDOW_MS);
        if self.prunable == 0 {
            return;
        }
        let before = self.items.len();
        self.items
            .retain(|i| i.seeded || i.state != WorkState::Stopped || now - i.stopped <= keep_ms);
        self.prunable -= before - self.items.len();
    }
}
