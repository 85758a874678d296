//! The scheduler: refreshes every environment once per interval, spread over
//! the interval by a stable per-environment offset, never two refreshes of one
//! environment at once, at most `--api.max-concurrency` at a time. When the
//! fleet needs more requests per interval than the budget allows, it stretches
//! the interval instead of bursting, and says so.

use super::{Outcome, Refresher};
use crate::config::Environment;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long in-flight refreshes may finish after shutdown is asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A stable fraction in [0, 1) from an environment id (FNV-1a), so each
/// environment keeps its place in the interval across restarts.
pub fn offset_fraction(id: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // FNV's high bits barely move for ids that differ in the last byte: mix them.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The interval the budget allows: at least `interval`, longer when the
/// requests a cycle needs exceed `rate` × `interval`.
pub fn effective_interval(interval: Duration, requests_per_cycle: u64, rate: f64) -> Duration {
    let needed = Duration::from_secs_f64(requests_per_cycle as f64 / rate);
    interval.max(needed)
}

struct Slot {
    /// Shared with the refresh task: dispatching clones a pointer, not the environment.
    env: Arc<Environment>,
    due: Instant,
    in_flight: bool,
    /// Requests the last refresh made; 2 (stats + one page) until known.
    requests: u32,
    /// When the slot was made, until its first refresh is dispatched.
    created: Option<Instant>,
}

/// When an environment is next due, as its refresh is dispatched. The first
/// refreshes are packed into a short start window so the exporter is ready
/// soon; from the second on, each environment takes its own place in the
/// interval (`fraction` of it), so refreshes spread over the whole interval
/// instead of repeating the start window's burst every interval.
fn next_due(
    due: Instant,
    created: Option<Instant>,
    fraction: f64,
    effective: Duration,
    now: Instant,
) -> Instant {
    let next = match created {
        Some(created) => created + effective.mul_f64(1.0 + fraction),
        // Spread is kept: the next refresh is one interval after this one was due.
        None => due + effective,
    };
    next.max(now + effective.mul_f64(0.5))
}

/// Run until `shutdown`: refresh every environment of `environments` (which may change).
pub async fn run(
    refresher: Arc<Refresher>,
    mut environments: watch::Receiver<Vec<Environment>>,
    shutdown: CancellationToken,
) {
    let interval = refresher.settings().interval;
    let max_in_flight = refresher.client().max_concurrency();
    let mut slots: HashMap<String, Slot> = HashMap::new();
    let mut tasks: JoinSet<(String, Outcome)> = JoinSet::new();
    let mut stretched = false;
    let mut watching = true;

    let sync = |slots: &mut HashMap<String, Slot>, envs: &[Environment]| {
        refresher.store().set_environments(envs);
        let ids: HashSet<&str> = envs.iter().map(|e| e.id.as_str()).collect();
        slots.retain(|id, _| ids.contains(id.as_str()));
        refresher.retain(&ids);
        let now = Instant::now();
        // First refreshes spread over a short window so the exporter is ready soon.
        let first_window = interval.min(Duration::from_secs(5));
        for e in envs {
            match slots.get_mut(&e.id) {
                Some(slot) => slot.env = Arc::new(e.clone()),
                None => {
                    let due = now + first_window.mul_f64(offset_fraction(&e.id));
                    slots.insert(
                        e.id.clone(),
                        Slot {
                            env: Arc::new(e.clone()),
                            due,
                            in_flight: false,
                            requests: 2,
                            created: Some(now),
                        },
                    );
                }
            }
        }
    };
    let initial = environments.borrow_and_update().clone();
    sync(&mut slots, &initial);

    loop {
        // One pass over the slots per wake (a thousand environments wake the
        // loop twice per refresh): the requests a cycle needs, the due slots,
        // and when the next one falls due.
        let now = Instant::now();
        let environments_watched = slots.len();
        let mut needed: u64 = 0;
        let mut later: Option<Instant> = None;
        let mut due: Vec<&mut Slot> = Vec::new();
        for s in slots.values_mut() {
            needed += u64::from(s.requests);
            if s.in_flight {
                continue;
            }
            if s.due <= now {
                due.push(s);
            } else {
                later = Some(later.map_or(s.due, |l: Instant| l.min(s.due)));
            }
        }
        let effective = effective_interval(interval, needed, refresher.client().budget().rate());
        refresher
            .observer
            .effective_interval(effective.as_secs_f64());
        let now_stretched = effective > interval.mul_f64(1.01);
        if now_stretched != stretched {
            stretched = now_stretched;
            if stretched {
                tracing::warn!(
                    environments = environments_watched,
                    requests_per_cycle = needed,
                    budget_rps = refresher.client().budget().rate(),
                    effective_interval_seconds = effective.as_secs_f64(),
                    "request budget too small for the refresh interval: stretching the interval; raise --api.max-requests-per-second or --refresh.interval, or shard"
                );
            } else {
                tracing::info!("refresh interval back to the configured value");
            }
        }

        let free = max_in_flight.saturating_sub(tasks.len());
        // Only the `free` most overdue are started: pick them without sorting
        // every due slot (a thousand, when the fleet runs behind).
        let left_due = due.len() > free;
        if left_due && free > 0 {
            due.select_nth_unstable_by_key(free - 1, |s| s.due);
            due.truncate(free);
        }
        due.sort_by_key(|s| s.due);
        for slot in due.into_iter().take(free) {
            slot.in_flight = true;
            let fraction = offset_fraction(&slot.env.id);
            slot.due = next_due(slot.due, slot.created.take(), fraction, effective, now);
            let r = Arc::clone(&refresher);
            let env = Arc::clone(&slot.env);
            tasks.spawn(async move {
                let outcome = r.refresh_once(&env).await;
                (env.id.clone(), outcome)
            });
        }
        let next_due = if left_due {
            now
        } else {
            later.unwrap_or(now + interval)
        };
        let wake = if tasks.len() >= max_in_flight {
            now + interval
        } else {
            next_due
        };

        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Ok((id, outcome)) = done {
                    if let Some(slot) = slots.get_mut(&id) {
                        slot.in_flight = false;
                        if outcome.ok {
                            slot.requests = outcome.requests.max(2);
                        }
                    }
                }
            }
            changed = environments.changed(), if watching => {
                if changed.is_err() {
                    // The sender is gone (no discovery): keep the current set and stop
                    // watching. (A stand-in receiver whose sender is dropped at once
                    // would be ready again at once: the loop would spin a whole core.)
                    watching = false;
                    continue;
                }
                let envs = environments.borrow_and_update().clone();
                sync(&mut slots, &envs);
            }
            _ = tokio::time::sleep_until(wake) => {}
        }
    }

    // Stop scheduling; give in-flight refreshes a short grace, then drop them.
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
}

