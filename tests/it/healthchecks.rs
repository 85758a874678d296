//! Healthcheck items flowing through the simulator and the exporter: session
//! figures equal the simulator's session ground truth exactly, healthcheck
//! counts its healthcheck ground truth, and when the workers stop the
//! platform's probes wait, visibly.

use crate::ground_truth::{options, stack, value, Stack};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use work_api::decode::timestamp_ms;
use work_sim::SimOptions;

const STATES: [&str; 5] = ["queued", "starting", "active", "stopping", "stopped"];

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A scrape and the ground truth, taken when the simulator held still from
/// before the scrape's refresh began until after the scrape; `None` when it
/// moved (try again).
async fn still_scrape(s: &Stack, id: &str) -> Option<(String, serde_json::Value)> {
    let before_ms = now_ms();
    let before = s.truth().await;
    // The exporter refreshes every second: wait for a refresh that starts after `before`.
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let m = s.scrape().await;
    let after = s.truth().await;
    let refreshed_ms = value(
        &m,
        "anthropic_work_exporter_last_success_timestamp_seconds",
        id,
        "",
    )? * 1000.0;
    // A refresh of this small list takes milliseconds; 300 ms is a wide margin.
    if before["environments"] != after["environments"] || (refreshed_ms as i64) < before_ms + 300 {
        return None;
    }
    Some((m, after["environments"][0].clone()))
}

#[tokio::test]
async fn with_healthchecks_flowing_session_and_healthcheck_counts_each_equal_the_ground_truth() {
    let opts = SimOptions {
        healthcheck_interval: Duration::from_secs(5),
        ..options(1, 0, 2, 6.0, "steady")
    };
    let s = stack(opts, &[]).await;
    let id = s.creds.environments[0].id.clone();
    // Let healthchecks go through the workers' hands, beside sessions.
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    let flowing = |t: &serde_json::Value| {
        let env = &t["environments"][0];
        let sessions: u64 = STATES
            .iter()
            .filter_map(|s| env["counts"][*s].as_u64())
            .sum();
        env["healthchecks"]["stopped"].as_u64() >= Some(2) && sessions >= 1
    };
    while !flowing(&s.truth().await) {
        assert!(
            std::time::Instant::now() < deadline,
            "no healthcheck was handled: {}",
            s.truth().await
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let mut compared = None;
    for _ in 0..40 {
        if let Some(c) = still_scrape(&s, &id).await {
            compared = Some(c);
            break;
        }
    }
    let (m, truth) = compared.expect("the simulator never held still over a refresh");
    for state in STATES {
        let label = format!("state=\"{state}\"");
        assert_eq!(
            value(&m, "anthropic_work_items", &id, &label),
            truth["counts"][state].as_f64(),
            "sessions {state}: {truth}"
        );
        // `active` and `stopping` are written only while above 0 (never, for
        // healthchecks the official way): absent reads as 0 there.
        let shown = value(&m, "anthropic_work_healthcheck_items", &id, &label);
        let shown = match state {
            "active" | "stopping" => Some(shown.unwrap_or(0.0)),
            _ => shown,
        };
        assert_eq!(
            shown,
            truth["healthchecks"][state].as_f64(),
            "healthchecks {state}: {truth}"
        );
    }
    assert_eq!(
        value(&m, "anthropic_work_leases_expired", &id, ""),
        truth["expired_leases"].as_f64(),
        "expired leases are sessions' only: {truth}"
    );
    assert_eq!(
        value(
            &m,
            "anthropic_work_items_unrecognized",
            &id,
            "kind=\"data_type\""
        ),
        Some(0.0),
        "healthcheck is a known type"
    );
    let listed: f64 = STATES
        .iter()
        .map(|st| {
            truth["counts"][*st].as_f64().unwrap_or(0.0)
                + truth["healthchecks"][*st].as_f64().unwrap_or(0.0)
        })
        .sum();
    assert_eq!(Some(listed), truth["total"].as_f64(), "{truth}");
    assert!(truth["healthchecks"]["stopped"].as_f64() >= Some(2.0));
}

#[tokio::test]
async fn when_the_workers_stop_healthchecks_wait_and_the_age_and_drilldown_show_it() {
    let opts = SimOptions {
        healthcheck_interval: Duration::from_secs(2),
        ..options(1, 0, 2, 6.0, "steady")
    };
    let s = stack(opts, &[]).await;
    let id = s.creds.environments[0].id.clone();
    let age = |m: &str| {
        value(
            m,
            "anthropic_work_healthcheck_waiting_oldest_age_seconds",
            &id,
            "",
        )
    };
    s.wait_for(Duration::from_secs(30), "a healthcheck handled", |m| {
        value(
            m,
            "anthropic_work_healthcheck_items",
            &id,
            "state=\"stopped\"",
        ) >= Some(1.0)
    })
    .await;
    // Steady: an idle worker takes each one within its 1-3 s poll sleep (a
    // claim "crashed" before its ack is reclaimed after 5 s).
    assert!(age(&s.scrape().await) < Some(10.0));

    s.switch("workers-down").await;
    let m = s
        .wait_for(Duration::from_secs(30), "a healthcheck waiting 4 s", |m| {
            age(m) > Some(4.0)
        })
        .await;
    let truth = s.truth().await;
    let env = &truth["environments"][0];
    let oldest = env["oldest_waiting_healthcheck_at"]
        .as_str()
        .and_then(timestamp_ms)
        .expect("the simulator has a waiting healthcheck");
    let want = (now_ms() - oldest) as f64 / 1000.0;
    let got = age(&m).unwrap_or(0.0);
    // The scrape came before the truth: its age is at most a little younger.
    assert!(
        got <= want + 0.5 && got >= want - 3.0,
        "exporter {got} s, simulator {want} s"
    );
    assert!(env["healthchecks"]["queued"].as_u64() >= Some(2), "{env}");

    let base = s.metrics_url.trim_end_matches("/metrics");
    let drill = crate::rig::drilldown_json(base, &id).await;
    let waiting = drill["waiting_healthchecks"].as_array().unwrap();
    assert!(!waiting.is_empty(), "{drill}");
    assert!(waiting
        .iter()
        .all(|i| i["state"] == "queued" && i["session_id"] == ""));
    assert!(
        drill["snapshot"]["healthcheck_items"]["queued"].as_u64() >= Some(1),
        "{drill}"
    );
    assert!(
        drill["oldest_queued"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["session_id"]
                .as_str()
                .is_some_and(|s| s.starts_with("session_"))),
        "the sessions' list holds sessions only: {drill}"
    );
    let html = reqwest::get(format!("{base}/environments/{id}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Waiting healthchecks"), "{html}");
    assert!(
        html.contains(waiting[0]["work_id"].as_str().unwrap()),
        "{html}"
    );
}
