//! A worker's life over HTTP: poll, ack, heartbeat (and the 412), update, stop.

use super::{Key, Sim};
use reqwest::Method;
use serde_json::{json, Value};
use work_api::wire::{HeartbeatResponse, QueueStats, Work, WorkState};
#[tokio::test]
async fn a_worker_claims_heartbeats_and_stops_an_item() {
    let sim = Sim::start(0).await;
    let work = format!("/v1/environments/{}/work", sim.env(0));
    let (s, empty) = sim
        .get(&format!("{work}/poll?block_ms=20"), Key::Env(0))
        .await;
    assert_eq!(
        (s.as_u16(), empty),
        (200, Value::Null),
        "an empty poll is a JSON null"
    );
    // No arrivals in a static simulator: claim from a seeded population instead.
    let sim = Sim::start(20).await;
    let work = format!("/v1/environments/{}/work", sim.env(0));
    let (_, polled) = sim
        .get(
            &format!("{work}/poll?block_ms=10&reclaim_older_than_ms=60000"),
            Key::Env(0),
        )
        .await;
    let item: Work = serde_json::from_value(polled).unwrap();
    assert!(item.secret.is_some(), "poll fills the secret");
    assert_eq!(item.state, WorkState::Queued);
    let (s, acked) = sim
        .call(
            Method::POST,
            &format!("{work}/{}/ack", item.id),
            Key::Env(0),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(acked["state"], "starting");
    assert!(acked["secret"].is_null());
    let hb = |exp: &str, ttl: i64| {
        format!(
            "{work}/{}/heartbeat?expected_last_heartbeat={exp}&desired_ttl_seconds={ttl}",
            item.id
        )
    };
    let (s, first) = sim
        .call(Method::POST, &hb("NO_HEARTBEAT", 1), Key::Env(0), None)
        .await;
    assert_eq!(s, 200, "{first}");
    let first: HeartbeatResponse = serde_json::from_value(first).unwrap();
    assert_eq!(
        (first.state, first.lease_extended, first.ttl_seconds),
        (WorkState::Active, true, 10)
    );
    let (s, err) = sim
        .call(Method::POST, &hb("NO_HEARTBEAT", 30), Key::Env(0), None)
        .await;
    assert_eq!(s, 412);
    assert_eq!(
        err["error"]["details"]["error_code"],
        "heartbeat_precondition_failed"
    );
    // A type the SDK's `ErrorType` has; the cause is the error_code.
    assert_eq!(err["error"]["type"], "invalid_request_error");
    assert_eq!(err["error"]["details"]["current_state"]["state"], "active");
    assert_eq!(
        err["error"]["details"]["current_state"]["last_heartbeat"],
        first.last_heartbeat.as_str()
    );
    let encoded: String =
        url::form_urlencoded::byte_serialize(first.last_heartbeat.as_bytes()).collect();
    let (s, _) = sim
        .call(Method::POST, &hb(&encoded, 30), Key::Env(0), None)
        .await;
    assert_eq!(s, 200);
    let meta = json!({"metadata": {"team": "sre", "gone": null}});
    let (s, updated) = sim
        .call(
            Method::POST,
            &format!("{work}/{}", item.id),
            Key::Api,
            Some(meta),
        )
        .await;
    assert_eq!(
        (s.as_u16(), &updated["metadata"]),
        (200, &json!({"team": "sre"}))
    );
    let (s, stopping) = sim
        .call(
            Method::POST,
            &format!("{work}/{}/stop", item.id),
            Key::Env(0),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), stopping["state"].as_str()),
        (200, Some("stopping"))
    );
    let force = Some(json!({"force": true}));
    let (s, stopped) = sim
        .call(
            Method::POST,
            &format!("{work}/{}/stop", item.id),
            Key::Env(0),
            force.clone(),
        )
        .await;
    assert_eq!(
        (s.as_u16(), stopped["state"].as_str()),
        (200, Some("stopped"))
    );
    let (s, body) = sim
        .call(
            Method::POST,
            &format!("{work}/{}/stop", item.id),
            Key::Env(0),
            force,
        )
        .await;
    assert_eq!(
        (s.as_u16(), body["error"]["type"].as_str()),
        (409, Some("conflict_error"))
    );
    let (_, stats) = sim.get(&format!("{work}/stats"), Key::Api).await;
    let stats: QueueStats = serde_json::from_value(stats).unwrap();
    assert_eq!(stats.kind, "work_queue_stats");
    assert_eq!(
        stats.workers_polling,
        Some(0),
        "this poll sent no worker id"
    );
}

#[tokio::test]
async fn stop_takes_the_api_key_in_either_form_and_the_environment_key() {
    let sim = Sim::start(40).await;
    let work = format!("/v1/environments/{}/work", sim.env(0));
    let (_, page) = sim.get(&format!("{work}?limit=1000"), Key::Env(0)).await;
    let live: Vec<String> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| matches!(w["state"].as_str(), Some("queued" | "starting" | "active")))
        .map(|w| w["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(live.len() >= 3, "{page}");
    let force = || Some(json!({"force": true}));
    for (id, key) in live.iter().zip([Key::Api, Key::ApiAsBearer, Key::Env(0)]) {
        let (s, body) = sim
            .call(Method::POST, &format!("{work}/{id}/stop"), key, force())
            .await;
        assert_eq!(
            (s.as_u16(), body["state"].as_str()),
            (200, Some("stopped")),
            "{body}"
        );
    }
    let (s, _) = sim
        .call(
            Method::POST,
            &format!("{work}/{}/stop", live[0]),
            Key::Env(1),
            force(),
        )
        .await;
    assert_eq!(s, 403, "another environment's key is refused");
}
