//! Admin endpoints: the ground truth and runtime scenario switches.

use super::{Key, Sim, BETA};
use reqwest::Method;
use serde_json::json;
#[tokio::test]
async fn admin_endpoints_need_the_admin_token() {
    let sim = Sim::start(0).await;
    let url = format!("{}/_sim/state", sim.creds.base_url);
    let resp = sim
        .http
        .get(&url)
        .bearer_auth(&sim.creds.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let (s, state) = sim.admin(Method::GET, "/_sim/state", None).await;
    assert_eq!(s, 200);
    assert_eq!(state["scenario"], "steady");
    assert_eq!(state["lease_ttl_seconds"], 300);
    let envs = state["environments"].as_array().unwrap();
    assert_eq!(envs.len(), 2);
    for key in [
        "id",
        "scenario",
        "counts",
        "healthchecks",
        "oldest_waiting_healthcheck_at",
        "depth",
        "pending",
        "workers_polling",
        "expired_leases",
        "oldest_queued_at",
    ] {
        assert!(envs[0].get(key).is_some(), "{key} in {}", envs[0]);
    }
}

#[tokio::test]
async fn scenarios_switch_at_runtime_and_api_down_fails_only_the_api() {
    let sim = Sim::start(0).await;
    let (s, body) = sim
        .admin(
            Method::POST,
            "/_sim/scenario",
            Some(json!({"scenario": "chaos"})),
        )
        .await;
    assert_eq!(s, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("workers-down"),
        "{body}"
    );
    let one = sim.env(1).to_owned();
    let (s, _) = sim
        .admin(
            Method::POST,
            "/_sim/scenario",
            Some(json!({"scenario": "api-down", "environment": one})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = sim
        .get(&format!("/v1/environments/{one}/work/stats"), Key::Api)
        .await;
    assert!(s.is_server_error(), "{s}");
    let (s, _) = sim
        .get(
            &format!("/v1/environments/{}/work/stats", sim.env(0)),
            Key::Api,
        )
        .await;
    assert_eq!(s, 200, "the other environment is untouched");
    let (_, state) = sim.admin(Method::GET, "/_sim/state", None).await;
    assert_eq!(state["environments"][1]["scenario"], "api-down");
    let (s, _) = sim
        .admin(
            Method::POST,
            "/_sim/scenario",
            Some(json!({"scenario": "api-flaky"})),
        )
        .await;
    assert_eq!(s, 200);
    let mut saw_429 = false;
    for _ in 0..60 {
        let resp = sim
            .http
            .get(format!("{}/v1/environments", sim.creds.base_url))
            .header("anthropic-beta", BETA)
            .header("anthropic-version", "2026-10-21")
            .header("x-api-key", &sim.creds.api_key)
            .timeout(std::time::Duration::from_millis(300))
            .send()
            .await;
        if let Ok(r) = resp {
            if r.status() == 429 {
                assert!(r.headers().get("retry-after").is_some());
                saw_429 = true;
                break;
            }
        }
    }
    assert!(saw_429, "api-flaky answers some requests with 429");
}

#[tokio::test]
async fn a_switch_reshapes_the_workload_with_its_knobs_and_refuses_bad_ones_by_name() {
    let sim = Sim::start(0).await;
    let one = sim.env(1).to_owned();
    let (s, body) = sim
        .admin(
            Method::POST,
            "/_sim/scenario",
            Some(json!({"scenario": "slow-pickups", "environment": one,
                "workers": 7, "arrivals_per_minute": 2.5, "late_one_in": 1})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (_, state) = sim.admin(Method::GET, "/_sim/state", None).await;
    assert_eq!(state["environments"][1]["workers"]["configured"], 7);
    assert_eq!(state["environments"][1]["scenario"], "slow-pickups");
    let other = state["environments"][0]["workers"]["configured"].as_u64();
    assert_ne!(other, Some(7), "the other environment keeps its fleet");
    for (body, field) in [
        (json!({"scenario": "steady", "workers": -1}), "workers"),
        (
            json!({"scenario": "steady", "late_one_in": 3}),
            "late_one_in",
        ),
        (json!({"scenario": "steady", "arrivals": 3}), "\"arrivals\""),
    ] {
        let (s, answer) = sim
            .admin(Method::POST, "/_sim/scenario", Some(body.clone()))
            .await;
        assert_eq!(s, 400, "{body}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{body}: {message}");
    }
}

/// Items listed by the ground truth, every state of both kinds.
fn listed(state: &serde_json::Value) -> u64 {
    state["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["total"].as_u64().unwrap())
        .sum()
}

#[tokio::test]
async fn advance_moves_a_manual_clock_and_the_workload_at_once() {
    let sim = Sim::start_opts(|o| {
        o.clock = work_sim::SimClock::manual();
        o.arrivals_per_minute = 20.0;
    })
    .await;
    let (_, before) = sim.admin(Method::GET, "/_sim/state", None).await;
    assert_eq!(before["clock"], "manual");
    let t0 = work_api::decode::timestamp_ms(before["now"].as_str().unwrap()).unwrap();
    let (_, again) = sim.admin(Method::GET, "/_sim/state", None).await;
    assert_eq!(
        again["now"], before["now"],
        "nothing moves a manual clock but advance"
    );

    let (s, body) = sim
        .admin(Method::POST, "/_sim/advance", Some(json!({"seconds": 600})))
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["advanced_seconds"], 600.0);
    let (_, after) = sim.admin(Method::GET, "/_sim/state", None).await;
    assert_eq!(after["now"], body["now"]);
    let t1 = work_api::decode::timestamp_ms(after["now"].as_str().unwrap()).unwrap();
    assert_eq!(t1 - t0, 600_000, "{before} -> {after}");
    // Ten minutes at 20 arrivals a minute in each of two environments: about 400.
    let (n0, n1) = (listed(&before), listed(&after));
    assert!(n1 >= n0 + 300, "the workload stepped: {n0} -> {n1} items");

    let (s, _) = sim
        .admin(
            Method::POST,
            "/_sim/advance",
            Some(json!({"seconds": 0.25})),
        )
        .await;
    assert_eq!(s, 200, "fractions of a second are fine");
    let resp = sim
        .http
        .post(format!("{}/_sim/advance", sim.creds.base_url))
        .bearer_auth(&sim.creds.api_key)
        .json(&json!({"seconds": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "the admin token only");
}

#[tokio::test]
async fn advance_refuses_a_bad_body_and_names_the_manual_clock_on_wall_time() {
    let sim = Sim::start_opts(|o| o.clock = work_sim::SimClock::manual()).await;
    for bad in [
        json!({}),
        json!({"seconds": -1}),
        json!({"seconds": "60"}),
        json!({"seconds": 86_401}),
    ] {
        let (s, body) = sim
            .admin(Method::POST, "/_sim/advance", Some(bad.clone()))
            .await;
        assert_eq!(s, 400, "{bad}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("\"seconds\"") && message.contains("86400"),
            "{bad}: {message}"
        );
    }

    let wall = Sim::start(0).await;
    let (_, state) = wall.admin(Method::GET, "/_sim/state", None).await;
    assert_eq!(state["clock"], "wall");
    let (s, body) = wall
        .admin(Method::POST, "/_sim/advance", Some(json!({"seconds": 60})))
        .await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["error"]["details"]["error_code"], "wall_clock");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--clock manual"),
        "{body}"
    );
}

#[tokio::test]
async fn simulate_clock_manual_serves_the_clock_that_advance_moves() {
    use clap::Parser;
    use work_exporter::cli::{Cli, Command};
    let parse = |extra: &[&str]| {
        let mut argv = vec!["x", "simulate", "--listen-address", "127.0.0.1:0"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).map(|c| c.command) {
            Ok(Some(Command::Simulate(a))) => Ok(work_exporter::app::simulate::options(&a)),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.to_string()),
        }
    };
    assert!(matches!(
        parse(&[]).unwrap().clock,
        work_sim::SimClock::Wall
    ));
    let err = parse(&["--clock", "virtual"]).unwrap_err();
    assert!(err.contains("wall") && err.contains("manual"), "{err}");

    let shutdown = tokio_util::sync::CancellationToken::new();
    let opts = parse(&["--clock", "manual", "--arrivals-per-minute", "60"]).unwrap();
    let running = work_sim::start(opts, shutdown.clone()).await.unwrap();
    let (base, token) = (
        &running.credentials.base_url,
        &running.credentials.admin_token,
    );
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{base}/_sim/advance"))
        .bearer_auth(token)
        .json(&json!({"seconds": 90}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let now: serde_json::Value = resp.json().await.unwrap();
    let t = work_api::decode::timestamp_ms(now["now"].as_str().unwrap()).unwrap();
    assert_eq!(t, running.now_ms(), "the served clock is the one advanced");
    shutdown.cancel();
}
