//! Tests of `scheduler`.

use super::slots::next_due;
use super::*;
use crate::refresh::plan::Demand;

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
fn the_first_cycle_is_spread_over_what_the_budget_can_serve() {
    let thirty = Duration::from_secs(30);
    assert_eq!(start_window(10, thirty, 5.0), Duration::from_secs(5));
    assert_eq!(
        start_window(1, Duration::from_secs(2), 5.0),
        Duration::from_secs(2)
    );
    // 60 environments on 2 requests/s: 120 requests at 1.8/s.
    let w = start_window(60, Duration::from_secs(5), 2.0);
    assert!((w.as_secs_f64() - 120.0 / 1.8).abs() < 1e-6, "{w:?}");
}

#[test]
fn a_part_keeps_its_place_and_a_late_one_waits_half_an_interval() {
    let t0 = Instant::now();
    let every = Duration::from_secs(30);
    assert_eq!(next_due(t0, every, t0), t0 + every);
    let late = t0 + Duration::from_secs(40);
    assert_eq!(next_due(t0, every, late), late + Duration::from_secs(15));
}

#[test]
fn a_list_due_soon_rides_along_with_the_stats() {
    let t0 = Instant::now();
    let cadences = Cadences {
        stats: Duration::from_secs(30),
        list: Duration::from_secs(300),
    };
    let p = plan::plan(Demand::default(), 5.0, cadences, 1);
    let mut slot = Slot {
        env: Arc::new(Environment {
            id: "env_a".into(),
            name: "a".into(),
            labels: Default::default(),
            key: None,
            cadence: Default::default(),
            scope: Default::default(),
        }),
        cadences,
        stats_due: t0,
        list_due: t0 + Duration::from_secs(5),
        in_flight: false,
        list_pages: 1,
    };
    assert_eq!(take_turn(&mut slot, &p, t0), Parts::BOTH);
    assert_eq!(slot.stats_due, t0 + Duration::from_secs(30));
    assert_eq!(slot.list_due, t0 + Duration::from_secs(305));
    let t1 = slot.stats_due;
    let only_stats = take_turn(&mut slot, &p, t1);
    assert!(only_stats.stats && !only_stats.list);
}
