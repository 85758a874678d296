//! Specifications of the fold: counting, once-only observations, bounded tracking.

use super::*;
use work_api::decode::work_page;
use work_api::wire::format_timestamp_ms;

const START: i64 = 1_800_000_000_000;

fn ts(ms: Option<i64>) -> String {
    ms.map_or("null".into(), |m| format!("\"{}\"", format_timestamp_ms(m)))
}

#[allow(clippy::too_many_arguments)]
fn row(
    id: &str,
    state: &str,
    created: i64,
    acked: Option<i64>,
    started: Option<i64>,
    hb: Option<i64>,
    stop_req: Option<i64>,
    stopped: Option<i64>,
) -> String {
    format!(
        r#"{{"id":"{id}","type":"work","environment_id":"env_1","state":"{state}","created_at":{},"acknowledged_at":{},"started_at":{},"latest_heartbeat_at":{},"stop_requested_at":{},"stopped_at":{},"data":{{"id":"session_{id}","type":"session"}},"metadata":{{}},"secret":null}}"#,
        ts(Some(created)),
        ts(acked),
        ts(started),
        ts(hb),
        ts(stop_req),
        ts(stopped)
    )
}

fn walk(tracker: &Tracker, rows: &[String]) -> (WorkSnapshot, Lifecycle, Tracker) {
    let body = format!(r#"{{"data":[{}],"next_page":null}}"#, rows.join(","));
    let page = work_page(body.as_bytes()).unwrap();
    let mut fold = Fold::new(tracker, START);
    for r in &page.data {
        fold.add(r);
    }
    fold.finish(false, 1)
}

#[test]
fn states_are_counted_and_unknown_ones_apart() {
    let t = Tracker::new(START);
    let rows = vec![
        row("a", "queued", START, None, None, None, None, None),
        row(
            "b",
            "active",
            START,
            Some(START + 1000),
            Some(START + 2000),
            Some(START + 3000),
            None,
            None,
        ),
        row("c", "paused", START, None, None, None, None, None),
    ];
    let (w, _, _) = walk(&t, &rows);
    assert_eq!(w.states, [1, 0, 1, 0, 0]);
    assert_eq!(w.unknown_state, 1);
    assert_eq!(w.heartbeats_ms, vec![START + 3000]);
    assert_eq!(w.oldest_queued[0].work_id, "a");
}

#[test]
fn each_duration_is_observed_once_across_refreshes() {
    let t0 = Tracker::new(START);
    let queued = row("a", "queued", START + 100, None, None, None, None, None);
    let (_, d1, t1) = walk(&t0, &[queued]);
    assert_eq!(d1.created, 1);
    assert_eq!(d1.queue_wait.count, 0);

    let active = row(
        "a",
        "active",
        START + 100,
        Some(START + 2100),
        Some(START + 3100),
        Some(START + 4000),
        None,
        None,
    );
    let (_, d2, t2) = walk(&t1, std::slice::from_ref(&active));
    assert_eq!(
        (d2.created, d2.queue_wait.count, d2.startup.count),
        (0, 1, 1)
    );
    assert_eq!(d2.queue_wait.sum, 2.0);

    let (_, d3, t3) = walk(&t2, &[active]);
    assert_eq!(
        (d3.queue_wait.count, d3.startup.count, d3.stopped),
        (0, 0, 0)
    );

    let stopped = row(
        "a",
        "stopped",
        START + 100,
        Some(START + 2100),
        Some(START + 3100),
        Some(START + 4000),
        Some(START + 9100),
        Some(START + 10100),
    );
    let (_, d4, t4) = walk(&t3, std::slice::from_ref(&stopped));
    assert_eq!((d4.stopped, d4.run.count, d4.stop.count), (1, 1, 1));
    assert_eq!(d4.run.sum, 7.0);
    assert!(t4.is_empty(), "a stopped item is forgotten once observed");

    // Still listed as stopped: never counted again.
    let (_, d5, _) = walk(&t4, &[stopped]);
    assert_eq!((d5.stopped, d5.created, d5.run.count), (0, 0, 0));
}

#[test]
fn an_item_that_lived_and_stopped_between_refreshes_is_counted_once() {
    let t0 = Tracker::new(START);
    let whole = row(
        "z",
        "stopped",
        START + 10,
        Some(START + 20),
        Some(START + 30),
        None,
        None,
        Some(START + 5030),
    );
    let (_, d1, t1) = walk(&t0, std::slice::from_ref(&whole));
    assert_eq!(
        (
            d1.created,
            d1.stopped,
            d1.queue_wait.count,
            d1.startup.count,
            d1.run.count
        ),
        (1, 1, 1, 1, 1)
    );
    let (_, d2, _) = walk(&t1, &[whole]);
    assert_eq!((d2.created, d2.stopped), (0, 0));
}

#[test]
fn history_before_the_exporter_started_is_not_observed() {
    let t0 = Tracker::new(START);
    let old = row(
        "o",
        "stopped",
        START - 9000,
        Some(START - 8000),
        Some(START - 7000),
        None,
        None,
        Some(START - 1000),
    );
    let old_active = row(
        "p",
        "active",
        START - 9000,
        Some(START - 8000),
        Some(START - 7000),
        Some(START - 10),
        None,
        None,
    );
    let (w, d, t1) = walk(&t0, &[old, old_active]);
    assert_eq!(w.states, [0, 0, 1, 0, 1]);
    assert_eq!(
        (d.created, d.stopped, d.queue_wait.count, d.startup.count),
        (0, 0, 0, 0)
    );
    assert_eq!(t1.len(), 1);
}

#[test]
fn duplicate_rows_in_one_walk_count_once() {
    let t0 = Tracker::new(START);
    let r = row("d", "queued", START + 1, None, None, None, None, None);
    let (w, d, _) = walk(&t0, &[r.clone(), r]);
    assert_eq!(w.states[0], 1);
    assert_eq!(d.created, 1);
}

#[test]
fn unseen_items_are_forgotten_after_a_few_walks() {
    let t0 = Tracker::new(START);
    let (_, _, mut t) = walk(
        &t0,
        &[row("g", "queued", START + 1, None, None, None, None, None)],
    );
    for _ in 0..FORGET_AFTER {
        assert_eq!(t.len(), 1);
        t = walk(&t, &[]).2;
    }
    assert!(t.is_empty());
}

#[test]
fn negative_durations_from_clock_skew_are_clamped_to_zero() {
    let t0 = Tracker::new(START);
    let skewed = row(
        "s",
        "active",
        START + 5000,
        Some(START + 1000),
        Some(START + 500),
        Some(START + 6000),
        None,
        None,
    );
    let (_, d, _) = walk(&t0, &[skewed]);
    assert_eq!(d.queue_wait.sum, 0.0);
    assert_eq!(d.startup.sum, 0.0);
}

/// `row` with another `data`.
fn with_data(row: String, data: &str) -> String {
    let session = row.find(r#""data":{"#).unwrap();
    let end = session + row[session..].find('}').unwrap() + 1;
    format!("{}\"data\":{data}{}", &row[..session], &row[end..])
}

#[test]
fn healthchecks_are_counted_apart_and_never_in_session_figures() {
    let hc = |id: &str, state: &str, acked: Option<i64>, stopped: Option<i64>| {
        with_data(
            row(id, state, START + 100, acked, None, None, stopped, stopped),
            r#"{"type":"healthcheck"}"#,
        )
    };
    let t0 = Tracker::new(START);
    // The official worker's path: queued, then starting (acknowledged), then stopped.
    let (w1, d1, t1) = walk(
        &t0,
        &[
            hc("h1", "queued", None, None),
            hc("h1", "queued", None, None), // the list shifted: seen twice, counted once
            hc("h2", "starting", Some(START + 200), None),
            hc("h3", "paused", None, None),
            row("s1", "queued", START + 50, None, None, None, None, None),
        ],
    );
    assert_eq!(w1.states, [1, 0, 0, 0, 0], "sessions only");
    assert_eq!(w1.healthchecks.states, [1, 1, 0, 0, 0]);
    assert_eq!(w1.unknown_state, 1, "a healthcheck in an unknown state");
    assert_eq!(w1.other_type, 0);
    assert_eq!(w1.healthchecks.oldest_waiting_ms, Some(START + 100));
    assert_eq!(w1.healthchecks.oldest_waiting[0].work_id, "h1");
    assert_eq!(w1.oldest_queued.len(), 1, "the session alone");
    assert!(
        w1.heartbeats_ms.is_empty(),
        "an acknowledged healthcheck holds no lease"
    );
    assert_eq!(d1.created, 1, "the session alone");
    assert_eq!(t1.len(), 1, "healthchecks are not tracked");

    let (w2, d2, _) = walk(
        &t1,
        &[
            hc("h1", "stopped", Some(START + 300), Some(START + 400)),
            hc("h2", "stopped", Some(START + 200), Some(START + 400)),
            row("s1", "queued", START + 50, None, None, None, None, None),
        ],
    );
    assert_eq!(w2.healthchecks.states, [0, 0, 0, 0, 2]);
    assert_eq!(w2.healthchecks.oldest_waiting_ms, None);
    assert!(w2.healthchecks.oldest_waiting.is_empty());
    assert_eq!((d2.stopped, d2.queue_wait.count, d2.stop.count), (0, 0, 0));
}

#[test]
fn unknown_data_types_are_unrecognized_only() {
    let t = Tracker::new(START);
    let other = |id: &str, state: &str| {
        with_data(
            row(id, state, START + 100, None, None, None, None, None),
            r#"{"id":"job_1","type":"batch_job"}"#,
        )
    };
    let (w, d, t1) = walk(
        &t,
        &[
            other("x", "queued"),
            other("x", "queued"),
            other("y", "paused"),
        ],
    );
    assert_eq!(w.other_type, 2);
    assert_eq!((w.states, w.healthchecks.states), ([0; 5], [0; 5]));
    assert_eq!(w.unknown_state, 0, "counted once, under data_type");
    assert!(w.oldest_queued.is_empty());
    assert_eq!((d.created, t1.len()), (0, 0));
}

#[test]
fn the_drill_down_keeps_the_twenty_oldest_whatever_the_order_of_the_list() {
    // 60 queued items in a shuffled order, ever older ones among them: the
    // samples are the 20 oldest, oldest first, each with its own ids.
    let t = Tracker::new(START);
    let ages: Vec<i64> = (0..60).map(|i| (i * 37) % 60).collect();
    let rows: Vec<String> = ages
        .iter()
        .map(|&a| {
            row(
                &format!("w{a}"),
                "queued",
                START - a * 1000,
                None,
                None,
                None,
                None,
                None,
            )
        })
        .collect();
    let (w, _, _) = walk(&t, &rows);
    let got: Vec<(String, String, Option<i64>)> = w
        .oldest_queued
        .iter()
        .map(|s| (s.work_id.clone(), s.session_id.clone(), s.created_at_ms))
        .collect();
    let want: Vec<(String, String, Option<i64>)> = (40..60)
        .rev()
        .map(|a| {
            (
                format!("w{a}"),
                format!("session_w{a}"),
                Some(START - a * 1000),
            )
        })
        .collect();
    assert_eq!(got, want);
}
