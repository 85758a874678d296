//! Refreshing against a scripted upstream: paging, every failure class,
//! whole-or-nothing snapshots, staleness, and the exact number of calls.

use crate::rig::{rig, series, value, Options, API_KEY, ENV_KEY, NOW_MS};
use crate::upstream::{page, work, Reply, Upstream, STATS};
use std::time::Duration;

pub(crate) const T0: &str = "2025-12-31T23:58:00Z"; // two minutes before the rig's now

fn three_pages() -> impl Fn(&crate::upstream::Seen, usize) -> Reply + Send + Sync + 'static {
    |seen, _| {
        if seen.path.ends_with("/work/stats") {
            return Reply::json(200, STATS);
        }
        match seen.param("page").as_deref() {
            None => Reply::json(
                200,
                page(
                    &[
                        work("w1", "queued", T0, None),
                        work("w2", "active", T0, Some(T0)),
                    ],
                    Some("c1"),
                ),
            ),
            Some("c1") => Reply::json(
                200,
                page(
                    &[
                        work("w3", "active", T0, Some("2025-12-31T23:59:50Z")),
                        work("w4", "stopping", T0, None),
                    ],
                    Some("c2"),
                ),
            ),
            Some("c2") => Reply::json(200, page(&[work("w5", "stopped", T0, None)], None)),
            Some(other) => panic!("unexpected cursor {other}"),
        }
    }
}

