//! The poll `secret` as SDK 2.16+ reads it: URL-safe base64 of a JSON object
//! whose `sessions_token` is the bearer of that item's heartbeat and stop,
//! and of nothing else.

use super::{Key, Sim};
use base64::Engine;
use reqwest::Method;
use serde_json::Value;
use work_api::wire::Work;

/// `sessions_token_from_secret` (SDK 2.17 `_poller.py`): pad, decode, read.
fn sessions_token(secret: &str) -> String {
    let padded = format!("{secret}{}", "=".repeat((4 - secret.len() % 4) % 4));
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(padded)
        .expect("URL-safe base64");
    let json: Value = serde_json::from_slice(&raw).expect("a JSON object");
    json["sessions_token"]
        .as_str()
        .expect("sessions_token")
        .to_owned()
}

async fn claim(sim: &Sim, work: &str) -> Work {
    let (_, polled) = sim
        .get(
            &format!("{work}/poll?block_ms=10&reclaim_older_than_ms=60000"),
            Key::Env(0),
        )
        .await;
    let item: Work = serde_json::from_value(polled).unwrap();
    let ack = format!("{work}/{}/ack", item.id);
    let (s, _) = sim.call(Method::POST, &ack, Key::Env(0), None).await;
    assert_eq!(s, 200);
    item
}

#[tokio::test]
async fn a_sessions_token_authorizes_its_own_items_heartbeat_and_stop_only() {
    let sim = Sim::start(20).await;
    let work = format!("/v1/environments/{}/work", sim.env(0));
    let mine = claim(&sim, &work).await;
    let other = claim(&sim, &work).await;
    let token = sessions_token(mine.secret.as_deref().expect("poll fills the secret"));
    let bearer = format!("Bearer {token}");
    let hb = |id: &str| format!("{work}/{id}/heartbeat?expected_last_heartbeat=NO_HEARTBEAT");

    let (s, body) = sim
        .call(Method::POST, &hb(&mine.id), Key::Raw(&bearer), None)
        .await;
    assert_eq!(s, 200, "its own heartbeat: {body}");
    assert_eq!(
        (
            body["lease_extended"].as_bool(),
            body["ttl_seconds"].as_i64()
        ),
        (Some(true), Some(300)),
        "the API's default TTL: {body}"
    );
    for (method, path) in [
        (Method::POST, hb(&other.id)),
        (Method::POST, format!("{work}/{}/stop", other.id)),
        (Method::POST, format!("{work}/{}/ack", mine.id)),
        (Method::GET, format!("{work}/{}", mine.id)),
        (Method::GET, format!("{work}?limit=5")),
        (Method::GET, format!("{work}/poll?block_ms=1")),
        (
            Method::GET,
            format!("/v1/environments/{}/work/stats", sim.env(1)),
        ),
        (Method::GET, "/v1/environments".to_owned()),
    ] {
        let (s, body) = sim
            .call(method.clone(), &path, Key::Raw(&bearer), None)
            .await;
        assert_eq!(s, 401, "{method} {path}: {body}");
    }
    let (s, stopped) = sim
        .call(
            Method::POST,
            &format!("{work}/{}/stop", mine.id),
            Key::Raw(&bearer),
            Some(serde_json::json!({"force": true})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), stopped["state"].as_str()),
        (200, Some("stopped"))
    );
    let forged = bearer.replacen("sim-0-", "sim-1-", 1);
    let (s, _) = sim
        .call(Method::POST, &hb(&other.id), Key::Raw(&forged), None)
        .await;
    assert_eq!(s, 401, "a token altered to name another environment");
}

#[tokio::test]
async fn a_requested_stop_answers_lease_extended_false() {
    let sim = Sim::start(20).await;
    let work = format!("/v1/environments/{}/work", sim.env(0));
    let item = claim(&sim, &work).await;
    let hb = format!(
        "{work}/{}/heartbeat?expected_last_heartbeat=NO_HEARTBEAT",
        item.id
    );
    let (s, _) = sim.call(Method::POST, &hb, Key::Env(0), None).await;
    assert_eq!(s, 200);
    let stop = format!("{work}/{}/stop", item.id);
    let (s, body) = sim
        .call(Method::POST, &stop, Key::Api, Some(serde_json::json!({})))
        .await;
    assert_eq!(
        (s.as_u16(), body["state"].as_str()),
        (200, Some("stopping"))
    );
    let again = format!("{work}/{}/heartbeat", item.id);
    let (s, body) = sim.call(Method::POST, &again, Key::Env(0), None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        (body["lease_extended"].as_bool(), body["state"].as_str()),
        (Some(false), Some("stopping")),
        "SDK 2.16+ ends a run only on lease_extended: false"
    );
}

#[tokio::test]
async fn a_worker_reads_its_items_session_which_has_ended_and_no_other() {
    let sim = Sim::start(20).await;
    let work = format!("/v1/environments/{}/work", sim.env(0));
    let mine = claim(&sim, &work).await;
    let other = claim(&sim, &work).await;
    let bearer = format!("Bearer {}", sessions_token(mine.secret.as_deref().unwrap()));
    let session = |w: &Work| format!("/v1/sessions/{}", w.data.id);

    let (s, body) = sim
        .call(Method::GET, &session(&mine), Key::Raw(&bearer), None)
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        (
            body["type"].as_str(),
            body["status"].as_str(),
            body["environment_id"].as_str()
        ),
        (Some("session"), Some("terminated"), Some(sim.env(0))),
        "the simulator runs no agent: the worker skips the item and stops it"
    );
    assert_eq!(body["id"].as_str(), Some(mine.data.id.as_str()));
    let (s, _) = sim
        .call(Method::GET, &session(&other), Key::Raw(&bearer), None)
        .await;
    assert_eq!(s, 401, "another item's session");
    let (s, _) = sim
        .call(Method::GET, &session(&other), Key::Env(0), None)
        .await;
    assert_eq!(
        s, 200,
        "the environment key reads its environment's sessions"
    );
    let (s, _) = sim
        .call(Method::GET, &session(&other), Key::Env(1), None)
        .await;
    assert_eq!(s, 404, "not another environment's");
    let (s, _) = sim
        .call(Method::GET, &session(&other), Key::Api, None)
        .await;
    assert_eq!(s, 200);
    let (s, _) = sim
        .call(Method::GET, "/v1/sessions/session_01nope", Key::Api, None)
        .await;
    assert_eq!(s, 404);
}
