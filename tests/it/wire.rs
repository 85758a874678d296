//! The exporter's requests, header by header, per endpoint, as the simulator
//! recorded them (`GET /_sim/requests`), pinned to what the official SDK 2.14
//! sends on the same calls. The Python half (tests/sdk/test_sdk.py, run by
//! tests/e2e/sdk.sh) compares the two live; this one pins the literal set so a
//! change shows without Python.

use crate::ground_truth::options;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use work_exporter::config::Config;
use work_sim::{self as sim, Credentials};

const WORKSPACE: &str = "wrkspc_wire_test";

/// A simulator and an exporter discovering it with a workspace id and `flags`;
/// returns once the exporter has made every kind of request.
async fn exporter_on_sim(flags: &[&str]) -> (Credentials, CancellationToken) {
    let shutdown = CancellationToken::new();
    let running = sim::start(options(1, 10, 0, 0.0, "steady"), shutdown.clone())
        .await
        .unwrap();
    let creds = running.credentials.clone();
    let keys = crate::exporter::keys_dir(&creds, &[]);
    let cfg = crate::exporter::discovering(
        &creds,
        &keys,
        flags,
        &[("ANTHROPIC_WORKSPACE_ID", WORKSPACE.into())],
    );
    crate::exporter::start(cfg, None, &shutdown).await;
    for _ in 0..100 {
        let all = recorded(&creds, "").await;
        if ["work.list", "work.stats", "environments.list"]
            .iter()
            .all(|e| all.iter().any(|(name, _)| name == e))
        {
            drop(keys);
            return (creds, shutdown);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the exporter never made every kind of request");
}

/// `(endpoint, headers)` of the recorded requests to `endpoint` ("" for all).
async fn recorded(creds: &Credentials, endpoint: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let v: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/_sim/requests?endpoint={endpoint}",
            creds.base_url
        ))
        .bearer_auth(&creds.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| endpoint.is_empty() || r["endpoint"] == endpoint)
        .map(|r| {
            let headers = serde_json::from_value(r["headers"].clone()).unwrap();
            (r["endpoint"].as_str().unwrap().to_owned(), headers)
        })
        .collect()
}

/// What SDK 2.14 sends on a GET of `endpoint` (`_base_client.py`
/// `default_headers`, `_client.py` `auth_headers` and `default_headers`,
/// `resources/beta/environments/`), less its `x-stainless-*` telemetry,
/// `user-agent` and httpx's `connection`, which the exporter does not copy
/// (README, "How it refreshes"). `accept-encoding` is httpx's default
/// (`httpx2/_client.py` `ACCEPT_ENCODING` in 2.17: `gzip, deflate`, plus
/// `br`/`zstd` only when those packages are installed), which the exporter
/// sends unless `--api.compression=false`.
fn sdk_headers(endpoint: &str, version: &str) -> BTreeMap<String, String> {
    let mut h: BTreeMap<String, String> = [
        ("accept", "application/json"),
        ("accept-encoding", "gzip, deflate"),
        ("anthropic-beta", "managed-agents-2026-04-01"),
        ("anthropic-version", version),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let credential = match endpoint {
        "work.list" => "Bearer <environment_key>",
        _ => "Bearer <api_key>",
    };
    h.insert("authorization".into(), credential.into());
    // `workspace_id` is a parameter of stats and the environments list only.
    if endpoint != "work.list" {
        h.insert("anthropic-workspace-id".into(), WORKSPACE.into());
    }
    h
}

async fn assert_headers_pinned(creds: &Credentials, version: &str) {
    assert_headers(creds, version, true).await;
}

/// The SDK's headers, less `accept-encoding` when `compression` is off.
async fn assert_headers(creds: &Credentials, version: &str, compression: bool) {
    for endpoint in ["work.stats", "work.list", "environments.list"] {
        let seen = recorded(creds, endpoint).await;
        assert!(!seen.is_empty(), "{endpoint}");
        for (_, mut headers) in seen {
            let agent = headers.remove("user-agent").unwrap_or_default();
            assert!(agent.starts_with("anthropic-work-exporter/"), "{agent}");
            assert!(headers.remove("host").is_some(), "{endpoint}");
            let mut expected = sdk_headers(endpoint, version);
            if !compression {
                expected.remove("accept-encoding");
            }
            assert_eq!(headers, expected, "{endpoint}");
        }
    }
}

#[tokio::test]
async fn every_request_carries_exactly_the_headers_sdk_2_14_sends_on_that_endpoint() {
    let (creds, shutdown) = exporter_on_sim(&[]).await;
    assert_headers_pinned(&creds, "2026-10-21").await;
    shutdown.cancel();
}

#[tokio::test]
async fn api_version_pins_another_version_that_the_api_accepts() {
    let (creds, shutdown) = exporter_on_sim(&["--api.version", "2023-06-01"]).await;
    assert_headers_pinned(&creds, "2023-06-01").await;
    shutdown.cancel();
}

#[tokio::test]
async fn api_compression_false_asks_for_plain_responses() {
    let (creds, shutdown) = exporter_on_sim(&["--api.compression=false"]).await;
    assert_headers(&creds, "2026-10-21", false).await;
    shutdown.cancel();
}

#[test]
fn a_malformed_api_version_stops_the_program_naming_the_flag() {
    let cli: work_exporter::cli::Cli =
        clap::Parser::parse_from(["x", "--api.version", "latest", "--discovery.enabled"]);
    let err = Config::from_args(&cli.serve, &|name| {
        (name == "ANTHROPIC_API_KEY").then(|| "k".to_string())
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("--api.version") && err.contains("2026-10-21"),
        "{err}"
    );
}
