//! Multi-target mode: `/probe?environment=ID` refreshes one watched
//! environment on demand and returns only its series, within the scrape
//! timeout Prometheus announces; an unknown id is refused without a single
//! request to the API.

use crate::ground_truth::{options, stack};
use crate::rig::{environment, API_KEY};
use crate::upstream::{page, work, Reply, Upstream, STATS};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

async fn probe(base: &str, query: &str, timeout: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(format!("{base}/probe{query}"));
    if let Some(t) = timeout {
        req = req.header("X-Prometheus-Scrape-Timeout-Seconds", t);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The samples (not comments) of an exposition.
fn samples(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with('#')).collect()
}

fn api_requests(m: &str) -> f64 {
    m.lines()
        .filter(|l| l.starts_with("anthropic_work_exporter_api_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// An exporter with `--probe.only` watching `env_mock` on a scripted upstream.
async fn probe_only_exporter(upstream: &Upstream) -> (String, CancellationToken) {
    let cfg = crate::exporter::given(
        &["--api.base-url", &upstream.base_url, "--probe.only"],
        API_KEY,
        vec![environment("env_mock")],
    );
    let token = CancellationToken::new();
    let url = crate::exporter::start(cfg, None, &token).await;
    (url, token)
}

fn healthy(seen: &crate::upstream::Seen, _: usize) -> Reply {
    if seen.path.ends_with("/stats") {
        Reply::json(200, STATS)
    } else {
        Reply::json(
            200,
            page(&[work("w1", "queued", "2026-01-01T00:00:00Z", None)], None),
        )
    }
}

#[tokio::test]
async fn a_probe_returns_only_that_environments_series_with_the_simulators_numbers() {
    let s = stack(options(3, 30, 0, 0.0, "steady"), &["--probe.only"]).await;
    let base = s.metrics_url.trim_end_matches("/metrics").to_string();
    // Nothing refreshes by itself: ready at once, and /metrics has only the exporter's own series.
    assert_eq!(
        reqwest::get(format!("{base}/-/ready"))
            .await
            .unwrap()
            .status(),
        200
    );
    let own = s.scrape().await;
    assert!(!own.contains("environment_id="), "{own}");
    assert!(own.contains("anthropic_work_exporter_build_info"));

    let id = s.creds.environments[1].id.clone();
    let (status, text) = probe(&base, &format!("?environment={id}"), Some("10")).await;
    assert_eq!(status, 200, "{text}");
    let want = format!("environment_id=\"{id}\"");
    // Every sample is that environment's, but build_info: the rules read it
    // per target to tell the exporter from something else (ExporterAbsent).
    assert!(
        samples(&text)
            .iter()
            .all(|l| l.contains(&want) || l.starts_with("anthropic_work_exporter_build_info{")),
        "{text}"
    );
    assert!(
        text.contains("anthropic_work_exporter_build_info{version=\""),
        "{text}"
    );
    assert_eq!(
        crate::ground_truth::value(&text, "anthropic_work_up", &id, ""),
        Some(1.0)
    );
    assert!(crate::ground_truth::value(
        &text,
        "anthropic_work_exporter_probe_duration_seconds",
        &id,
        ""
    )
    .is_some());
    let truth = s.truth().await;
    let env = truth["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id.as_str())
        .unwrap()
        .clone();
    for state in ["queued", "starting", "active", "stopping", "stopped"] {
        assert_eq!(
            crate::ground_truth::value(
                &text,
                "anthropic_work_items",
                &id,
                &format!("state=\"{state}\"")
            ),
            Some(env["counts"][state].as_f64().unwrap_or(0.0)),
            "{state}"
        );
    }
}

#[tokio::test]
async fn an_unknown_environment_is_refused_without_calling_the_api() {
    let upstream = Upstream::start(healthy).await;
    let (base, _stop) = probe_only_exporter(&upstream).await;
    let (status, text) = probe(&base, "?environment=env_not_configured", None).await;
    assert_eq!(status, 404);
    assert!(text.contains("not watched by this exporter"), "{text}");
    let (status, text) = probe(&base, "", None).await;
    assert_eq!(status, 400);
    assert!(text.contains("?environment=ID"), "{text}");
    // Not one request: no key went anywhere.
    assert_eq!(upstream.seen().len(), 0);

    // The configured one works, and its key went only to its own endpoints.
    let (status, text) = probe(&base, "?environment=env_mock", None).await;
    assert_eq!(status, 200, "{text}");
    assert!(upstream
        .seen()
        .iter()
        .all(|s| s.path.starts_with("/v1/environments/env_mock/")));
}

#[tokio::test]
async fn a_probe_ends_before_the_scrape_timeout_when_the_api_hangs() {
    let upstream = Upstream::start(|_: &crate::upstream::Seen, _| Reply::Hang).await;
    let (base, _stop) = probe_only_exporter(&upstream).await;
    let t0 = Instant::now();
    let (status, text) = probe(&base, "?environment=env_mock", Some("1.5")).await;
    let took = t0.elapsed();
    assert_eq!(status, 200, "{text}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    assert!(
        took >= Duration::from_millis(1000),
        "gave up early: {took:?}"
    );
    let e = crate::rig::E;
    assert!(
        text.contains(&format!("anthropic_work_up{{{e}}} 0")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "anthropic_work_exporter_refresh_failures_total{{{e},reason=\"timeout\"}} 1"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn probes_close_together_share_one_refresh() {
    let upstream = Upstream::start(healthy).await;
    let (base, _stop) = probe_only_exporter(&upstream).await;
    let (a, b) = tokio::join!(
        probe(&base, "?environment=env_mock", None),
        probe(&base, "?environment=env_mock", None)
    );
    assert_eq!((a.0, b.0), (200, 200));
    let (c, _) = probe(&base, "?environment=env_mock", None).await;
    assert_eq!(c, 200);
    // Three probes within the reuse window: one stats call, one list walk.
    assert_eq!(upstream.count("/stats"), 1);
    assert_eq!(upstream.count("/work"), 1);
    let m = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        api_requests(&m),
        2.0,
        "probes are counted with every other request"
    );
}

#[tokio::test]
async fn probes_and_background_refreshes_coexist_without_the_probe_only_flag() {
    let s = stack(options(2, 10, 0, 0.0, "steady"), &[]).await;
    let base = s.metrics_url.trim_end_matches("/metrics").to_string();
    let id = s.creds.environments[0].id.clone();
    let other = s.creds.environments[1].id.clone();
    let (status, text) = probe(&base, &format!("?environment={id}"), None).await;
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains(&other), "{text}");
    assert_eq!(
        crate::ground_truth::value(&text, "anthropic_work_up", &id, ""),
        Some(1.0)
    );
}
