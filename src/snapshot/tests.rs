//! Tests of `snapshot`.

use super::*;

#[test]
fn histogram_puts_values_in_the_first_bucket_not_below_them() {
    let mut h = Histogram::new(&[1.0, 5.0]);
    h.observe(1.0);
    h.observe(3.0);
    h.observe(9.0);
    h.observe(-2.0); // clock skew: never negative
    assert_eq!(h.counts, vec![2, 1, 1]);
    assert_eq!(h.count, 4);
    assert_eq!(h.sum, 13.0);
}

#[test]
fn lease_counts_as_expired_after_ttl_without_heartbeat() {
    let w = WorkSnapshot {
        heartbeats_ms: vec![1_000, 50_000, 95_000],
        ..Default::default()
    };
    assert_eq!(w.leases_expired(100_000, 90_000), 1);
    assert_eq!(w.leases_expired(200_000, 90_000), 3);
    assert_eq!(w.leases_expired(1_000, 90_000), 0);
}

#[test]
fn status_changes_count_failures_recoveries_and_the_watched_set_not_routine_refreshes() {
    let store = Store::default();
    let env = |id: &str| Environment {
        id: id.into(),
        name: id.into(),
        labels: BTreeMap::new(),
        key: None,
        cadence: Default::default(),
        scope: Default::default(),
    };
    let good = || Snapshot::default();
    let down = ApiError::Connect {
        endpoint: "work_stats",
        message: "refused".into(),
    };
    let mut seen = store.status_changes();
    let mut changed = |store: &Store| {
        let now = store.status_changes();
        let moved = now != seen;
        seen = now;
        moved
    };
    store.set_environments(&[env("a")]);
    assert!(changed(&store), "a new environment");
    store.commit_success("a", good(), &Lifecycle::default());
    assert!(changed(&store), "the first success");
    store.commit_success("a", good(), &Lifecycle::default());
    assert!(
        !changed(&store),
        "a routine refresh of a healthy environment"
    );
    store.commit_failure("a", &[Cadence::Stats], &down, 1);
    assert!(changed(&store), "a failure");
    store.commit_failure("a", &[Cadence::List], &down, 2);
    assert!(changed(&store), "every failure: its reason is counted");
    store.commit_success("a", good(), &Lifecycle::default());
    assert!(changed(&store), "a recovery");
    store.set_environments(&[]);
    assert!(changed(&store), "an environment gone");
}
