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
    assert_eq!(state["lease_ttl_seconds"], 90);
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
