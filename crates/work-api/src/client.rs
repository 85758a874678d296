//! The HTTP client: one method per endpoint, one credential per request,
//! retries with jittered backoff inside the caller's deadline (`retrying`), a
//! capped body (`attempt`), and every request reported to a `RequestObserver`
//! (the metrics module). This file builds the client and its endpoints.

mod attempt;
mod retrying;
mod transport;

pub use transport::Transport;

use super::budget::RequestBudget;
use super::error::ApiError;
use super::redact::scrub;
use super::wire::{self, QueueStats};
use crate::secret::Secret;
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Told about every HTTP request, so the exporter can count them without the
/// client knowing about metrics.
pub trait RequestObserver: Send + Sync {
    /// `code` is the HTTP status, or `timeout` / `connect` when none came back.
    fn request_done(&self, endpoint: &'static str, code: &str, seconds: f64);
    /// The last `anthropic-ratelimit-requests-remaining` seen.
    fn ratelimit_remaining(&self, remaining: f64);
    /// How long a request queued for the process-wide budget before it was sent.
    fn budget_wait(&self, _seconds: f64) {}
}

/// An observer that ignores everything (probes, tests).
#[derive(Debug, Default)]
pub struct NoObserver;
impl RequestObserver for NoObserver {
    fn request_done(&self, _: &'static str, _: &str, _: f64) {}
    fn ratelimit_remaining(&self, _: f64) {}
}

/// The credential a request carries; exactly one per request.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    ApiKey(&'a Secret),
    EnvironmentKey(&'a Secret),
}

impl<'a> Credential<'a> {
    /// The key sent, whichever kind it is.
    fn secret(self) -> &'a Secret {
        match self {
            Credential::ApiKey(k) | Credential::EnvironmentKey(k) => k,
        }
    }
}

/// A successful response: the body and the request id.
#[derive(Debug)]
pub struct Response {
    pub body: Bytes,
    pub request_id: String,
}

/// Endpoint names, as they appear in the `endpoint` label.
pub mod endpoint {
    pub const STATS: &str = "stats";
    pub const LIST_WORK: &str = "list_work";
    pub const LIST_ENVIRONMENTS: &str = "list_environments";
}

pub struct ApiClient {
    http: reqwest::Client,
    base: url::Url,
    workspace_id: Option<String>,
    api_version: String,
    max_body: usize,
    /// The last work-list page's decoded size: a compressed page announces no
    /// length, and growing its buffer by doubling copied each page twice.
    page_hint: std::sync::atomic::AtomicUsize,
    /// `accept-encoding` as the SDK writes it, when compression is on.
    accept_encoding: Option<&'static str>,
    budget: Arc<RequestBudget>,
    in_flight: Semaphore,
    max_concurrency: usize,
    observer: Arc<dyn RequestObserver>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// A client with the SDK's transport (compressed responses, public roots).
    pub fn new(
        base: url::Url,
        workspace_id: Option<String>,
        max_concurrency: usize,
        max_body: usize,
        budget: Arc<RequestBudget>,
        observer: Arc<dyn RequestObserver>,
    ) -> Result<ApiClient, reqwest::Error> {
        let limits = (max_concurrency, max_body);
        Self::with_transport(
            base,
            workspace_id,
            limits,
            budget,
            observer,
            &Transport::default(),
        )
    }

    /// A client with `transport`; `limits` is (most requests in flight, largest decoded body).
    pub fn with_transport(
        base: url::Url,
        workspace_id: Option<String>,
        (max_concurrency, max_body): (usize, usize),
        budget: Arc<RequestBudget>,
        observer: Arc<dyn RequestObserver>,
        transport: &Transport,
    ) -> Result<ApiClient, reqwest::Error> {
        let http = transport.http_client()?;
        Ok(ApiClient {
            http,
            base,
            workspace_id,
            api_version: wire::API_VERSION.to_owned(),
            max_body,
            page_hint: std::sync::atomic::AtomicUsize::new(0),
            accept_encoding: transport.accept_encoding(),
            budget,
            in_flight: Semaphore::new(max_concurrency.max(1)),
            max_concurrency: max_concurrency.max(1),
            observer,
        })
    }

    /// Send `anthropic-version: version` instead of the SDK's default (`--api.version`).
    pub fn with_api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    pub fn max_concurrency(&self) -> usize {
        self.max_concurrency
    }

    pub fn budget(&self) -> &RequestBudget {
        &self.budget
    }

    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> url::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// `GET /v1/environments/{id}/work/stats`.
    pub async fn stats(
        &self,
        environment_id: &str,
        cred: Credential<'_>,
        deadline: Instant,
    ) -> Result<QueueStats, ApiError> {
        let url = self.url(
            &["v1", "environments", environment_id, "work", "stats"],
            &[],
        );
        let resp = self
            .get(endpoint::STATS, url, cred, Workspace::Offered, deadline)
            .await?;
        let secret = cred.secret();
        // serde quotes the offending value, which may be a key the server echoed.
        serde_json::from_slice::<QueueStats>(&resp.body).map_err(|e| ApiError::Decode {
            endpoint: endpoint::STATS,
            request_id: resp.request_id,
            message: scrub(&e.to_string(), secret),
        })
    }

    /// One page of `GET /v1/environments/{id}/work`, undecoded: the caller folds it.
    pub async fn list_work_page(
        &self,
        environment_id: &str,
        key: &Secret,
        limit: u32,
        page: Option<&str>,
        deadline: Instant,
    ) -> Result<Response, ApiError> {
        let limit = limit.to_string();
        let mut query = vec![("limit", limit.as_str())];
        if let Some(p) = page {
            query.push(("page", p));
        }
        let url = self.url(&["v1", "environments", environment_id, "work"], &query);
        // The SDK offers no workspace header here: the environment key names the environment.
        self.get(
            endpoint::LIST_WORK,
            url,
            Credential::EnvironmentKey(key),
            Workspace::NotOffered,
            deadline,
        )
        .await
    }

    /// One page of `GET /v1/environments` (API key), with its request id.
    pub async fn list_environments_page(
        &self,
        api_key: &Secret,
        page: Option<&str>,
        include_archived: bool,
        deadline: Instant,
    ) -> Result<(wire::Page<wire::Environment>, String), ApiError> {
        let limit = wire::MAX_PAGE_SIZE.to_string();
        let mut query = vec![
            ("limit", limit.as_str()),
            (
                "include_archived",
                if include_archived { "true" } else { "false" },
            ),
        ];
        if let Some(p) = page {
            query.push(("page", p));
        }
        let url = self.url(&["v1", "environments"], &query);
        let resp = self
            .get(
                endpoint::LIST_ENVIRONMENTS,
                url,
                Credential::ApiKey(api_key),
                Workspace::Offered,
                deadline,
            )
            .await?;
        match serde_json::from_slice(&resp.body) {
            Ok(page) => Ok((page, resp.request_id)),
            Err(e) => Err(ApiError::Decode {
                endpoint: endpoint::LIST_ENVIRONMENTS,
                request_id: resp.request_id,
                message: scrub(&e.to_string(), api_key),
            }),
        }
    }
}

/// Whether the SDK sends `anthropic-workspace-id` on an endpoint when one is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workspace {
    /// Stats and the environments list take the `workspace_id` parameter.
    Offered,
    /// The work list (environment key) has none.
    NotOffered,
}
