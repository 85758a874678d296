//! Credential rules, error envelopes and paging.

use super::{Key, Sim, BETA};
use serde_json::Value;
use work_api::wire::{Page, Work};
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
        (work.clone(), Key::EnvHeaderXApi(0), 401),
        // The official Python SDK sends the API key as a bearer token.
        (format!("{work}/stats"), Key::ApiAsBearer, 200),
        (format!("{work}/{id}"), Key::ApiAsBearer, 200),
        (work.clone(), Key::ApiAsBearer, 401),
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
        .header("anthropic-version", "2026-10-21")
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
        match page.next_page.as_deref() {
            Some("") => break,
            Some(c) => path = format!("{base}?limit=7&page={c}"),
            None => panic!("the API ends a list with \"\", not null"),
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
    assert_eq!(
        rest["next_page"], "",
        "the last page ends with an empty cursor"
    );
    for e in envs {
        let want = if e["config"]["type"] == "cloud" {
            "account"
        } else {
            "organization"
        };
        assert_eq!(e["scope"], want, "{e}");
    }
}

#[tokio::test]
async fn lists_can_end_with_null_and_carry_empty_pages_that_lead_on() {
    use work_sim::{LastCursor, Paging};
    let sim = Sim::start_with(
        30,
        Paging {
            last_cursor: LastCursor::Null,
            empty_page_every: 1,
        },
    )
    .await;
    let base = format!("/v1/environments/{}/work", sim.env(0));
    let (mut ids, mut empty, mut path) = (Vec::new(), 0, format!("{base}?limit=7"));
    loop {
        let (s, body) = sim.get(&path, Key::Env(0)).await;
        assert_eq!(s, 200, "{body}");
        let page: Page<Work> = serde_json::from_value(body).unwrap();
        empty += usize::from(page.data.is_empty());
        ids.extend(page.data.into_iter().map(|w| w.id));
        match page.next_page {
            Some(c) => path = format!("{base}?limit=7&page={c}"),
            None => break,
        }
    }
    ids.sort();
    ids.dedup();
    // An empty page before each of the five pages of items, none repeated.
    assert_eq!((ids.len(), empty), (30, 5));
}
