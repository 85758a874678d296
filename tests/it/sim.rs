//! The simulator over real HTTP: credential rules, paging, error envelopes,
//! the lease protocol and the admin endpoints.

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use work_exporter::api::wire::{HeartbeatResponse, Page, QueueStats, Work, WorkState};
use work_exporter::sim::{start, Credentials, SimOptions};

const BETA: &str = "managed-agents-2026-04-01";

struct Sim {
    creds: Credentials,
    http: Client,
    shutdown: CancellationToken,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

enum Key<'a> {
    Api,
    Env(usize),
    Raw(&'a str),
    None,
}

impl Sim {
    /// A static simulator: `items` seeded items per environment, no workers, no arrivals.
    async fn start(items: usize) -> Sim {
        let shutdown = CancellationToken::new();
        let opts = SimOptions {
            listen_address: "127.0.0.1:0".parse().unwrap(),
            environments: 2,
            scenario: "steady".into(),
            seed: 1,
            items_per_environment: items,
            workers: 0,
            arrivals_per_minute: 0.0,
            credentials_out: None,
        };
        let running = start(opts, shutdown.clone()).await.unwrap();
        Sim {
            creds: running.credentials,
            http: Client::new(),
            shutdown,
        }
    }

    fn env(&self, i: usize) -> &str {
        &self.creds.environments[i].id
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Key<'_>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.creds.base_url))
            .header("anthropic-beta", BETA)
            .header("anthropic-version", "2023-06-01");
        req = match key {
            Key::Api => req.header("x-api-key", &self.creds.api_key),
            Key::Env(i) => req.bearer_auth(&self.creds.environments[i].key),
            Key::Raw(h) => req.header("authorization", h),
            Key::None => req,
        };
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let rid = resp
            .headers()
            .get("request-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let rid = rid.unwrap_or_else(|| panic!("no request-id header on {path}"));
        assert!(rid.starts_with("req_"), "{rid}");
        let body: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
        if !status.is_success() {
            assert_eq!(body["type"], "error", "{body}");
            assert_eq!(
                body["request_id"],
                rid.as_str(),
                "same id in header and body"
            );
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{body}"
            );
            assert!(body["error"]["details"]["error_code"].is_string(), "{body}");
        }
        (status, body)
    }

    async fn get(&self, path: &str, key: Key<'_>) -> (StatusCode, Value) {
        self.call(Method::GET, path, key, None).await
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.creds.base_url));
        req = req.bearer_auth(&self.creds.admin_token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        (resp.status(), resp.json().await.unwrap())
    }
}

#[tokio::test]
async fn each_endpoint_takes_only_its_credential() {
    let sim = Sim::start(5).await;
    let env = sim.env(0).to_owned();
    let work = format!("/v1/environments/{env}/work");
    let (s, page) = sim.get(&format!("{work}?limit=1"), Key::Env(0)).await;
    assert_eq!(s, 200);
    let id = page["data"][0]["id"].as_str().unwrap().to_owned();
    let cases = [
        (work.clone(), Key::Api, 401),
        (work.clone(), Key::Env(0), 200),
        (work.clone(), Key::Env(1), 403),
        (format!("{work}/{id}"), Key::Env(0), 401),
        (format!("{work}/{id}"), Key::Api, 200),
        (format!("{work}/stats"), Key::Api, 200),
        (format!("{work}/stats"), Key::Env(0), 200),
        ("/v1/environments".to_owned(), Key::Env(0), 401),
        ("/v1/environments".to_owned(), Key::Api, 200),
        (format!("/v1/environments/{env}"), Key::Api, 200),
        (work.clone(), Key::None, 401),
        (work.clone(), Key::Raw("Bearer sk-wrong"), 401),
    ];
    for (path, key, want) in cases {
        let (s, body) = sim.get(&path, key).await;
        assert_eq!(s.as_u16(), want, "{path}: {body}");
    }
    let (s, body) = sim.get(&format!("{work}/{id}"), Key::Env(0)).await;
    assert_eq!(
        (s.as_u16(), body["error"]["type"].as_str()),
        (401, Some("authentication_error"))
    );
}

#[tokio::test]
async fn missing_beta_header_or_two_credentials_is_a_400() {
    let sim = Sim::start(0).await;
    let url = format!(
        "{}/v1/environments/{}/work/stats",
        sim.creds.base_url,
        sim.env(0)
    );
    let resp = sim
        .http
        .get(&url)
        .header("x-api-key", &sim.creds.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let resp = sim
        .http
        .get(&url)
        .header("anthropic-beta", format!("files-api-2025-04-14,{BETA}"))
        .header("x-api-key", &sim.creds.api_key)
        .bearer_auth(&sim.creds.environments[0].key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "exactly one credential per request");
}

#[tokio::test]
async fn work_list_pages_through_every_item_once() {
    let sim = Sim::start(50).await;
    let base = format!("/v1/environments/{}/work", sim.env(0));
    let mut ids = Vec::new();
    let mut path = format!("{base}?limit=7");
    let mut pages = 0;
    loop {
        let (s, body) = sim.get(&path, Key::Env(0)).await;
        assert_eq!(s, 200, "{body}");
        let page: Page<Work> = serde_json::from_value(body).unwrap();
        assert!(page
            .data
            .iter()
            .all(|w| w.secret.is_none() && w.kind == "work"));
        ids.extend(page.data.into_iter().map(|w| w.id));
        pages += 1;
        match page.next_page {
            Some(c) => path = format!("{base}?limit=7&page={c}"),
            None => break,
        }
    }
    assert_eq!((ids.len(), pages), (50, 8));
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 50);
    let (_, first) = sim.get(&base, Key::Env(0)).await;
    assert_eq!(first["data"].as_array().unwrap().len(), 20, "default limit");
    for bad in ["limit=0", "limit=1001", "limit=x", "page=garbage"] {
        let (s, body) = sim.get(&format!("{base}?{bad}"), Key::Env(0)).await;
        assert_eq!(
            (s.as_u16(), body["error"]["type"].as_str()),
            (400, Some("invalid_request_error")),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn environment_list_hides_archived_and_only_self_hosted_have_work() {
    let sim = Sim::start(0).await;
    let (_, all) = sim.get("/v1/environments?limit=1000", Key::Api).await;
    let (_, with_archived) = sim
        .get("/v1/environments?include_archived=true", Key::Api)
        .await;
    let envs = all["data"].as_array().unwrap();
    assert_eq!(envs.len(), 3, "two self-hosted and one cloud: {all}");
    assert_eq!(with_archived["data"].as_array().unwrap().len(), 4);
    assert!(envs
        .iter()
        .all(|e| e["type"] == "environment" && e["archived_at"].is_null()));
    let cloud = envs
        .iter()
        .find(|e| e["config"]["type"] == "cloud")
        .unwrap();
    let cloud_id = cloud["id"].as_str().unwrap();
    let (s, _) = sim
        .get(&format!("/v1/environments/{cloud_id}/work/stats"), Key::Api)
        .await;
    assert_eq!(s, 404, "a cloud environment has no work queue");
    let (s, body) = sim
        .get("/v1/environments/env_01nope/work/stats", Key::Api)
        .await;
    assert_eq!(
        (s.as_u16(), body["error"]["type"].as_str()),
        (404, Some("not_found_error"))
    );
    let (_, page) = sim.get("/v1/environments?limit=2", Key::Api).await;
    let next = page["next_page"].as_str().unwrap();
    let (_, rest) = sim
        .get(&format!("/v1/environments?limit=2&page={next}"), Key::Api)
        .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert!(rest["next_page"].is_null());
}

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
