//! Every way a call to the API can fail, each with the `reason` label it becomes.

use super::redact::scrub;
use crate::secret::Secret;
use std::time::Duration;

/// A failed API call (after retries). `reason()` is the metric label.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ApiError {
    #[error("{endpoint}: credential refused (HTTP {status}, request-id {request_id}): {message}; check that the right key is configured for this endpoint and not revoked")]
    Auth {
        endpoint: &'static str,
        status: u16,
        request_id: String,
        message: String,
    },
    #[error("{endpoint}: not found (HTTP 404, request-id {request_id}): {message}; check the environment id and that it is a self_hosted environment")]
    NotFound {
        endpoint: &'static str,
        request_id: String,
        message: String,
    },
    #[error("{endpoint}: rate limited (HTTP 429, request-id {request_id}): {message}; lower --api.max-requests-per-second or raise --refresh.interval")]
    RateLimited {
        endpoint: &'static str,
        request_id: String,
        message: String,
    },
    #[error("{endpoint}: API overloaded (HTTP 529, request-id {request_id}): {message}")]
    Overloaded {
        endpoint: &'static str,
        request_id: String,
        message: String,
    },
    #[error("{endpoint}: server error (HTTP {status}, request-id {request_id}): {message}")]
    ServerError {
        endpoint: &'static str,
        status: u16,
        request_id: String,
        message: String,
    },
    #[error("{endpoint}: request refused (HTTP {status}, request-id {request_id}): {message}")]
    ClientError {
        endpoint: &'static str,
        status: u16,
        request_id: String,
        message: String,
    },
    #[error("{endpoint}: no complete answer within the refresh deadline ({after:?}); raise --refresh.timeout if the API is slow")]
    Timeout {
        endpoint: &'static str,
        after: Duration,
    },
    #[error("{endpoint}: connection failed: {message}; check --api.base-url and the network path")]
    Connect {
        endpoint: &'static str,
        message: String,
    },
    #[error(
        "{endpoint}: response is not the documented JSON (request-id {request_id}): {message}"
    )]
    Decode {
        endpoint: &'static str,
        request_id: String,
        message: String,
    },
    #[error("{endpoint}: response body larger than {limit} bytes (request-id {request_id}); lower --list.page-size")]
    TooLarge {
        endpoint: &'static str,
        request_id: String,
        limit: usize,
    },
    #[error("{endpoint}: paging stopped: {message}")]
    Pagination {
        endpoint: &'static str,
        message: String,
    },
}

