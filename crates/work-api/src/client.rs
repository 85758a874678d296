//! The HTTP client: one method per endpoint, one credential per request,
//! retries with jittered backoff inside the caller's deadline, a capped body,
//! and every request reported to a `RequestObserver` (the metrics module).

use super::budget::RequestBudget;
use super::error::transport_error;
use super::error::ApiError;
use super::redact::scrub;
use super::retry::{backoff, header_str, retry_after, retryable, should_retry, MAX_ATTEMPTS};
use super::wire::{self, QueueStats};
use crate::secret::Secret;
use bytes::{Bytes, BytesMut};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::time::{Duration, Instant};

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

/// What one attempt produced when it failed, with the server's retry advice.
struct Failure {
    error: ApiError,
    retry_after: Option<Duration>,
    should_retry: Option<bool>,
}

impl ApiClient {
    pub fn new(
        base: url::Url,
        workspace_id: Option<String>,
        max_concurrency: usize,
        max_body: usize,
        budget: Arc<RequestBudget>,
        observer: Arc<dyn RequestObserver>,
    ) -> Result<ApiClient, reqwest::Error> {
        let http = reqwest::Client::builder()
            // Keys go only to the configured base URL: never follow a redirect.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "anthropic-work-exporter/",
                env!("CARGO_PKG_VERSION")
            ))
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(ApiClient {
            http,
            base,
            workspace_id,
            api_version: wire::API_VERSION.to_owned(),
            max_body,
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
        let secret = match cred {
            Credential::ApiKey(k) | Credential::EnvironmentKey(k) => k,
        };
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

    /// A GET with retries, by the SDK's rules (`_base_client.py`
    /// `_should_retry`): 408, 409, 429, 5xx (529 included), timeouts and
    /// connection errors are retried with jittered exponential backoff inside
    /// `deadline`; the server's `retry-after-ms`, `retry-after` and
    /// `x-should-retry` win over the defaults. A spend limit or an
    /// organisation on hold (`error.details.error_code`) is never retried.
    /// Other failures return at once.
    async fn get(
        &self,
        endpoint: &'static str,
        url: url::Url,
        cred: Credential<'_>,
        workspace: Workspace,
        deadline: Instant,
    ) -> Result<Response, ApiError> {
        let started = Instant::now();
        let timeout = |started: Instant| ApiError::Timeout {
            endpoint,
            after: Instant::now() - started,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Some(waited) = self.budget.acquire(deadline).await else {
                return Err(timeout(started));
            };
            self.observer.budget_wait(waited.as_secs_f64());
            // In a scheduled refresh, queueing for the budget does not count
            // against the deadline (budget::excluding_waits).
            let deadline = super::budget::shifted(deadline);
            let permit = match tokio::time::timeout_at(deadline, self.in_flight.acquire()).await {
                Ok(Ok(p)) => p,
                _ => return Err(timeout(started)),
            };
            let t0 = Instant::now();
            let outcome = tokio::time::timeout_at(
                deadline,
                self.attempt(endpoint, url.clone(), cred, workspace),
            )
            .await;
            drop(permit);
            let failure = match outcome {
                Ok(Ok((resp, status))) => {
                    self.observer.request_done(
                        endpoint,
                        status_label(status),
                        t0.elapsed().as_secs_f64(),
                    );
                    return Ok(resp);
                }
                Ok(Err((failure, code))) => {
                    self.observer
                        .request_done(endpoint, &code, t0.elapsed().as_secs_f64());
                    failure
                }
                Err(_) => {
                    self.observer
                        .request_done(endpoint, "timeout", t0.elapsed().as_secs_f64());
                    return Err(timeout(started));
                }
            };
            let retryable = retryable(&failure.error, failure.should_retry);
            if !retryable || attempt >= MAX_ATTEMPTS {
                return Err(failure.error);
            }
            let delay = failure.retry_after.unwrap_or_else(|| backoff(attempt));
            let retrying = Instant::now() + delay < deadline;
            // Everyone waits, not just this request: the limit is per
            // organisation. The server's own advice holds everyone even when
            // this request gives up; a guessed backoff only while it waits.
            if matches!(failure.error, ApiError::RateLimited { .. })
                && (failure.retry_after.is_some() || retrying)
            {
                self.budget.pause_until(Instant::now() + delay);
            }
            if !retrying {
                return Err(failure.error);
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// One request. On failure also returns the `code` label to count it under.
    async fn attempt(
        &self,
        endpoint: &'static str,
        url: url::Url,
        cred: Credential<'_>,
        workspace: Workspace,
    ) -> Result<(Response, u16), (Failure, String)> {
        let secret = match cred {
            Credential::ApiKey(k) | Credential::EnvironmentKey(k) => k,
        };
        // The headers SDK 2.14 sends on these GETs (tests/it/wire.rs pins them):
        // both keys as a bearer token, the version, the beta, `accept`.
        let mut req = self
            .http
            .get(url)
            .header("accept", "application/json")
            .header("anthropic-version", &self.api_version)
            .header("anthropic-beta", wire::BETA_HEADER)
            .bearer_auth(secret.expose());
        if let (Workspace::Offered, Some(ws)) = (workspace, &self.workspace_id) {
            req = req.header("anthropic-workspace-id", ws);
        }
        let fail = |error: ApiError, code: String| {
            (
                Failure {
                    error,
                    retry_after: None,
                    should_retry: None,
                },
                code,
            )
        };
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                let (error, code) = transport_error(endpoint, &e, secret);
                return Err(fail(error, code));
            }
        };
        let status = resp.status().as_u16();
        let headers = resp.headers();
        // Scrubbed before it is shortened, so no part of an echoed key survives.
        let request_id = scrub(header_str(headers, "request-id").unwrap_or("none"), secret)
            .chars()
            .take(128)
            .collect::<String>();
        self.read_ratelimit(headers);
        let retry_after = retry_after(headers);
        let should_retry = should_retry(headers);
        let too_large = |request_id: String| {
            fail(
                ApiError::TooLarge {
                    endpoint,
                    request_id,
                    limit: self.max_body,
                },
                status.to_string(),
            )
        };
        // Refuse early when the length is announced, and count as it streams when not.
        if resp
            .content_length()
            .is_some_and(|len| len as usize > self.max_body)
        {
            return Err(too_large(request_id));
        }
        // Sized from content-length when given: growing by doubling copied each page twice.
        let mut body = BytesMut::with_capacity(
            resp.content_length()
                .map_or(0, |len| len as usize)
                .min(self.max_body),
        );
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > self.max_body {
                        return Err(too_large(request_id));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    let (error, code) = transport_error(endpoint, &e, secret);
                    return Err((
                        Failure {
                            error,
                            retry_after: None,
                            should_retry,
                        },
                        code,
                    ));
                }
            }
        }
        let body = body.freeze();
        if (200..300).contains(&status) {
            return Ok((Response { body, request_id }, status));
        }
        let error = ApiError::from_response(endpoint, status, &body, request_id, secret);
        Err((
            Failure {
                error,
                retry_after,
                should_retry,
            },
            status.to_string(),
        ))
    }

    fn read_ratelimit(&self, headers: &reqwest::header::HeaderMap) {
        let Some(remaining) = header_str(headers, "anthropic-ratelimit-requests-remaining")
            .and_then(|v| v.parse::<f64>().ok())
        else {
            return;
        };
        self.observer.ratelimit_remaining(remaining);
        let limit = header_str(headers, "anthropic-ratelimit-requests-limit")
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        // Slow down before a 429, not after: with under 5% of the window left,
        // hold every request until the window resets.
        if remaining <= (limit * 0.05).max(1.0) {
            let reset = header_str(headers, "anthropic-ratelimit-requests-reset")
                .and_then(wire::parse_timestamp)
                .map(|reset| {
                    let now = crate::clock::Clock::now_secs(&crate::clock::SystemClock);
                    Duration::from_secs_f64((reset - now).clamp(0.0, 60.0))
                })
                .unwrap_or(Duration::from_secs(1));
            self.budget.pause_until(Instant::now() + reset);
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

fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        204 => "204",
        _ => "2xx",
    }
}
