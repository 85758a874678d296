//! An outage must not turn into a retry storm: retries are few, spaced by a
//! growing backoff, end at the refresh deadline, and draw from the one
//! process-wide request budget. Requests are counted at the upstream.

use crate::pair::{failures, value, At, Fault, Options, Pair, BAD, GOOD};
use crate::upstream::{Reply, Seen};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use work_exporter::refresh::scheduler;

fn unavailable() -> Reply {
    Reply::error(503, "api_error", "down for maintenance")
}

fn requests_of(pair: &Pair, env: &str) -> Vec<Seen> {
    pair.up
        .seen()
        .into_iter()
        .filter(|s| s.path.contains(&format!("/{env}/")))
        .collect()
}

#[tokio::test]
async fn an_outage_under_the_scheduler_stays_within_four_attempts_per_refresh() {
    let pair = Pair::start(Options::default()).await;
    pair.set_fault(Some(Fault::always(
        "outage",
        At::Stats,
        Some("server_error"),
        unavailable(),
    )));
    let interval = Duration::from_secs(2);
    let refresher = Arc::new(pair.refresher_every(interval, interval));
    let (_tx, rx) = watch::channel(vec![pair.bad.clone(), pair.good.clone()]);
    let token = CancellationToken::new();
    // The refreshes of the first interval and of two more: four attempts fit
    // in one 2 s deadline (waits of 0.25-0.5, 0.5-1 and 1-2 s), so the cap is
    // what holds them. Exporter time (backoff, deadlines) over real sockets:
    // a paused tokio clock would fire the deadlines while requests are on the wire.
    let run_for = Duration::from_millis(4_500);
    let task = tokio::spawn(scheduler::run(refresher, rx, token.clone()));
    tokio::time::sleep(run_for).await;
    token.cancel();
    task.await.unwrap();

    let m = pair.scrape().await;
    let refreshes = failures(&m, BAD, "server_error");
    let attempts = requests_of(&pair, BAD).len() as f64;
    let good = requests_of(&pair, GOOD);
    let good_refreshes = good.iter().filter(|s| s.path.ends_with("/stats")).count();
    let seen = format!("{refreshes} failed refreshes, {attempts} requests; healthy: {good_refreshes} refreshes, {} requests", good.len());
    // First refreshes fall within the first interval, then one per interval.
    let most = (run_for.as_secs_f64() / interval.as_secs_f64()).floor() + 1.0;
    assert!(
        (1.0..=most).contains(&refreshes),
        "at most one refresh per interval: {seen}"
    );
    // A refresh still retrying when the token cancels it has sent its
    // attempts but recorded no failure (seen once on a loaded machine: 2
    // failed refreshes, 9 requests): allow that one unrecorded refresh.
    assert!(
        attempts <= 4.0 * (refreshes + 1.0),
        "at most four attempts per request: {seen}"
    );
    assert!(attempts > refreshes, "server errors are retried: {seen}");
    // The healthy environment kept its pace: one stats call and one list page per refresh, no retries.
    assert_eq!(good.len(), 2 * good_refreshes, "{seen}");
    assert!((1..=most as usize).contains(&good_refreshes), "{seen}");
    assert_eq!(value(&m, "anthropic_work_up", GOOD, ""), Some(1.0));
    assert_eq!(value(&m, "anthropic_work_up", BAD, ""), Some(0.0));
}

#[tokio::test]
async fn retries_back_off_exponentially_with_jitter() {
    let pair = Pair::start(Options::default()).await;
    pair.set_fault(Some(Fault::always(
        "outage",
        At::Stats,
        Some("server_error"),
        unavailable(),
    )));
    let r = pair.refresher(Duration::from_secs(8));
    assert!(!r.refresh_once(&pair.bad).await.ok);
    let at: Vec<Instant> = requests_of(&pair, BAD).iter().map(|s| s.at).collect();
    assert_eq!(at.len(), 4, "four attempts, then the refresh gives up");
    // Waits of 0.5·2ⁿ s with full jitter in [half, whole].
    // (Upper bounds leave room for a loaded machine.)
    let bounds = [(250, 800), (500, 1300), (1000, 2300)];
    for (i, (lo, hi)) in bounds.iter().enumerate() {
        let gap = at[i + 1] - at[i];
        assert!(
            gap >= Duration::from_millis(*lo) && gap <= Duration::from_millis(*hi),
            "wait {} was {gap:?}",
            i + 1
        );
    }
}