impl ApiError {
    /// The `reason` label of `anthropic_work_exporter_refresh_failures_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::Auth { .. } => "auth",
            ApiError::NotFound { .. } => "not_found",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Overloaded { .. } => "overloaded",
            ApiError::ServerError { .. } => "server_error",
            ApiError::ClientError { .. } => "client_error",
            ApiError::Timeout { .. } => "timeout",
            ApiError::Connect { .. } => "connect",
            ApiError::Decode { .. } => "decode",
            ApiError::TooLarge { .. } => "too_large",
            ApiError::Pagination { .. } => "pagination",
        }
    }

    /// Every reason, so failure counters can start at zero.
    pub const REASONS: [&'static str; 11] = [
        "auth",
        "not_found",
        "rate_limited",
        "overloaded",
        "server_error",
        "client_error",
        "timeout",
        "connect",
        "decode",
        "too_large",
        "pagination",
    ];

    /// The reasons whose failure counters start at 0 for every environment,
    /// so `increase()` sees their first failure: the four that each call for
    /// a different action by an operator (a revoked key, a deleted or
    /// mistyped environment, the rate limit shared with other consumers, an
    /// API incident). The others (overloaded, client_error, timeout, connect,
    /// decode, too_large, pagination) appear with their first failure; each
    /// also marks the environment down, which is what the alerts read. This
    /// keeps 7 series per environment that would read 0 almost always, and
    /// the default families within 35 series per environment with native
    /// histograms (docs/metrics.md).
    pub const PREINITIALISED_REASONS: [&'static str; 4] =
        ["auth", "not_found", "rate_limited", "server_error"];

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Auth { status, .. }
            | ApiError::ServerError { status, .. }
            | ApiError::ClientError { status, .. } => Some(*status),
            ApiError::NotFound { .. } => Some(404),
            ApiError::RateLimited { .. } => Some(429),
            ApiError::Overloaded { .. } => Some(529),
            _ => None,
        }
    }

    /// The `request-id` the server sent, for support tickets.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ApiError::Auth { request_id, .. }
            | ApiError::NotFound { request_id, .. }
            | ApiError::RateLimited { request_id, .. }
            | ApiError::Overloaded { request_id, .. }
            | ApiError::ServerError { request_id, .. }
            | ApiError::ClientError { request_id, .. }
            | ApiError::Decode { request_id, .. }
            | ApiError::TooLarge { request_id, .. } => Some(request_id),
            _ => None,
        }
    }

    pub fn endpoint(&self) -> &'static str {
        match self {
            ApiError::Auth { endpoint, .. }
            | ApiError::NotFound { endpoint, .. }
            | ApiError::RateLimited { endpoint, .. }
            | ApiError::Overloaded { endpoint, .. }
            | ApiError::ServerError { endpoint, .. }
            | ApiError::ClientError { endpoint, .. }
            | ApiError::Timeout { endpoint, .. }
            | ApiError::Connect { endpoint, .. }
            | ApiError::Decode { endpoint, .. }
            | ApiError::TooLarge { endpoint, .. }
            | ApiError::Pagination { endpoint, .. } => endpoint,
        }
    }

    /// The same error with every `secret` scrubbed from the text it carries
    /// (messages and request ids come from the server, which may echo a key).
    pub fn redact(mut self, secrets: &[&crate::secret::Secret]) -> ApiError {
        let clean = |text: &mut String| {
            for s in secrets {
                *text = scrub(text, s);
            }
        };
        match &mut self {
            ApiError::Auth {
                request_id,
                message,
                ..
            }
            | ApiError::NotFound {
                request_id,
                message,
                ..
            }
            | ApiError::RateLimited {
                request_id,
                message,
                ..
            }
            | ApiError::Overloaded {
                request_id,
                message,
                ..
            }
            | ApiError::ServerError {
                request_id,
                message,
                ..
            }
            | ApiError::ClientError {
                request_id,
                message,
                ..
            }
            | ApiError::Decode {
                request_id,
                message,
                ..
            } => {
                clean(request_id);
                clean(message);
            }
            ApiError::TooLarge { request_id, .. } => clean(request_id),
            ApiError::Connect { message, .. } | ApiError::Pagination { message, .. } => {
                clean(message)
            }
            ApiError::Timeout { .. } => {}
        }
        self
    }

    /// Build the error for a non-success status.
    pub(crate) fn from_status(
        endpoint: &'static str,
        status: u16,
        request_id: String,
        message: String,
    ) -> ApiError {
        match status {
            401 | 403 => ApiError::Auth {
                endpoint,
                status,
                request_id,
                message,
            },
            404 => ApiError::NotFound {
                endpoint,
                request_id,
                message,
            },
            429 => ApiError::RateLimited {
                endpoint,
                request_id,
                message,
            },
            529 => ApiError::Overloaded {
                endpoint,
                request_id,
                message,
            },
            500..=599 => ApiError::ServerError {
                endpoint,
                status,
                request_id,
                message,
            },
            300..=399 => ApiError::ServerError {
                endpoint,
                status,
                request_id,
                message: format!(
                    "redirect refused (keys are only sent to --api.base-url): {message}"
                ),
            },
            _ => ApiError::ClientError {
                endpoint,
                status,
                request_id,
                message,
            },
        }
    }
}

/// A request that got no HTTP answer: `timeout` or `connect`, with the
/// transport's message scrubbed of the key. Also returns the `code` label.
pub(super) fn transport_error(
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
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    (
        ApiError::Connect {
            endpoint,
            message: scrub(&message, secret),
        },
        "connect".into(),
    )
}
