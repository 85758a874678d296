//! Unit tests of the queue and lease state machine (time is a parameter).

use super::*;

const T0: i64 = 1_780_000_000_000;

fn queue() -> EnvQueue {
    EnvQueue::new("env_01test".into(), 5)
}

/// Enqueue, poll and ack one item; returns its seq.
fn claimed(q: &mut EnvQueue, now: i64) -> u64 {
    let seq = q.enqueue(now);
    let i = q.poll(Some("w"), DEFAULT_RECLAIM_MS, now).unwrap();
    assert_eq!(q.items()[i].seq, seq);
    q.ack(seq, now).unwrap();
    seq
}

#[test]
fn poll_moves_an_item_from_depth_to_pending_and_ack_removes_it() {
    let mut q = queue();
    let seq = q.enqueue(T0);
    q.enqueue(T0 + 10);
    let s = q.stats(T0 + 100);
    assert_eq!((s.depth, s.pending), (2, 0));
    assert_eq!(s.oldest_queued_at, Some(ids::timestamp(T0)));
    q.poll(Some("w1"), DEFAULT_RECLAIM_MS, T0 + 200).unwrap();
    let s = q.stats(T0 + 300);
    assert_eq!((s.depth, s.pending), (1, 1));
    assert_eq!(
        s.oldest_queued_at,
        Some(ids::timestamp(T0)),
        "pending items count as queued for the oldest"
    );
    q.ack(seq, T0 + 400).unwrap();
    let s = q.stats(T0 + 500);
    assert_eq!((s.depth, s.pending), (1, 0));
    assert_eq!(s.oldest_queued_at, Some(ids::timestamp(T0 + 10)));
    assert_eq!(q.get(seq).unwrap().state, WorkState::Starting);
}

#[test]
fn empty_queue_has_no_oldest_queued_at() {
    let mut q = queue();
    assert_eq!(q.stats(T0).oldest_queued_at, None);
    assert!(q.poll(Some("w"), DEFAULT_RECLAIM_MS, T0).is_none());
}

#[test]
fn unacked_item_is_handed_out_again_after_reclaim_older_than_ms() {
    let mut q = queue();
    let seq = q.enqueue(T0);
    q.poll(Some("crashed"), DEFAULT_RECLAIM_MS, T0).unwrap();
    assert!(
        q.poll(Some("w2"), DEFAULT_RECLAIM_MS, T0 + 4_999).is_none(),
        "too young to reclaim"
    );
    let i = q.poll(Some("w2"), DEFAULT_RECLAIM_MS, T0 + 5_000).unwrap();
    assert_eq!(q.items()[i].seq, seq);
    assert_eq!(
        q.stats(T0 + 5_000).pending,
        1,
        "still one pending claim, now w2's"
    );
    let i = q.poll(Some("w3"), 100, T0 + 5_100).unwrap();
    assert_eq!(
        q.items()[i].seq,
        seq,
        "a shorter reclaim_older_than_ms reclaims sooner"
    );
}

#[test]
fn ack_of_a_non_queued_item_is_a_conflict() {
    let mut q = queue();
    let seq = claimed(&mut q, T0);
    assert_eq!(q.ack(seq, T0).unwrap_err().status, 409);
    assert_eq!(q.ack(999, T0).unwrap_err().status, 404);
}

#[test]
fn first_heartbeat_claims_the_lease_and_activates_the_item() {
    let mut q = queue();
    let seq = claimed(&mut q, T0);
    let r = q
        .heartbeat(seq, Some(NO_HEARTBEAT), None, T0 + 1_000)
        .unwrap();
    assert_eq!(r.kind, "work_heartbeat");
    assert_eq!(r.state, WorkState::Active);
    assert!(r.lease_extended);
    assert_eq!(r.ttl_seconds, DEFAULT_TTL_S);
    assert_eq!(r.last_heartbeat, ids::timestamp(T0 + 1_000));
    let r2 = q
        .heartbeat(seq, Some(&r.last_heartbeat), None, T0 + 4_000)
        .unwrap();
    assert_eq!(r2.last_heartbeat, ids::timestamp(T0 + 4_000));
    assert_eq!(q.get(seq).unwrap().started, T0 + 1_000);
}

