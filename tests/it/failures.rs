//! Every failure class against a scripted upstream, each with its reason, and
//! the retry rules (what is retried as the SDK does, what never is).

use crate::refresh::{list_fails, T0};
use crate::rig::{rig, series, value, Options};
use crate::upstream::{page, work, Reply, Upstream, STATS};
use std::time::Duration;

async fn assert_fails_with(reply: Reply, reason: &str, o: Options) -> Upstream {
    let up = Upstream::start(list_fails(reply)).await;
    let r = rig(&up.base_url, o);
    assert!(!r.refresh().await, "refresh must fail with {reason}");
    let m = r.scrape();
    assert_eq!(
        value(&m, &series("anthropic_work_up", "")),
        Some(0.0),
        "{reason}"
    );
    assert_eq!(
        value(
            &m,
            &series(
                "anthropic_work_exporter_refresh_failures_total",
                &format!(r#"reason="{reason}""#)
            )
        ),
        Some(1.0),
        "{reason}\n{m}"
    );
    assert!(
        value(&m, &series("anthropic_work_queue_depth", "")).is_none(),
        "no half-counted numbers after a failed first refresh"
    );
    up
}

#[tokio::test]
async fn every_failure_class_is_reported_with_its_reason() {
    let quick = || Options {
        timeout: Duration::from_millis(1500),
        ..Options::default()
    };
    assert_fails_with(
        Reply::error(401, "authentication_error", "invalid x"),
        "auth",
        quick(),
    )
    .await;
    assert_fails_with(Reply::error(403, "permission_error", "no"), "auth", quick()).await;
    assert_fails_with(
        Reply::error(404, "not_found_error", "no env"),
        "not_found",
        quick(),
    )
    .await;
    assert_fails_with(
        Reply::error(529, "overloaded_error", "busy"),
        "overloaded",
        quick(),
    )
    .await;
    assert_fails_with(
        Reply::error(503, "api_error", "down"),
        "server_error",
        quick(),
    )
    .await;
    assert_fails_with(
        Reply::error(400, "invalid_request_error", "bad"),
        "client_error",
        quick(),
    )
    .await;
    assert_fails_with(
        Reply::json(200, r#"{"data":[{"id":"w1","sta"#),
        "decode",
        quick(),
    )
    .await;
    assert_fails_with(
        Reply::json(
            200,
            r#"{"data":[{"id":7,"state":"queued"}],"next_page":null}"#,
        ),
        "decode",
        quick(),
    )
    .await;
    assert_fails_with(
        Reply::json(200, page(&[work("w1", "queued", T0, None)], Some("same"))),
        "pagination",
        quick(),
    )
    .await;
    // Empty pages are followed (the SDK's rule), but one that keeps sending
    // the same cursor back is a loop.
    assert_fails_with(
        Reply::json(200, page(&[], Some("more"))),
        "pagination",
        quick(),
    )
    .await;
    assert_fails_with(
        Reply::json(200, page(&vec![work("w1", "queued", T0, None); 50], None)),
        "too_large",
        Options {
            max_body: 4096,
            ..quick()
        },
    )
    .await;
    assert_fails_with(
        Reply::Hang,
        "timeout",
        Options {
            timeout: Duration::from_millis(300),
            ..quick()
        },
    )
    .await;
    // The body stops halfway: content-length promises more than arrives.
    let cut = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n{\"data\":[".to_vec();
    assert_fails_with(Reply::Raw(cut), "connect", quick()).await;
}

/// The list answers `first` once, then a one-item last page.
fn list_fails_once(first: Reply) -> impl Fn(&crate::upstream::Seen, usize) -> Reply + Send + Sync {
    let failed = std::sync::atomic::AtomicBool::new(false);
    move |seen, _| {
        if seen.path.ends_with("/work/stats") {
            Reply::json(200, STATS)
        } else if !failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            first.clone()
        } else {
            Reply::json(200, page(&[work("w1", "queued", T0, None)], Some("")))
        }
    }
}

#[tokio::test]
async fn a_429_without_retry_advice_is_retried_as_the_sdk_does() {
    // No spend-cap guess any more: the error code says when it is one.
    let up = Upstream::start(list_fails_once(Reply::error(
        429,
        "rate_limit_error",
        "slow",
    )))
    .await;
    let r = rig(&up.base_url, Options::default());
    assert!(r.refresh().await);
    assert_eq!(up.count("/work"), 2);
}

#[tokio::test]
async fn request_timeout_408_and_lock_timeout_409_are_retried_as_the_sdk_does() {
    for (status, kind) in [(408, "timeout_error"), (409, "conflict_error")] {
        let up = Upstream::start(list_fails_once(Reply::error(status, kind, "again"))).await;
        let r = rig(&up.base_url, Options::default());
        assert!(r.refresh().await, "{status}");
        assert_eq!(up.count("/work"), 2, "{status}");
    }
}

#[tokio::test]
async fn a_spend_limit_is_its_own_reason_and_never_retried_whatever_the_headers_say() {
    for (status, kind, code) in [
        (429, "rate_limit_error", "enforced_spend_limit_reached"),
        (429, "rate_limit_error", "contract_spend_limit_reached"),
        (
            402,
            "billing_error",
            "linked_organization_spend_limit_reached",
        ),
    ] {
        let reply = Reply::error_code(status, kind, code, "limit reached")
            .with_header("retry-after-ms", "10")
            .with_header("x-should-retry", "true");
        let up = assert_fails_with(reply, "spend_limit", Options::default()).await;
        assert_eq!(up.count("/work"), 1, "{code}");
    }
}

#[tokio::test]
async fn an_organization_on_hold_is_its_own_reason_and_never_retried() {
    let reply = Reply::error_code(
        400,
        "invalid_request_error",
        "organization_on_hold",
        "on hold",
    )
    .with_header("x-should-retry", "true");
    let up = assert_fails_with(reply, "organization_on_hold", Options::default()).await;
    assert_eq!(up.count("/work"), 1);
}

#[tokio::test]
async fn other_error_codes_keep_the_reason_of_their_status() {
    assert_fails_with(
        Reply::error_code(404, "not_found_error", "environment_not_found", "gone"),
        "not_found",
        Options::default(),
    )
    .await;
    let up = assert_fails_with(
        Reply::error_code(
            400,
            "invalid_request_error",
            "environment_archived",
            "archived",
        ),
        "client_error",
        Options::default(),
    )
    .await;
    assert_eq!(up.count("/work"), 1);
}

#[tokio::test]
async fn auth_and_not_found_are_never_retried() {
    let up = assert_fails_with(
        Reply::error(401, "authentication_error", "x"),
        "auth",
        Options::default(),
    )
    .await;
    assert_eq!(up.count("/work"), 1);
    let up = assert_fails_with(
        Reply::error(404, "not_found_error", "x"),
        "not_found",
        Options::default(),
    )
    .await;
    assert_eq!(up.count("/work"), 1);
}

#[tokio::test]
async fn retry_after_ms_is_honoured_and_the_retry_succeeds() {
    let up = Upstream::start(|seen, n| {
        if seen.path.ends_with("/work/stats") {
            Reply::json(200, STATS)
        } else if n == 1 {
            Reply::error(429, "rate_limit_error", "slow down").with_header("retry-after-ms", "120")
        } else {
            Reply::json(200, page(&[work("w1", "queued", T0, None)], None))
        }
    })
    .await;
    let r = rig(&up.base_url, Options::default());
    let t = std::time::Instant::now();
    assert!(r.refresh().await);
    assert!(t.elapsed() >= Duration::from_millis(120));
    assert_eq!(up.count("/work"), 2);
    let m = r.scrape();
    assert_eq!(
        value(
            &m,
            r#"anthropic_work_exporter_api_requests_total{code="429",endpoint="list_work"}"#
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        value(
            &m,
            r#"anthropic_work_exporter_api_requests_total{code="200",endpoint="list_work"}"#
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn x_should_retry_false_stops_retries_of_a_server_error() {
    let up = assert_fails_with(
        Reply::error(500, "api_error", "x").with_header("x-should-retry", "false"),
        "server_error",
        Options::default(),
    )
    .await;
    assert_eq!(up.count("/work"), 1);
}
