//! Scenario tests of the simulated workload, stepped on a synthetic clock.

use super::*;
use crate::state::{Item, Truth, NONE};
use crate::tuning::Tuning;

const T0: i64 = 1_780_000_000_000;
const TICK: i64 = 250;

struct Rig {
    q: EnvQueue,
    load: Workload,
    now: i64,
}

impl Rig {
    fn new(seed: u64, workers: usize, per_minute: f64) -> Self {
        Rig {
            q: EnvQueue::new("env_01t".into(), 3),
            load: Workload::new(seed, 0, workers, per_minute),
            now: T0,
        }
    }

    fn run(&mut self, scenario: Scenario, secs: i64) -> Truth {
        for _ in 0..secs * 1000 / TICK {
            self.now += TICK;
            self.load.step(&mut self.q, scenario, self.now);
        }
        self.q.truth(self.now)
    }

    /// Share of one-second samples over `secs` for which `pred` holds.
    fn share(&mut self, scenario: Scenario, secs: i64, pred: impl Fn(&Truth) -> bool) -> f64 {
        let hits = (0..secs).filter(|_| pred(&self.run(scenario, 1))).count();
        hits as f64 / secs as f64
    }
}

#[test]
fn same_seed_gives_the_same_history() {
    let mut a = Rig::new(11, 4, 20.0);
    let mut b = Rig::new(11, 4, 20.0);
    let mut c = Rig::new(12, 4, 20.0);
    let (ta, tb, tc) = (
        a.run(Scenario::Steady, 300),
        b.run(Scenario::Steady, 300),
        c.run(Scenario::Steady, 300),
    );
    assert_eq!(ta, tb);
    assert_ne!(a.q.items().len() + ta.counts["stopped"] as usize, 0);
    assert!(
        ta != tc || a.q.items().len() != c.q.items().len(),
        "another seed, another history"
    );
}

#[test]
fn steady_keeps_up_with_arrivals_and_workers_are_seen_polling() {
    let mut r = Rig::new(1, 4, 20.0);
    let t = r.run(Scenario::Steady, 300);
    assert!(t.counts["stopped"] > 20, "{t:?}");
    assert!(t.depth < 8, "{t:?}");
    assert_eq!(t.expired_leases, 0, "{t:?}");
    let polling = r.share(Scenario::Steady, 600, |t| t.workers_polling >= 1);
    assert!(
        polling > 0.9,
        "an idle worker is almost always polling: {polling}"
    );
}

#[test]
fn workers_down_stops_polling_and_depth_climbs_while_held_items_finish() {
    let mut r = Rig::new(2, 4, 20.0);
    r.run(Scenario::Steady, 120);
    let t = r.run(Scenario::WorkersDown, 60);
    assert_eq!(t.workers_polling, 0, "{t:?}");
    assert_eq!(r.load.busy(), 0, "held items finished");
    assert_eq!(t.counts["active"] + t.counts["starting"], 0, "{t:?}");
    let later = r.run(Scenario::WorkersDown, 60);
    assert!(later.depth > t.depth, "{t:?} -> {later:?}");
    let back = r.run(Scenario::Steady, 240);
    assert!(back.depth < later.depth, "{back:?}");
    let polling = r.share(Scenario::Steady, 60, |t| t.workers_polling >= 1);
    assert!(polling > 0.8, "workers are seen polling again: {polling}");
}

#[test]
fn saturated_keeps_every_worker_busy_with_work_waiting_and_progress() {
    let mut r = Rig::new(3, 4, 20.0);
    let t = r.run(Scenario::Saturated, 120);
    let stopped_before = t.counts["stopped"];
    let t = r.run(Scenario::Saturated, 30);
    assert_eq!(r.load.busy(), 4);
    assert!(t.depth > 0, "{t:?}");
    let waiting = r.share(Scenario::Saturated, 60, |t| t.depth > 0);
    assert_eq!(waiting, 1.0, "work always waits");
    // Busy workers do not poll, but one whose poll claimed an item in the last
    // 30 s still counts, as the API counts it: with runs of a few seconds a
    // saturated fleet does not read 0.
    let counted = r.share(Scenario::Saturated, 60, |t| t.workers_polling >= 1);
    assert!(counted > 0.5, "{counted}");
    assert!(t.counts["stopped"] > stopped_before, "items keep finishing");
}