#[test]
fn stale_expected_last_heartbeat_is_412_with_the_current_lease() {
    let mut q = queue();
    let seq = claimed(&mut q, T0);
    let first = q
        .heartbeat(seq, Some(NO_HEARTBEAT), None, T0 + 1_000)
        .unwrap();
    q.heartbeat(seq, Some(&first.last_heartbeat), None, T0 + 2_000)
        .unwrap();
    let err = q
        .heartbeat(seq, Some(&first.last_heartbeat), None, T0 + 3_000)
        .unwrap_err();
    assert_eq!(err.status, 412);
    assert_eq!(err.code, "heartbeat_precondition_failed");
    let lease = err.current_state.unwrap();
    assert_eq!(lease.last_heartbeat, Some(ids::timestamp(T0 + 2_000)));
    assert_eq!(lease.state, WorkState::Active);
    assert!(!lease.lease_extended);
    let again = q
        .heartbeat(seq, Some(NO_HEARTBEAT), None, T0 + 3_000)
        .unwrap_err();
    assert_eq!(
        again.status, 412,
        "NO_HEARTBEAT only claims a lease nobody holds"
    );
}

#[test]
fn heartbeat_of_a_requeued_item_is_412() {
    let mut q = queue();
    let seq = q.enqueue(T0);
    q.poll(Some("w"), DEFAULT_RECLAIM_MS, T0).unwrap();
    let err = q.heartbeat(seq, Some(NO_HEARTBEAT), None, T0).unwrap_err();
    assert_eq!(err.status, 412);
    assert_eq!(err.current_state.unwrap().state, WorkState::Queued);
}

#[test]
fn desired_ttl_is_clamped_to_bounds_and_reported() {
    let mut q = queue();
    let seq = claimed(&mut q, T0);
    let r = q
        .heartbeat(seq, Some(NO_HEARTBEAT), Some(1), T0 + 1)
        .unwrap();
    assert_eq!(r.ttl_seconds, MIN_TTL_S);
    let r = q
        .heartbeat(seq, Some(&r.last_heartbeat), Some(100_000), T0 + 2)
        .unwrap();
    assert_eq!(r.ttl_seconds, MAX_TTL_S);
    let r = q
        .heartbeat(seq, Some(&r.last_heartbeat), Some(45), T0 + 3)
        .unwrap();
    assert_eq!(r.ttl_seconds, 45);
}

#[test]
fn graceful_stop_passes_through_stopping_then_completes() {
    let mut q = queue();
    let seq = claimed(&mut q, T0);
    q.stop(seq, false, T0 + 10).unwrap();
    let it = q.get(seq).unwrap();
    assert_eq!(
        (it.state, it.stop_requested, it.stopped),
        (WorkState::Stopping, T0 + 10, NONE)
    );
    let hb = q
        .heartbeat(seq, Some("not compared while stopping"), None, T0 + 20)
        .unwrap();
    assert_eq!(
        (hb.state, hb.lease_extended),
        (WorkState::Stopping, false),
        "a requested stop answers lease_extended: false, the only end SDK 2.16+ reads"
    );
    q.complete_due_stops(T0 + 10 + STOP_GRACE_MS - 1);
    assert_eq!(q.get(seq).unwrap().state, WorkState::Stopping);
    q.complete_due_stops(T0 + 10 + STOP_GRACE_MS);
    let it = q.get(seq).unwrap();
    assert_eq!(
        (it.state, it.stopped),
        (WorkState::Stopped, T0 + 10 + STOP_GRACE_MS)
    );
    let hb = q.heartbeat(seq, None, None, T0 + 30_000).unwrap();
    assert_eq!((hb.state, hb.lease_extended), (WorkState::Stopped, false));
}

#[test]
fn force_stop_goes_straight_to_stopped_and_a_second_stop_is_409() {
    let mut q = queue();
    let seq = claimed(&mut q, T0);
    q.stop(seq, true, T0 + 5).unwrap();
    let it = q.get(seq).unwrap();
    assert_eq!(
        (it.state, it.stop_requested, it.stopped),
        (WorkState::Stopped, T0 + 5, T0 + 5)
    );
    let err = q.stop(seq, false, T0 + 6).unwrap_err();
    assert_eq!((err.status, err.code), (409, "work_already_stopped"));
}

#[test]
fn stopping_a_queued_item_takes_it_off_the_queue() {
    let mut q = queue();
    let seq = q.enqueue(T0);
    q.stop(seq, false, T0 + 1).unwrap();
    assert_eq!(q.get(seq).unwrap().state, WorkState::Stopped);
    assert_eq!(q.stats(T0 + 2).depth, 0);
    assert!(q.poll(None, DEFAULT_RECLAIM_MS, T0 + 3).is_none());
}

