//! The upstream fault suite (issue 7): for every fault, `/metrics` keeps
//! serving (also while the faulty refresh is in flight), the faulty
//! environment is down with the right `reason`, its numbers are those of its
//! last good refresh (nothing half-counted), the other environment is
//! untouched, and everything recovers by itself once the fault ends.
//!
//! `table()` is the whole suite as data; `leaks.rs` replays it with marker
//! keys and searches every output for them.

use crate::pair::{
    data_lines_of, failures, lines_of, value, At, Fault, Options, Pair, BAD, GOOD, T0,
};
use crate::upstream::{page, work, Reply, Upstream};
use std::time::Duration;

mod table;

use table::error;
pub use table::table;

/// The life of one fault: healthy, fault, recovery.
pub async fn check(f: Fault) {
    let name = f.name;
    let pair = Pair::start(Options::default()).await;
    assert_eq!(
        pair.refresh_both(f.timeout).await,
        (true, true),
        "{name}: healthy first"
    );
    let before = pair.scrape().await;

    pair.set_fault(Some(f.clone()));
    let started = std::time::Instant::now();
    let (during, (bad_ok, good_ok)) = tokio::join!(
        async {
            // A scrape while the faulty refresh is in flight answers at once.
            tokio::time::sleep(Duration::from_millis(50)).await;
            pair.scrape_within(Duration::from_secs(1)).await
        },
        pair.refresh_both(f.timeout)
    );
    let took = started.elapsed();
    assert!(
        took < f.timeout + Duration::from_secs(1),
        "{name}: the refresh outlived its deadline ({took:?})"
    );
    assert!(
        during.contains("anthropic_work_exporter_build_info"),
        "{name}"
    );
    assert!(good_ok, "{name}: the healthy environment failed too");
    let after = pair.scrape().await;
    assert_eq!(
        lines_of(&after, GOOD),
        lines_of(&before, GOOD),
        "{name}: the healthy environment's numbers moved"
    );
    match f.reason {
        Some(reason) => {
            assert!(!bad_ok, "{name}: the refresh should fail with {reason}");
            assert_eq!(
                value(&after, "anthropic_work_up", BAD, ""),
                Some(0.0),
                "{name}"
            );
            assert_eq!(
                failures(&after, BAD, reason),
                1.0,
                "{name}: reason {reason}\n{after}"
            );
            let total: f64 = lines_of(&after, BAD)
                .iter()
                .filter(|l| l.starts_with("anthropic_work_exporter_refresh_failures_total{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum();
            assert_eq!(total, 1.0, "{name}: one failure, one reason");
            assert_eq!(
                data_lines_of(&after, BAD),
                data_lines_of(&before, BAD),
                "{name}: the last good numbers are kept whole, nothing half-counted"
            );
        }
        None => {
            assert!(bad_ok, "{name}: must be accepted");
            assert_eq!(
                value(&after, "anthropic_work_up", BAD, ""),
                Some(1.0),
                "{name}"
            );
            for l in lines_of(&after, BAD) {
                let v: f64 = l.rsplit(' ').next().unwrap().parse().unwrap();
                assert!(v >= 0.0 && v.is_finite(), "{name}: {l}");
            }
        }
    }

    // The fault ends: the next refresh recovers by itself, with the healthy numbers.
    pair.set_fault(None);
    assert_eq!(
        pair.refresh_both(f.timeout).await,
        (true, true),
        "{name}: recovery"
    );
    let recovered = pair.scrape().await;
    assert_eq!(
        value(&recovered, "anthropic_work_up", BAD, ""),
        Some(1.0),
        "{name}"
    );
    assert_eq!(
        gauge_lines_of(&recovered, BAD),
        gauge_lines_of(&before, BAD),
        "{name}: healthy numbers after recovery"
    );
    if f.reason.is_some() {
        assert_eq!(
            data_lines_of(&recovered, BAD),
            data_lines_of(&before, BAD),
            "{name}: nothing of the failed walks was counted"
        );
    }
}

/// The gauges of one environment (no counters or histograms, which accumulate).
fn gauge_lines_of(text: &str, env: &str) -> Vec<String> {
    data_lines_of(text, env)
        .into_iter()
        .filter(|l| {
            let name = l.split('{').next().unwrap_or("");
            !(name.ends_with("_total")
                || name.ends_with("_bucket")
                || name.ends_with("_sum")
                || name.ends_with("_count"))
        })
        .collect()
}

async fn run(name: &str) {
    let f = table()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no fault {name}"));
    check(f).await;
}

macro_rules! fault_tests {
    ($($test:ident => $name:literal,)*) => {
        $(#[tokio::test] async fn $test() { run($name).await; })*

        #[test]
        fn every_fault_of_the_table_has_a_test() {
            let tested = [$($name),*];
            for f in table() {
                assert!(tested.contains(&f.name), "no test runs {:?}", f.name);
            }
        }
    };
}

fault_tests! {
    revoked_key_401_is_auth_and_recovers => "401 after the key was revoked",
    revoked_permission_403_is_auth_and_recovers => "403 after the key lost its permission",
    not_found_404_is_not_found => "404",
    bad_request_400_is_client_error => "400",
    a_429_without_advice_is_retried_then_rate_limited => "429 without retry advice",
    spend_limit_error_code_is_spend_limit => "429 spend limit (error_code)",
    organization_on_hold_error_code_is_its_own_reason => "400 organization on hold (error_code)",
    persistent_429_with_retry_after_ms_is_rate_limited => "429 with retry-after-ms",
    persistent_429_with_retry_after_seconds_is_rate_limited => "429 with retry-after in seconds",
    overloaded_529_is_overloaded => "529",
    server_error_500_is_server_error => "500",
    bad_gateway_502_with_html_is_server_error => "502 from a proxy, HTML body",
    unavailable_503_is_server_error => "503",
    gateway_timeout_504_is_server_error => "504",
    reset_before_an_answer_is_connect => "reset before any answer",
    reset_mid_body_is_connect => "reset mid-body",
    closed_mid_body_is_connect => "closed mid-body",
    hang_is_timeout_within_the_deadline => "accepts and never answers",
    body_stalling_halfway_is_timeout_within_the_deadline => "body stalls halfway",
    truncated_json_is_decode => "truncated JSON",
    wrong_types_are_decode => "wrong types",
    stats_of_the_wrong_type_are_decode => "stats of the wrong type",
    null_depth_is_decode => "depth: null",
    null_data_is_decode => "data: null",
    null_id_is_decode => "id: null",
    html_instead_of_json_is_decode => "not JSON at all",
    body_over_the_cap_is_too_large => "body larger than the cap",
    looping_cursor_is_pagination => "next_page cursor loops",
    empty_pages_repeating_a_cursor_are_pagination => "empty pages repeating a cursor",
    an_empty_cursor_ends_the_list => "the last page ends with an empty cursor",
    an_empty_page_with_a_new_cursor_is_followed => "an empty page with a new cursor, then the rest",
    a_408_is_retried_and_the_refresh_succeeds => "408 once, then fine",
    a_409_is_retried_and_the_refresh_succeeds => "409 once, then fine",
    redirect_is_refused_as_server_error => "redirect to another host",
    a_single_503_is_retried_and_the_refresh_succeeds => "503 once, then fine",
    x_should_retry_true_retries_a_400 => "x-should-retry: true on a 400",
    unknown_extra_fields_are_accepted => "unknown extra fields",
    unknown_states_are_accepted => "unknown states",
    future_timestamps_are_accepted => "timestamps in the future (clock skew)",
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let pair = Pair::start(Options::default()).await;
    pair.set_fault(Some(Fault::new(
        "429 with an HTTP date",
        At::Stats,
        None,
        |_, n| {
            if n == 0 {
                let when = std::time::SystemTime::now() + Duration::from_secs(2);
                error(429, "rate_limit_error")
                    .with_header("retry-after", &httpdate::fmt_http_date(when))
            } else {
                Reply::json(200, crate::pair::healthy_stats(3))
            }
        },
    )));
    assert_eq!(
        pair.refresh_both(Duration::from_secs(5)).await,
        (true, true)
    );
    let stats: Vec<_> = pair
        .up
        .seen()
        .into_iter()
        .filter(|s| s.path.contains(BAD) && s.path.ends_with("/stats"))
        .collect();
    assert_eq!(stats.len(), 2);
    let gap = stats[1].at - stats[0].at;
    // The date has a resolution of one second: now + 2 s waits between 1 and 2 s.
    assert!(
        gap >= Duration::from_millis(950) && gap <= Duration::from_millis(2500),
        "{gap:?}"
    );
}

#[tokio::test]
async fn retry_after_in_seconds_spaces_every_attempt_and_pauses_everyone() {
    let pair = Pair::start(Options::default()).await;
    let f = table()
        .into_iter()
        .find(|f| f.name == "429 with retry-after in seconds")
        .unwrap();
    pair.set_fault(Some(f));
    let (bad, good) = pair.refresh_both(Duration::from_secs(6)).await;
    assert!(!bad && good);
    let seen = pair.up.seen();
    let stats: Vec<_> = seen
        .iter()
        .filter(|s| s.path.contains(BAD) && s.path.ends_with("/stats"))
        .collect();
    assert_eq!(stats.len(), 4, "at most four attempts per request");
    for w in stats.windows(2) {
        assert!(
            w[1].at - w[0].at >= Duration::from_millis(950),
            "retry-after: 1 honoured"
        );
    }
    // The organisation's limit is shared: the healthy environment's requests waited too.
    let first_429 = stats[0].at;
    for s in seen.iter().filter(|s| s.path.contains(GOOD)) {
        assert!(
            s.at < first_429 + Duration::from_millis(50)
                || s.at >= first_429 + Duration::from_millis(950),
            "a request slipped through the pause"
        );
    }
}

#[tokio::test]
async fn connection_refused_takes_every_environment_down_and_both_recover() {
    // A socket bound but not listening refuses connections, and keeps its port
    // from other tests until the API "comes back" by listening on it.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let r = crate::rig::rig(
        &format!("http://{addr}"),
        crate::rig::Options {
            timeout: Duration::from_millis(1200),
            ..Default::default()
        },
    );
    assert!(!r.refresh().await);
    let m = r.scrape();
    assert_eq!(
        crate::rig::value(&m, &crate::rig::series("anthropic_work_up", "")),
        Some(0.0)
    );
    // The API comes back on the same address.
    let _up = Upstream::start_with(socket.listen(64).unwrap(), |seen, _| {
        if seen.path.ends_with("/stats") {
            Reply::json(200, crate::upstream::STATS)
        } else {
            Reply::json(200, page(&[work("w1", "queued", T0, None)], None))
        }
    });
    assert!(r.refresh().await, "recovers without a restart");
    let m = r.scrape();
    assert_eq!(
        crate::rig::value(&m, &crate::rig::series("anthropic_work_up", "")),
        Some(1.0)
    );
    assert_eq!(
        crate::rig::value(
            &m,
            &crate::rig::series(
                "anthropic_work_exporter_refresh_failures_total",
                r#"reason="connect""#
            )
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn clock_skew_never_gives_a_negative_age_or_duration() {
    // Every timestamp the API sends is an hour ahead of the exporter's clock.
    let future = "2026-01-01T01:00:00Z";
    let later = "2026-01-01T01:00:05Z";
    let pair = Pair::start(Options::default()).await;
    let stopped = format!(
        r#"{{"id":"s1","type":"work","state":"stopped","created_at":"{later}","acknowledged_at":"{future}","started_at":"{future}","latest_heartbeat_at":null,"stop_requested_at":"{later}","stopped_at":"{future}","data":{{"id":"x","type":"session"}}}}"#
    );
    let stopping = format!(
        r#"{{"id":"s2","type":"work","state":"stopping","created_at":"{later}","acknowledged_at":"{future}","started_at":"{later}","latest_heartbeat_at":"{later}","stop_requested_at":"{later}","stopped_at":null,"data":{{"id":"y","type":"session"}}}}"#
    );
    let body = page(
        &[
            work("w1", "queued", later, None),
            work("w2", "active", later, Some(later)),
            stopped,
            stopping,
        ],
        None,
    );
    pair.up.set_script(move |seen, _| {
        if seen.path.ends_with("/stats") {
            Reply::json(200, format!(r#"{{"type":"work_queue_stats","depth":1,"pending":0,"oldest_queued_at":"{future}","workers_polling":1}}"#))
        } else {
            Reply::json(200, body.clone())
        }
    });
    assert_eq!(
        pair.refresh_both(Duration::from_secs(2)).await,
        (true, true)
    );
    let m = pair.scrape().await;
    for env in [BAD, GOOD] {
        for name in [
            "anthropic_work_queue_oldest_age_seconds",
            "anthropic_work_heartbeat_oldest_age_seconds",
            "anthropic_work_stopping_oldest_age_seconds",
        ] {
            assert_eq!(
                value(&m, name, env, ""),
                Some(0.0),
                "{name} clamps at 0 for {env}"
            );
        }
        assert_eq!(
            value(&m, "anthropic_work_leases_expired", env, ""),
            Some(0.0)
        );
    }
    for l in m.lines().filter(|l| !l.starts_with('#')) {
        let v: f64 = l.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(v >= 0.0, "negative value: {l}");
    }
    // Durations between two skewed timestamps in the wrong order clamp at 0 too.
    assert_eq!(
        value(&m, "anthropic_work_stop_seconds_sum", BAD, ""),
        Some(0.0)
    );
    assert_eq!(
        value(&m, "anthropic_work_stop_seconds_count", BAD, ""),
        Some(1.0)
    );
    let drill = crate::rig::drilldown_json(&pair.url, BAD).await;
    for key in ["oldest_queued", "oldest_heartbeats", "stuck_stopping"] {
        for item in drill[key].as_array().unwrap() {
            assert!(
                item["age_seconds"].as_f64().unwrap() >= 0.0,
                "{key}: {item}"
            );
        }
    }
    assert_eq!(drill["snapshot"]["queue"]["oldest_age_seconds"], 0.0);
}