#[test]
fn backlog_grows_the_queue() {
    let mut r = Rig::new(4, 4, 20.0);
    let a = r.run(Scenario::Backlog, 60);
    let b = r.run(Scenario::Backlog, 60);
    assert!(b.depth > a.depth && a.depth > 5, "{a:?} {b:?}");
}

#[test]
fn stale_heartbeats_show_within_100_s_and_expired_leases_after_the_300_s_ttl() {
    let mut r = Rig::new(5, 4, 20.0);
    r.run(Scenario::Steady, 60);
    let early = r.run(Scenario::StaleHeartbeats, 60);
    assert_eq!(early.stale_heartbeats, 0, "{early:?}");
    let t = r.run(Scenario::StaleHeartbeats, 40);
    assert!(t.stale_heartbeats >= 1, "{t:?}");
    assert_eq!(
        t.expired_leases, 0,
        "a 300 s lease outlives three missed heartbeats: {t:?}"
    );
    let lost = r.run(Scenario::StaleHeartbeats, 210);
    assert!(lost.expired_leases >= 1, "{lost:?}");
    let recovered = r.run(Scenario::Steady, 60);
    assert_eq!(
        (recovered.stale_heartbeats, recovered.expired_leases),
        (0, 0),
        "silent workers resume and finish: {recovered:?}"
    );
}

#[test]
fn stuck_stopping_piles_items_up_in_stopping() {
    let mut r = Rig::new(6, 4, 20.0);
    let before = r.run(Scenario::Steady, 60);
    let t = r.run(Scenario::StuckStopping, 90);
    assert!(t.counts["stopping"] >= 5, "{t:?}");
    assert!(
        t.counts["stopped"] <= before.counts["stopped"] + 1,
        "{before:?} {t:?}"
    );
    let done = r.run(Scenario::Steady, 10);
    assert!(done.counts["stopping"] < 3, "{done:?}");
}

#[test]
fn api_scenarios_leave_the_workload_steady() {
    let mut r = Rig::new(7, 4, 20.0);
    let t = r.run(Scenario::ApiDown, 120);
    assert!(t.counts["stopped"] > 5 && t.expired_leases == 0, "{t:?}");
}

#[test]
fn healthchecks_arrive_on_time_are_force_stopped_unstarted_by_2_14_workers_and_wait_while_workers_are_down(
) {
    let mut r = Rig::new(5, 2, 6.0);
    r.load = Workload::new(5, 0, 2, 6.0)
        .with_healthchecks(10_000)
        .with_worker_sdk(WorkerSdk::V2_14);
    let t = r.run(Scenario::Steady, 120);
    let healthchecks: Vec<_> =
        r.q.items()
            .iter()
            .filter(|i| i.kind == ItemKind::Healthcheck)
            .collect();
    assert!((11..=12).contains(&healthchecks.len()), "{t:?}");
    for h in healthchecks
        .iter()
        .filter(|h| h.state == WorkState::Stopped)
    {
        // The official worker's path: acknowledged, then force-stopped at once.
        assert!(h.acked != NONE && h.stopped == h.acked, "{h:?}");
        assert_eq!((h.started, h.heartbeat), (NONE, NONE), "{h:?}");
        assert_eq!(h.stop_requested, h.stopped, "{h:?}");
        assert!(
            h.stopped - h.created < 10_000,
            "taken within a poll sleep: {h:?}"
        );
    }
    assert!(t.healthchecks["stopped"] >= 10, "{t:?}");
    assert_eq!(t.healthchecks["starting"] + t.healthchecks["active"], 0);
    let sessions: u64 = t.counts.values().sum();
    let probes: u64 = t.healthchecks.values().sum();
    assert_eq!(sessions + probes, t.total, "{t:?}");

    let down = r.run(Scenario::WorkersDown, 60);
    assert!(down.healthchecks["queued"] >= 5, "{down:?}");
    let oldest = down.oldest_waiting_healthcheck_at.as_deref().unwrap();
    let oldest_ms = work_api::decode::timestamp_ms(oldest).unwrap();
    assert!(r.now - oldest_ms >= 50_000, "{down:?}");
    // Workers back: the backlog drains and healthchecks are taken promptly again.
    let back = r.run(Scenario::Steady, 90);
    let waiting_ms = back
        .oldest_waiting_healthcheck_at
        .as_deref()
        .and_then(work_api::decode::timestamp_ms)
        .map_or(0, |t| r.now - t);
    assert!(waiting_ms < 10_000, "{back:?}");
}

