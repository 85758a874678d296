//! The simulator over real HTTP: credential rules, paging, error envelopes,
//! the lease protocol and the admin endpoints. This file holds the harness.

mod admin;
mod api;
mod lease;
mod secret;

use reqwest::{Client, Method, StatusCode};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use work_sim::{start, Credentials, SimOptions};

pub(super) const BETA: &str = "managed-agents-2026-04-01";

pub(super) struct Sim {
    pub creds: Credentials,
    pub http: Client,
    shutdown: CancellationToken,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub(super) enum Key<'a> {
    Api,
    Env(usize),
    Raw(&'a str),
    EnvHeaderXApi(usize),
    ApiAsBearer,
    None,
}

impl Sim {
    /// A static simulator: `items` seeded items per environment, no workers,
    /// no arrivals; lists end with `""`, without empty pages.
    pub async fn start(items: usize) -> Sim {
        Self::start_with(items, work_sim::Paging::default()).await
    }

    /// `start`, with lists paged as `paging` says.
    pub async fn start_with(items: usize, paging: work_sim::Paging) -> Sim {
        Self::start_opts(|o| {
            o.items_per_environment = items;
            o.paging = paging;
        })
        .await
    }

    /// A static simulator of two environments, changed by `tweak`.
    pub async fn start_opts(tweak: impl FnOnce(&mut SimOptions)) -> Sim {
        let shutdown = CancellationToken::new();
        let mut opts = SimOptions {
            environments: 2,
            ..SimOptions::loopback()
        };
        tweak(&mut opts);
        let running = start(opts, shutdown.clone()).await.unwrap();
        Sim {
            creds: running.credentials,
            http: Client::new(),
            shutdown,
        }
    }

    pub fn env(&self, i: usize) -> &str {
        &self.creds.environments[i].id
    }

    pub async fn call(
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
            Key::EnvHeaderXApi(i) => req.header("x-api-key", &self.creds.environments[i].key),
            Key::ApiAsBearer => req.bearer_auth(&self.creds.api_key),
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

    pub async fn get(&self, path: &str, key: Key<'_>) -> (StatusCode, Value) {
        self.call(Method::GET, path, key, None).await
    }

    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
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