#[tokio::test]
async fn multi_page_list_is_walked_to_the_end_and_counted_once() {
    let up = Upstream::start(three_pages()).await;
    let r = rig(&up.base_url, Options::default());
    assert!(r.refresh().await);
    let m = r.scrape();
    assert_eq!(
        value(&m, &series("anthropic_work_items", r#"state="queued""#)),
        Some(1.0)
    );
    assert_eq!(
        value(&m, &series("anthropic_work_items", r#"state="active""#)),
        Some(2.0)
    );
    assert_eq!(
        value(&m, &series("anthropic_work_items", r#"state="stopping""#)),
        Some(1.0)
    );
    assert_eq!(
        value(&m, &series("anthropic_work_items", r#"state="stopped""#)),
        Some(1.0)
    );
    assert_eq!(
        value(&m, &series("anthropic_work_items", r#"state="starting""#)),
        Some(0.0)
    );
    assert_eq!(
        value(&m, &series("anthropic_work_queue_depth", "")),
        Some(3.0)
    );
    assert_eq!(
        value(&m, &series("anthropic_work_queue_workers_polling", "")),
        Some(2.0)
    );
    assert_eq!(value(&m, &series("anthropic_work_up", "")), Some(1.0));
    // Oldest heartbeat is T0: 120 s before now; one lease older than 90 s.
    assert_eq!(
        value(
            &m,
            &series("anthropic_work_heartbeat_oldest_age_seconds", "")
        ),
        Some(120.0)
    );
    assert_eq!(
        value(&m, &series("anthropic_work_leases_expired", "")),
        Some(1.0)
    );

    // Exactly one stats call and three list pages, each asking for 1000.
    assert_eq!(up.count("/work/stats"), 1);
    assert_eq!(up.count("/work"), 3);
    for s in up.seen().iter().filter(|s| s.path.ends_with("/work")) {
        assert_eq!(s.param("limit").as_deref(), Some("1000"));
        assert_eq!(
            s.header("authorization"),
            Some(format!("Bearer {ENV_KEY}").as_str())
        );
        assert_eq!(s.header("x-api-key"), None, "one credential per request");
    }
    let stats = up
        .seen()
        .into_iter()
        .find(|s| s.path.ends_with("/stats"))
        .unwrap();
    // The API key as SDK 2.14 sends it: a bearer token, never x-api-key.
    assert_eq!(
        stats.header("authorization"),
        Some(format!("Bearer {API_KEY}").as_str())
    );
    assert_eq!(stats.header("x-api-key"), None);
    for s in up.seen() {
        assert_eq!(
            s.header("anthropic-beta"),
            Some("managed-agents-2026-04-01")
        );
        assert_eq!(s.header("anthropic-version"), Some("2026-10-21"));
    }
}

#[tokio::test]
async fn ages_are_computed_at_scrape_time_not_refresh_time() {
    let up = Upstream::start(three_pages()).await;
    let r = rig(&up.base_url, Options::default());
    assert!(r.refresh().await);
    let before = value(
        &r.scrape(),
        &series("anthropic_work_queue_oldest_age_seconds", ""),
    )
    .unwrap();
    r.clock.advance_ms(10_000);
    let after = value(
        &r.scrape(),
        &series("anthropic_work_queue_oldest_age_seconds", ""),
    )
    .unwrap();
    assert_eq!(after - before, 10.0);
    assert_eq!(
        value(&r.scrape(), &series("anthropic_work_leases_expired", "")),
        Some(1.0)
    );
    r.clock.advance_ms(80_000);
    assert_eq!(
        value(&r.scrape(), &series("anthropic_work_leases_expired", "")),
        Some(2.0)
    );
}

/// Answer stats normally and the list with `reply`.
pub(crate) fn list_fails(
    reply: Reply,
) -> impl Fn(&crate::upstream::Seen, usize) -> Reply + Send + Sync + 'static {
    move |seen, _| {
        if seen.path.ends_with("/work/stats") {
            Reply::json(200, STATS)
        } else {
            reply.clone()
        }
    }
}

#[tokio::test]
async fn a_failed_page_leaves_the_previous_snapshot_whole() {
    let up = Upstream::start(three_pages()).await;
    let r = rig(&up.base_url, Options::default());
    assert!(r.refresh().await);
    let good = r.scrape();
    up.set_script(|seen, _| {
        if seen.path.ends_with("/work/stats") {
            Reply::json(200, r#"{"type":"work_queue_stats","depth":99,"pending":0,"oldest_queued_at":null,"workers_polling":0}"#)
        } else if seen.param("page").as_deref() == Some("c1") {
            Reply::error(404, "not_found_error", "gone")
        } else {
            Reply::json(200, page(&[work("x1", "queued", T0, None), work("x2", "queued", T0, None)], Some("c1")))
        }
    });
    assert!(!r.refresh().await);
    let m = r.scrape();
    assert_eq!(value(&m, &series("anthropic_work_up", "")), Some(0.0));
    for s in ["queued", "active", "stopping", "stopped"] {
        let name = series("anthropic_work_items", &format!(r#"state="{s}""#));
        assert_eq!(
            value(&m, &name),
            value(&good, &name),
            "{s} kept from the last good refresh"
        );
    }
    assert_eq!(
        value(&m, &series("anthropic_work_queue_depth", "")),
        Some(3.0),
        "stats of the failed refresh are not half-applied"
    );
}

#[tokio::test]
async fn stale_series_are_withdrawn_but_up_stays_and_recovery_is_automatic() {
    let up = Upstream::start(three_pages()).await;
    let r = rig(&up.base_url, Options::default());
    assert!(r.refresh().await);
    up.set_script(list_fails(Reply::error(404, "not_found_error", "x")));
    assert!(!r.refresh().await);
    r.clock.advance_ms(60_000);
    assert!(
        value(&r.scrape(), &series("anthropic_work_queue_depth", "")).is_some(),
        "kept while younger than stale-after"
    );
    r.clock.advance_ms(31_000);
    let m = r.scrape();
    assert!(
        value(&m, &series("anthropic_work_queue_depth", "")).is_none(),
        "withdrawn after stale-after"
    );
    assert!(value(&m, &series("anthropic_work_items", r#"state="queued""#)).is_none());
    assert_eq!(value(&m, &series("anthropic_work_up", "")), Some(0.0));
    assert_eq!(
        value(
            &m,
            &series("anthropic_work_exporter_last_success_timestamp_seconds", "")
        ),
        Some(NOW_MS as f64 / 1000.0)
    );

    up.set_script(three_pages());
    assert!(r.refresh().await);
    let m = r.scrape();
    assert_eq!(value(&m, &series("anthropic_work_up", "")), Some(1.0));
    assert_eq!(
        value(&m, &series("anthropic_work_queue_depth", "")),
        Some(3.0)
    );
}

#[tokio::test]
async fn max_pages_truncates_the_walk_and_says_so() {
    let up = Upstream::start(three_pages()).await;
    let r = rig(
        &up.base_url,
        Options {
            max_pages: 2,
            ..Options::default()
        },
    );
    assert!(r.refresh().await);
    let m = r.scrape();
    assert_eq!(
        value(&m, &series("anthropic_work_exporter_list_truncated", "")),
        Some(1.0)
    );
    assert_eq!(up.count("/work"), 2);
}

#[tokio::test]
async fn unknown_states_types_and_fields_are_accepted_and_counted_apart() {
    let odd = r#"{"id":"w9","type":"work","state":"hibernating","created_at":"2025-12-31T23:58:00Z","data":{"id":"h1","type":"healthcheck"},"brand_new_field":{"x":[1]}}"#;
    let hc = r#"{"id":"w8","type":"work","state":"queued","created_at":"2025-12-31T23:58:00Z","data":{"type":"healthcheck"}}"#;
    let job = r#"{"id":"w7","type":"work","state":"queued","created_at":"2025-12-31T23:58:00Z","data":{"id":"j1","type":"batch_job"}}"#;
    let body = page(
        &[
            odd.to_string(),
            hc.to_string(),
            job.to_string(),
            work("w1", "queued", T0, None),
        ],
        None,
    );
    let up = Upstream::start(move |seen, _| {
        if seen.path.ends_with("/stats") {
            Reply::json(200, STATS)
        } else {
            Reply::json(200, body.clone())
        }
    })
    .await;
    let r = rig(&up.base_url, Options::default());
    assert!(r.refresh().await);
    let m = r.scrape();
    let get = |name: &str, label: &str| value(&m, &series(name, label));
    // Sessions only; the healthcheck in its own family; the unknown state
    // (of a healthcheck) and the unknown type each once, under unrecognized.
    assert_eq!(get("anthropic_work_items", r#"state="queued""#), Some(1.0));
    assert_eq!(
        get("anthropic_work_healthcheck_items", r#"state="queued""#),
        Some(1.0)
    );
    assert_eq!(
        get("anthropic_work_items_unrecognized", r#"kind="state""#),
        Some(1.0)
    );
    assert_eq!(
        get("anthropic_work_items_unrecognized", r#"kind="data_type""#),
        Some(1.0)
    );
    // Created 2 minutes before the rig's clock and not acknowledged: waiting.
    assert_eq!(
        get("anthropic_work_healthcheck_waiting_oldest_age_seconds", ""),
        Some(120.0)
    );
}

#[tokio::test]
async fn credentials_and_item_secrets_never_reach_metrics_pages_or_errors() {
    let up = Upstream::start(three_pages()).await;
    let r = rig(&up.base_url, Options::default());
    assert!(r.refresh().await);
    // A hostile upstream echoes the key in its error message.
    up.set_script(list_fails(Reply::error(
        401,
        "authentication_error",
        &format!("invalid bearer {ENV_KEY}"),
    )));
    assert!(!r.refresh().await);
    let store = r.store.read();
    let st = store.get("env_mock").unwrap();
    let outputs = [
        r.scrape(),
        work_exporter::pages::landing::render(&r.store, "/metrics", NOW_MS),
        work_exporter::pages::drilldown::html(st, NOW_MS, 90_000, &Default::default()),
        work_exporter::pages::drilldown::json(st, NOW_MS, 90_000, &Default::default()).to_string(),
        format!("{:?}", st.recent_errors),
        format!("{:?}", r.env),
    ];
    for out in &outputs {
        for marker in [ENV_KEY, API_KEY, "item-secret-marker", "metadata-marker"] {
            assert!(!out.contains(marker), "{marker} leaked into:\n{out}");
        }
    }
    assert!(st.recent_errors[0].message.contains("<redacted>"));
}

#[tokio::test]
async fn a_removed_environment_loses_every_series() {
    let up = Upstream::start(three_pages()).await;
    let r = rig(&up.base_url, Options::default());
    assert!(r.refresh().await);
    assert!(r.scrape().contains("env_mock"));
    r.store.set_environments(&[]);
    assert!(!r.scrape().contains("env_mock"));
}

#[tokio::test]
async fn connection_refused_is_a_connect_failure() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let r = rig(
        &format!("http://{addr}"),
        Options {
            timeout: Duration::from_millis(1500),
            ..Options::default()
        },
    );
    assert!(!r.refresh().await);
    let m = r.scrape();
    assert_eq!(
        value(
            &m,
            &series(
                "anthropic_work_exporter_refresh_failures_total",
                r#"reason="connect""#
            )
        ),
        Some(1.0)
    );
}

#[test]
fn the_scheduler_idles_when_the_environment_list_never_changes() {
    // Without discovery nobody sends environment changes and the sender is
    // dropped. The scheduler must then sleep until the next refresh is due:
    // on a single-threaded runtime with paused time, a scheduler that spins
    // never lets the clock advance, and this hour never ends.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let r = rig("http://127.0.0.1:1", Options::default());
            let (tx, rx) = tokio::sync::watch::channel(Vec::new());
            drop(tx);
            let shutdown = tokio_util::sync::CancellationToken::new();
            let task = tokio::spawn(work_exporter::refresh::scheduler::run(
                r.refresher.clone(),
                rx,
                shutdown.clone(),
            ));
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            shutdown.cancel();
            task.await.unwrap();
        });
        let _ = done_tx.send(());
    });
    assert!(
        done_rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .is_ok(),
        "the scheduler spins instead of sleeping"
    );
}