/// The healthchecks a fleet of `sdk` workers stopped within two minutes.
fn stopped_healthchecks(sdk: WorkerSdk) -> (Vec<Item>, Truth) {
    let mut r = Rig::new(5, 4, 6.0);
    r.load = Workload::new(5, 0, 4, 6.0)
        .with_healthchecks(5_000)
        .with_worker_sdk(sdk);
    let t = r.run(Scenario::Steady, 120);
    let stopped =
        r.q.items()
            .iter()
            .filter(|i| i.kind == ItemKind::Healthcheck && i.state == WorkState::Stopped)
            .cloned()
            .collect();
    (stopped, t)
}

/// 2.14: acknowledged and force-stopped at once, never started.
fn unstarted(h: &Item) -> bool {
    h.acked != NONE && h.stopped == h.acked && (h.started, h.heartbeat) == (NONE, NONE)
}

/// 2.16+: the first heartbeat at the acknowledgement (active), then a forced stop.
fn heartbeated(h: &Item) -> bool {
    h.acked != NONE
        && h.started == h.acked
        && h.heartbeat >= h.started
        && h.stopped > h.acked
        && h.stopped - h.acked < 2_000
        && h.stop_requested == h.stopped
}

#[test]
fn workers_of_sdk_2_16_heartbeat_healthchecks_first_so_they_pass_through_active() {
    let (stopped, t) = stopped_healthchecks(WorkerSdk::V2_16);
    assert!(stopped.len() >= 20, "{t:?}");
    for h in &stopped {
        assert!(heartbeated(h), "{h:?}");
    }
    let sessions: u64 = t.counts.values().sum();
    assert_eq!(sessions, t.total - t.healthchecks.values().sum::<u64>());
}

#[test]
fn a_mixed_fleet_leaves_healthchecks_in_both_shapes() {
    let (stopped, t) = stopped_healthchecks(WorkerSdk::Mixed);
    let old = stopped.iter().filter(|h| unstarted(h)).count();
    let new = stopped.iter().filter(|h| heartbeated(h)).count();
    assert!(
        old >= 3 && new >= 3,
        "{old} unstarted, {new} heartbeated: {t:?}"
    );
    assert_eq!(old + new, stopped.len(), "no third shape");
}

#[test]
fn worker_sdk_names_parse_and_unknown_ones_do_not() {
    assert_eq!(WorkerSdk::parse("2.17"), Some(WorkerSdk::V2_16));
    assert_eq!(WorkerSdk::parse("2.15"), Some(WorkerSdk::V2_14));
    assert_eq!(WorkerSdk::parse("mixed"), Some(WorkerSdk::Mixed));
    assert_eq!(WorkerSdk::parse("3"), None);
    assert_eq!(WorkerSdk::default(), WorkerSdk::V2_16);
}

