//! Healthcheck items flowing through the simulator and the exporter: session
//! figures equal the simulator's session ground truth exactly, healthcheck
//! counts its healthcheck ground truth, and when the workers stop the
//! platform's probes wait, visibly.

use crate::ground_truth::{options, stack, value};
use std::time::Duration;
use work_api::decode::timestamp_ms;
use work_sim::{SimOptions, WorkerSdk};

const STATES: [&str; 5] = ["queued", "starting", "active", "stopping", "stopped"];

/// Where the exporter's numbers differ from the simulator's ground truth
/// for environment `id`: each state of sessions and of healthchecks, and the
/// expired leases.
fn differences(m: &str, id: &str, truth: &serde_json::Value) -> Result<(), String> {
    let mut wrong = Vec::new();
    for state in STATES {
        let label = format!("state=\"{state}\"");
        let sessions = value(m, "anthropic_work_items", id, &label);
        if sessions != truth["counts"][state].as_f64() {
            wrong.push(format!("sessions {state}: {sessions:?}"));
        }
        // `active` and `stopping` are written only while above 0 (never, for
        // healthchecks the official way): absent reads as 0 there.
        let shown = value(m, "anthropic_work_healthcheck_items", id, &label);
        let shown = match state {
            "active" | "stopping" => Some(shown.unwrap_or(0.0)),
            _ => shown,
        };
        if shown != truth["healthchecks"][state].as_f64() {
            wrong.push(format!("healthchecks {state}: {shown:?}"));
        }
    }
    let expired = value(m, "anthropic_work_leases_expired", id, "");
    if expired != truth["expired_leases"].as_f64() {
        wrong.push(format!("expired leases (sessions' only): {expired:?}"));
    }
    let stale = value(m, "anthropic_work_heartbeats_stale", id, "");
    if stale != truth["stale_heartbeats"].as_f64() {
        wrong.push(format!("stale heartbeats (sessions' only): {stale:?}"));
    }
    match wrong.is_empty() {
        true => Ok(()),
        false => Err(format!("{} differ from {truth}", wrong.join(", "))),
    }
}

#[tokio::test]
async fn with_healthchecks_flowing_session_and_healthcheck_counts_each_equal_the_ground_truth() {
    counts_equal_the_ground_truth(WorkerSdk::V2_16).await;
}

#[tokio::test]
async fn with_2_14_workers_healthchecks_skip_active_and_the_counts_equal_the_ground_truth() {
    counts_equal_the_ground_truth(WorkerSdk::V2_14).await;
}

#[tokio::test]
async fn in_a_fleet_mixing_2_14_and_2_16_workers_the_counts_equal_the_ground_truth() {
    counts_equal_the_ground_truth(WorkerSdk::Mixed).await;
}

/// Healthchecks and sessions through the hands of `sdk` workers, then the
/// exporter's figures against the simulator's, exactly.
async fn counts_equal_the_ground_truth(sdk: WorkerSdk) {
    let opts = SimOptions {
        healthcheck_interval: Duration::from_secs(5),
        worker_sdk: sdk,
        ..options(1, 0, 2, 6.0, "steady")
    };
    let s = stack(opts, &[]).await;
    let id = s.creds.environments[0].id.clone();
    // Let healthchecks go through the workers' hands, beside sessions: five
    // simulated seconds at a time, for at most two simulated minutes.
    let flowing = |t: &serde_json::Value| {
        let env = &t["environments"][0];
        let sessions: u64 = STATES
            .iter()
            .filter_map(|s| env["counts"][*s].as_u64())
            .sum();
        env["healthchecks"]["stopped"].as_u64() >= Some(2) && sessions >= 1
    };
    let mut truth = s.truth().await;
    for _ in 0..24 {
        if flowing(&truth) {
            break;
        }
        s.advance(5);
        truth = s.truth().await;
    }
    assert!(flowing(&truth), "no healthcheck was handled: {truth}");

    // The simulator holds still now: the exporter must show exactly its numbers.
    let m = s
        .settle("the ground truth", |m| {
            differences(m, &id, &truth["environments"][0])
        })
        .await;
    assert_eq!(truth, s.truth().await, "the simulator held still");
    let truth = truth["environments"][0].clone();
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
        worker_sdk: Default::default(),
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
    // A healthcheck every 2 s, each taken within an idle worker's 1-3 s poll sleep.
    s.advance(10);
    let truth = s.truth().await;
    let handled = truth["environments"][0]["healthchecks"]["stopped"].as_f64();
    assert!(handled >= Some(1.0), "{truth}");
    s.wait_for("the healthchecks handled", |m| {
        value(
            m,
            "anthropic_work_healthcheck_items",
            &id,
            "state=\"stopped\"",
        ) == handled
    })
    .await;
    // Steady: an idle worker takes each one within its 1-3 s poll sleep (a
    // claim "crashed" before its ack is reclaimed after 5 s).
    assert!(age(&s.scrape().await) < Some(10.0));

    s.switch("workers-down").await;
    s.advance(7);
    let truth = s.truth().await;
    let env = &truth["environments"][0];
    let oldest = env["oldest_waiting_healthcheck_at"]
        .as_str()
        .and_then(timestamp_ms)
        .expect("the simulator has a waiting healthcheck");
    // The exporter reads the simulator's clock: the same age, to the millisecond.
    let want = (s.sim.now_ms() - oldest) as f64 / 1000.0;
    assert!(want > 4.0, "a healthcheck waits over 4 s: {env}");
    s.wait_for("the simulator's oldest healthcheck age", |m| {
        age(m).is_some_and(|got| (got - want).abs() < 0.0005)
    })
    .await;
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