#[test]
fn workers_polling_counts_every_worker_that_polled_in_the_last_30_s() {
    let mut q = queue();
    q.poll(Some("a"), DEFAULT_RECLAIM_MS, T0);
    q.poll(Some("b"), DEFAULT_RECLAIM_MS, T0 + 10_000);
    q.poll(Some("b"), DEFAULT_RECLAIM_MS, T0 + 11_000);
    q.poll(None, DEFAULT_RECLAIM_MS, T0 + 11_000);
    assert_eq!(q.stats(T0 + 20_000).workers_polling, Some(2));
    assert_eq!(q.stats(T0 + 30_000).workers_polling, Some(2));
    assert_eq!(q.stats(T0 + 30_001).workers_polling, Some(1), "a aged out");
    assert_eq!(q.stats(T0 + 41_001).workers_polling, Some(0));
    q.enqueue(T0 + 50_000);
    q.poll(Some("c"), DEFAULT_RECLAIM_MS, T0 + 50_000).unwrap();
    assert_eq!(
        q.stats(T0 + 50_001).workers_polling,
        Some(1),
        "a worker whose poll claimed an item polled all the same (the API counts it)"
    );
    assert_eq!(q.stats(T0 + 80_001).workers_polling, Some(0));
}

#[test]
fn metadata_update_merges_and_null_deletes() {
    let mut q = queue();
    let seq = q.enqueue(T0);
    q.update_metadata(
        seq,
        vec![
            ("a".into(), Some("1".into())),
            ("b".into(), Some("2".into())),
        ],
    )
    .unwrap();
    q.update_metadata(
        seq,
        vec![("a".into(), None), ("c".into(), Some("3".into()))],
    )
    .unwrap();
    let meta = q.get(seq).unwrap().metadata.clone().unwrap();
    assert_eq!(
        meta.into_iter().collect::<Vec<_>>(),
        vec![("b".into(), "2".into()), ("c".into(), "3".into())]
    );
}

#[test]
fn paging_walks_every_item_in_id_order() {
    let mut q = queue();
    for k in 0..25 {
        q.enqueue(T0 + k);
    }
    let (r, next) = q.page(None, 10);
    assert_eq!((r.clone(), next), (0..10, Some(10)));
    let (r, next) = q.page(next, 10);
    assert_eq!((r, next), (10..20, Some(20)));
    let (r, next) = q.page(next, 10);
    assert_eq!((r, next), (20..25, None));
}

#[test]
fn truth_counts_states_stale_heartbeats_and_expired_leases() {
    let mut q = queue();
    let fresh = claimed(&mut q, T0);
    let stale = claimed(&mut q, T0);
    let never = claimed(&mut q, T0);
    q.enqueue(T0);
    let r = q.heartbeat(fresh, Some(NO_HEARTBEAT), None, T0).unwrap();
    q.heartbeat(stale, Some(NO_HEARTBEAT), None, T0).unwrap();
    q.heartbeat(fresh, Some(&r.last_heartbeat), None, T0 + 80_000)
        .unwrap();
    let _ = never;
    let t = q.truth(T0 + 90_001);
    assert_eq!(t.counts["active"], 2);
    assert_eq!(t.counts["starting"], 1);
    assert_eq!(t.counts["queued"], 1);
    assert_eq!(t.total, 4);
    assert_eq!(
        (t.stale_heartbeats, t.expired_leases),
        (2, 0),
        "the silent active one and the never-heartbeated starting one have missed three heartbeats; their 300 s leases hold"
    );
    assert_eq!(q.truth(T0 + 90_000).stale_heartbeats, 0);
    let t = q.truth(T0 + 300_001);
    assert_eq!((t.stale_heartbeats, t.expired_leases), (3, 2));
    assert_eq!(q.truth(T0 + 300_000).expired_leases, 0);
}

#[test]
fn prune_drops_old_stopped_items_but_keeps_seeded_ones() {
    let mut q = queue();
    let a = q.enqueue(T0);
    q.stop(a, true, T0).unwrap();
    let mut seeded = Item::new(0, T0);
    seeded.state = WorkState::Stopped;
    seeded.stopped = T0;
    q.push_seeded(seeded);
    q.prune(60_000, T0 + 60_000);
    assert_eq!(q.items().len(), 2);
    q.prune(60_000, T0 + 60_001);
    assert_eq!(q.items().len(), 1);
    assert!(q.items()[0].seeded);
}
