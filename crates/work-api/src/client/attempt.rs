//! One request, sent once: the headers the SDK sends, a body capped at
//! `--api.max-body-bytes`, the rate-limit headers read on the way, and the
//! typed error of a failed answer (with the server's retry advice) or of no
//! answer at all (`timeout`, `connect`).

use super::endpoint::LIST_WORK;
use super::{ApiClient, Credential, Response, Workspace};
use crate::clock::{Clock, SystemClock};
use crate::error::ApiError;
use crate::redact::scrub;
use crate::retry::{header_str, retry_after, should_retry};
use crate::secret::Secret;
use crate::wire;
use bytes::Bytes;
use reqwest::header::HeaderMap;
use std::sync::atomic::Ordering::Relaxed;
use tokio::time::{Duration, Instant};

/// What one attempt produced when it failed, with the server's retry advice.
pub(super) struct Failure {
    pub(super) error: ApiError,
    pub(super) retry_after: Option<Duration>,
    pub(super) should_retry: Option<bool>,
}

impl Failure {
    /// A failure the server gave no advice on.
    fn without_advice(error: ApiError) -> Failure {
        Failure {
            error,
            retry_after: None,
            should_retry: None,
        }
    }
}

/// Why a response body was not read whole.
enum Unread {
    /// Over `max_body`, announced or counted.
    TooLarge,
    /// The connection broke while the body streamed.
    Broken(reqwest::Error),
}

impl ApiClient {
    /// One request. On failure also returns the `code` label to count it under.
    pub(super) async fn attempt(
        &self,
        endpoint: &'static str,
        url: url::Url,
        cred: Credential<'_>,
        workspace: Workspace,
    ) -> Result<(Response, u16), (Failure, String)> {
        let secret = cred.secret();
        let mut resp = match self.request(url, secret, workspace).send().await {
            Ok(r) => r,
            Err(e) => {
                let (error, code) = transport_error(endpoint, &e, secret);
                return Err((Failure::without_advice(error), code));
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
        let body = match self.read_body(endpoint, &mut resp).await {
            Ok(body) => body,
            Err(Unread::TooLarge) => {
                let limit = self.max_body;
                let error = ApiError::TooLarge {
                    endpoint,
                    request_id,
                    limit,
                };
                return Err((Failure::without_advice(error), status.to_string()));
            }
            Err(Unread::Broken(e)) if corrupt_encoding(&e) => {
                // A compressed body that does not decode: the server's fault, not the network's.
                let error = ApiError::Decode {
                    endpoint,
                    request_id,
                    message: scrub(
                        &format!("cannot decode the compressed body: {}", chain(&e)),
                        secret,
                    ),
                };
                return Err((Failure::without_advice(error), status.to_string()));
            }
            Err(Unread::Broken(e)) => {
                let (error, code) = transport_error(endpoint, &e, secret);
                let failure = Failure {
                    error,
                    retry_after: None,
                    should_retry,
                };
                return Err((failure, code));
            }
        };
        if (200..300).contains(&status) {
            return Ok((Response { body, request_id }, status));
        }
        let error = ApiError::from_response(endpoint, status, &body, request_id, secret);
        let failure = Failure {
            error,
            retry_after,
            should_retry,
        };
        Err((failure, status.to_string()))
    }

    /// The GET as SDK 2.14 sends it (tests/it/wire.rs pins the headers):
    /// both kinds of key as a bearer token, the version, the beta, `accept`
    /// (and `accept-encoding`, from `Transport`).
    fn request(
        &self,
        url: url::Url,
        secret: &Secret,
        workspace: Workspace,
    ) -> reqwest::RequestBuilder {
        let req = self
            .http
            .get(url)
            .header("accept", "application/json")
            .header("anthropic-version", &self.api_version)
            .header("anthropic-beta", wire::BETA_HEADER)
            .bearer_auth(secret.expose());
        let req = match self.accept_encoding {
            Some(coding) => req.header("accept-encoding", coding),
            None => req,
        };
        match (workspace, &self.workspace_id) {
            (Workspace::Offered, Some(ws)) => req.header("anthropic-workspace-id", ws),
            _ => req,
        }
    }

    /// The decoded body: refused early when its announced length is over the
    /// cap, counted as it streams (decoded bytes, when compressed) when not.
    /// The buffer never grows past the cap, so a compression bomb costs at
    /// most `max_body` of memory before it fails as `too_large`.
    async fn read_body(
        &self,
        endpoint: &'static str,
        resp: &mut reqwest::Response,
    ) -> Result<Bytes, Unread> {
        let announced = resp.content_length();
        if announced.is_some_and(|len| len as usize > self.max_body) {
            return Err(Unread::TooLarge);
        }
        let hint = match announced {
            Some(len) => len as usize,
            None if endpoint == LIST_WORK => self.page_hint.load(Relaxed),
            None => 0,
        };
        let mut body = Vec::with_capacity(hint.min(self.max_body));
        while let Some(chunk) = resp.chunk().await.map_err(Unread::Broken)? {
            let len = body.len() + chunk.len();
            if len > self.max_body {
                return Err(Unread::TooLarge);
            }
            if len > body.capacity() {
                // Doubling as Vec does, but never past the cap.
                let target = len.max(body.capacity() * 2).min(self.max_body);
                body.reserve_exact(target - body.len());
            }
            body.extend_from_slice(&chunk);
        }
        if endpoint == LIST_WORK {
            // A little over the largest page, so the next one is read without a copy.
            self.page_hint
                .fetch_max(body.len() + body.len() / 16, Relaxed);
        }
        Ok(Bytes::from(body))
    }

    fn read_ratelimit(&self, headers: &HeaderMap) {
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
                    let now = SystemClock.now_secs();
                    Duration::from_secs_f64((reset - now).clamp(0.0, 60.0))
                })
                .unwrap_or(Duration::from_secs(1));
            self.budget.pause_until(Instant::now() + reset);
        }
    }
}

/// A request that got no HTTP answer: `timeout` or `connect`, with the
/// transport's message scrubbed of the key. Also returns the `code` label.
fn transport_error(
    endpoint: &'static str,
    e: &reqwest::Error,
    secret: &Secret,
) -> (ApiError, String) {
    if e.is_timeout() {
        return (
            ApiError::Timeout {
                endpoint,
                after: Duration::ZERO,
            },
            "timeout".into(),
        );
    }
    // reqwest's message never carries header values, but scrub anyway.
    let message = chain(e);
    (
        ApiError::Connect {
            endpoint,
            message: scrub(&message, secret),
        },
        "connect".into(),
    )
}

/// Whether a body failed because its compressed bytes do not decode rather
/// than because the connection broke: the decoder reports an `io::Error`
/// around its own error, which has no cause; a broken connection arrives as
/// hyper's error (a cause inside), whether the body was compressed or not.
fn corrupt_encoding(e: &reqwest::Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .and_then(|io| io.get_ref())
        .is_some_and(|inner| inner.source().is_none())
}

/// The error and its sources, one line.
fn chain(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// The `code` label of a successful request.
pub(super) fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        204 => "204",
        _ => "2xx",
    }
}