/// Multi-target mode (`--probe.only`): refresh nothing, only follow the
/// watched set, so `/probe` knows it and removed environments are forgotten.
pub async fn follow(
    refresher: Arc<Refresher>,
    mut environments: watch::Receiver<Vec<Environment>>,
    shutdown: CancellationToken,
) {
    loop {
        {
            let envs = environments.borrow_and_update();
            refresher.store().set_environments(&envs);
            refresher.retain(&envs.iter().map(|e| e.id.as_str()).collect());
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = environments.changed() => {
                if changed.is_err() {
                    // The sender is gone: the set stays as it is.
                    shutdown.cancelled().await;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_stable_and_spread() {
        assert_eq!(offset_fraction("env_a"), offset_fraction("env_a"));
        let v: Vec<f64> = (0..100)
            .map(|i| offset_fraction(&format!("env_{i}")))
            .collect();
        assert!(v.iter().all(|f| (0.0..1.0).contains(f)));
        let below_half = v.iter().filter(|f| **f < 0.5).count();
        assert!((30..70).contains(&below_half), "{below_half}");
    }

    #[test]
    fn after_the_start_window_refreshes_spread_over_the_whole_interval() {
        let interval = Duration::from_secs(30);
        let t0 = Instant::now();
        let window = Duration::from_secs(5);
        let mut seconds: Vec<f64> = (0..100)
            .map(|i| {
                let f = offset_fraction(&format!("env_{i}"));
                let first = t0 + window.mul_f64(f);
                let second = next_due(first, Some(t0), f, interval, first);
                assert!(second - first >= interval - window, "{f}");
                let third = next_due(second, None, f, interval, second);
                assert_eq!(third - second, interval);
                (second - t0).as_secs_f64()
            })
            .collect();
        seconds.sort_by(f64::total_cmp);
        // Second refreshes cover [30 s, 60 s), not a 5 s burst.
        assert!(seconds[0] < 35.0 && seconds[99] > 55.0, "{seconds:?}");
    }

    #[test]
    fn interval_stretches_only_when_the_budget_is_short() {
        let i = Duration::from_secs(30);
        assert_eq!(effective_interval(i, 100, 5.0), i);
        assert_eq!(effective_interval(i, 300, 5.0), Duration::from_secs(60));
    }
}