#[tokio::test]
async fn a_retry_that_would_end_after_the_deadline_is_not_made() {
    let pair = Pair::start(Options::default()).await;
    // The server asks for 30 s; the refresh has 2 s: give up now rather than sleep past it.
    pair.set_fault(Some(Fault::always(
        "slow down",
        At::Stats,
        Some("server_error"),
        unavailable().with_header("retry-after", "30"),
    )));
    let r = pair.refresher(Duration::from_secs(2));
    let t = Instant::now();
    assert!(!r.refresh_once(&pair.bad).await.ok);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(requests_of(&pair, BAD).len(), 1);

    // Plain backoff against a short deadline: the refresh ends on time.
    pair.set_fault(Some(Fault::always(
        "outage",
        At::Stats,
        Some("server_error"),
        unavailable(),
    )));
    let r = pair.refresher(Duration::from_millis(600));
    let t = Instant::now();
    assert!(!r.refresh_once(&pair.bad).await.ok);
    assert!(
        t.elapsed() < Duration::from_millis(700),
        "{:?}",
        t.elapsed()
    );
    assert!(requests_of(&pair, BAD).len() <= 1 + 2);
}

#[tokio::test]
async fn retries_draw_from_the_process_wide_request_budget() {
    const RATE: f64 = 5.0;
    let pair = Pair::start(Options {
        budget_rps: RATE,
        ..Options::default()
    })
    .await;
    // Every request fails and asks to be retried at once: only the budget holds them back.
    pair.set_fault(Some(Fault::always(
        "outage",
        At::Stats,
        Some("server_error"),
        unavailable().with_header("retry-after-ms", "0"),
    )));
    let envs: Vec<_> = (0..5)
        .map(|i| work_exporter::config::Environment {
            id: format!("{BAD}_{i}"),
            ..pair.bad.clone()
        })
        .collect();
    let deadline = Duration::from_secs(2);
    let r = pair.refresher(deadline);
    let outcomes = futures_util::future::join_all(envs.iter().map(|e| r.refresh_once(e))).await;
    assert!(outcomes.iter().all(|o| !o.ok));

    let mut at: Vec<Instant> = pair.up.seen().iter().map(|s| s.at).collect();
    at.sort();
    // A strict pace of RATE per second, no burst: no window of w seconds holds
    // more than RATE × w + 1 (the one at its start), give or take timer jitter.
    for i in 0..at.len() {
        for j in i..at.len() {
            let window = (at[j] - at[i]).as_secs_f64() + 0.02;
            let n = (j - i + 1) as f64;
            assert!(
                n <= RATE * window + 1.0,
                "{n} requests within {window:.3} s"
            );
        }
    }
    // Waiting for the budget does not count against the deadline, so every
    // refresh makes its four attempts (and no more): all of them were paced.
    assert_eq!(at.len(), 4 * envs.len(), "four attempts per refresh");
}

#[tokio::test]
async fn nearly_spent_rate_limit_headers_hold_every_request_until_the_reset() {
    let pair = Pair::start(Options::default()).await;
    let reset_ms = work_api::clock::Clock::now_ms(&work_api::clock::SystemClock) + 1500;
    let reset = work_api::wire::format_timestamp_ms(reset_ms);
    let fault = Fault::always(
        "nearly spent",
        At::Stats,
        None,
        Reply::json(200, crate::pair::healthy_stats(3))
            .with_header("anthropic-ratelimit-requests-limit", "100")
            .with_header("anthropic-ratelimit-requests-remaining", "2")
            .with_header("anthropic-ratelimit-requests-reset", &reset),
    );
    pair.set_fault(Some(fault));
    let r = pair.refresher(Duration::from_secs(5));
    assert!(r.refresh_once(&pair.bad).await.ok);
    let seen = requests_of(&pair, BAD);
    assert_eq!(seen.len(), 3, "stats and two pages");
    let gap = seen[1].at - seen[0].at;
    assert!(
        gap >= Duration::from_millis(900),
        "the list waited for the window to reset: {gap:?}"
    );
    let m = pair.scrape().await;
    assert!(
        m.contains("anthropic_work_exporter_api_ratelimit_remaining 2"),
        "{m}"
    );
}