/// Waits (ms) of the sessions acknowledged over `minutes` of `scenario`,
/// sampled every minute (before stopped items are pruned), the queue never
/// longer than `max_queued` (it keeps draining).
fn waits(r: &mut Rig, scenario: Scenario, minutes: usize, max_queued: u64) -> Vec<i64> {
    let since = r.now;
    let mut waits = std::collections::BTreeMap::new();
    for _ in 0..minutes {
        let t = r.run(scenario, 60);
        assert!(
            t.counts["queued"] <= max_queued,
            "the queue keeps draining: {t:?}"
        );
        for it in r.q.items() {
            if it.kind == ItemKind::Session && it.created > since && it.acked != NONE {
                waits.insert(it.seq, it.acked - it.created);
            }
        }
    }
    waits.into_values().collect()
}

fn late_share(waits: &[i64]) -> f64 {
    let late = waits.iter().filter(|&&w| w >= LEFT_WAITING_MS).count();
    late as f64 / waits.len() as f64
}

#[test]
fn slow_pickups_leave_one_session_in_twenty_waiting_while_the_rest_flow() {
    let mut r = Rig::new(5, 4, 20.0);
    r.run(Scenario::Steady, 120);
    let waits = waits(&mut r, Scenario::SlowPickups, 20, 19);
    assert!(waits.len() > 300, "{} sessions", waits.len());
    let share = late_share(&waits);
    assert!(
        (0.02..0.09).contains(&share),
        "{share} of {} late",
        waits.len()
    );
    assert!(waits.iter().all(|&w| w < LEFT_WAITING_MS + 30_000));
}

#[test]
fn late_one_in_sets_the_share_of_sessions_slow_pickups_leaves_waiting() {
    let mut r = Rig::new(5, 4, 20.0);
    let half = Tuning {
        late_one_in: Some(2),
        ..Tuning::default()
    };
    r.load.retune(Scenario::SlowPickups, &half);
    let share = late_share(&waits(&mut r, Scenario::SlowPickups, 20, 80));
    assert!((0.4..0.6).contains(&share), "{share} late");
    let every = Tuning {
        late_one_in: Some(1),
        ..Tuning::default()
    };
    r.load.retune(Scenario::SlowPickups, &every);
    assert_eq!(
        late_share(&waits(&mut r, Scenario::SlowPickups, 10, 80)),
        1.0
    );
    // A switch to slow-pickups without the knob is one in twenty again.
    r.load.retune(Scenario::SlowPickups, &Tuning::default());
    let share = late_share(&waits(&mut r, Scenario::SlowPickups, 20, 70));
    assert!((0.02..0.09).contains(&share), "{share} late");
}

#[test]
fn a_switch_without_knobs_leaves_the_history_as_it_was() {
    let mut a = Rig::new(9, 4, 20.0);
    let mut b = Rig::new(9, 4, 20.0);
    a.run(Scenario::Steady, 60);
    b.run(Scenario::Steady, 60);
    b.load.retune(Scenario::Steady, &Tuning::default());
    assert_eq!(a.run(Scenario::Steady, 300), b.run(Scenario::Steady, 300));
}

#[test]
fn arrivals_and_workers_can_be_changed_at_runtime() {
    let mut r = Rig::new(3, 4, 20.0);
    let arrived = |r: &Rig| r.q.items().iter().map(|it| it.seq).max().unwrap_or(0);
    r.run(Scenario::Steady, 60);
    let light = Tuning {
        arrivals_per_minute: Some(2.0),
        workers: Some(2),
        ..Tuning::default()
    };
    r.load.retune(Scenario::Steady, &light);
    assert_eq!(r.load.worker_count(), 2);
    let before = arrived(&r);
    r.run(Scenario::Steady, 600);
    // Ten minutes at 2 a minute, healthchecks (one a minute) included.
    let n = arrived(&r) - before;
    assert!((15..=45).contains(&n), "{n} items in 10 minutes");
    let heavy = Tuning {
        workers: Some(12),
        ..Tuning::default()
    };
    r.load.retune(Scenario::Steady, &heavy);
    assert_eq!(r.load.worker_count(), 12);
    let t = r.run(Scenario::Steady, 60);
    assert!(t.workers_polling >= 8, "the new workers poll: {t:?}");
}
