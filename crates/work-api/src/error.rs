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
    #[error("{endpoint}: the organisation's spend limit is reached (HTTP {status}, request-id {request_id}): {message}; retrying cannot clear it: an organisation admin must raise the limit in the Console (or wait for the next billing period); the exporter tries again each interval")]
    SpendLimit {
        endpoint: &'static str,
        status: u16,
        request_id: String,
        message: String,
    },
    #[error("{endpoint}: the organisation is on hold (HTTP {status}, request-id {request_id}): {message}; Anthropic has disabled the organisation: its admins must contact Anthropic (the error may name an appeal URL); nothing in the exporter can fix it")]
    OrganizationOnHold {
        endpoint: &'static str,
        status: u16,
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
            ApiError::SpendLimit { .. } => "spend_limit",
            ApiError::OrganizationOnHold { .. } => "organization_on_hold",
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
    pub const REASONS: [&'static str; 13] = [
        "auth",
        "not_found",
        "rate_limited",
        "spend_limit",
        "organization_on_hold",
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
            | ApiError::SpendLimit { status, .. }
            | ApiError::OrganizationOnHold { status, .. }
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
            | ApiError::SpendLimit { request_id, .. }
            | ApiError::OrganizationOnHold { request_id, .. }
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
            | ApiError::SpendLimit { endpoint, .. }
            | ApiError::OrganizationOnHold { endpoint, .. }
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
            | ApiError::SpendLimit {
                request_id,
                message,
                ..
            }
            | ApiError::OrganizationOnHold {
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
                scrub_all(request_id, secrets);
                scrub_all(message, secrets);
            }
            ApiError::TooLarge { request_id, .. } => scrub_all(request_id, secrets),
            ApiError::Connect { message, .. } | ApiError::Pagination { message, .. } => {
                scrub_all(message, secrets)
            }
            ApiError::Timeout { .. } => {}
        }
        self
    }

    /// The error for a non-success response: its body's message scrubbed of
    /// `secret` and shortened, its `error_code` read. The client's one way
    /// from an error response to an error (fuzzed: `error_body`).
    pub fn from_response(
        endpoint: &'static str,
        status: u16,
        body: &[u8],
        request_id: String,
        secret: &crate::secret::Secret,
    ) -> ApiError {
        let (message, code) = crate::redact::error_message(body, secret);
        ApiError::from_status(endpoint, status, code.as_deref(), request_id, message)
    }

    /// Build the error for a non-success status and its `error.details.error_code`.
    /// The codes that say who must act get their own reason; other codes
    /// (`environment_not_found`, `ramp_limit_exceeded`, …) keep the reason of
    /// their status, as the SDK says to "treat an unrecognized `error_code` as
    /// the bare `type`" (`_exceptions.py`, `APIStatusError.details`).
    pub(crate) fn from_status(
        endpoint: &'static str,
        status: u16,
        error_code: Option<&str>,
        request_id: String,
        message: String,
    ) -> ApiError {
        match error_code {
            Some(code) if SPEND_LIMIT_CODES.contains(&code) => ApiError::SpendLimit {
                endpoint,
                status,
                request_id,
                message,
            },
            Some("organization_on_hold") => ApiError::OrganizationOnHold {
                endpoint,
                status,
                request_id,
                message,
            },
            // Since SDK 2.15 (`_error_classes.py`): the API could not confirm
            // that a request came from the organisation. The SDK documents it
            // for changes to API keys, which the exporter never makes, and
            // says resending is safe: the key is not at fault, so not `auth`
            // (whose fix is "check the key"). No reason of its own: the
            // operator's action is client_error's (the message and request id).
            Some("api_key_requester_unconfirmed") => ApiError::ClientError {
                endpoint,
                status,
                request_id,
                message: format!("{message}; the API could not confirm the request came from your organisation (api_key_requester_unconfirmed): the key is not at fault and the next refresh tries again; if it persists, give Anthropic support the request id"),
            },
            // Since SDK 2.16: the workspace is still being connected to its
            // storage ("try again in a minute"). A 503 that clears by itself:
            // server_error, retried like any, with the cause in the message.
            Some("storage_not_ready") => ApiError::by_status(
                endpoint,
                status,
                request_id,
                format!("{message}; the workspace is still being connected to its storage (storage_not_ready): it clears by itself, usually within a minute"),
            ),
            _ => ApiError::by_status(endpoint, status, request_id, message),
        }
    }

    /// The error a status stands for, when no `error_code` says more.
    fn by_status(
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

/// The `error_code`s of a spend limit: 429 for the organisation's own limits,
/// 402 for a linked organisation's (`_error_classes.py` ERROR_CLASSES).
const SPEND_LIMIT_CODES: [&str; 3] = [
    "enforced_spend_limit_reached",
    "contract_spend_limit_reached",
    "linked_organization_spend_limit_reached",
];

/// `text` with every one of `secrets` scrubbed from it.
fn scrub_all(text: &mut String, secrets: &[&Secret]) {
    for s in secrets {
        *text = scrub(text, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(status: u16, code: &str) -> ApiError {
        ApiError::from_status("work.list", status, Some(code), "req_1".into(), "m".into())
    }

    #[test]
    fn the_codes_new_since_sdk_2_14_keep_the_reason_of_what_the_operator_does() {
        let unconfirmed = from(403, "api_key_requester_unconfirmed");
        assert_eq!(
            (unconfirmed.reason(), unconfirmed.status()),
            ("client_error", Some(403))
        );
        assert!(
            unconfirmed.to_string().contains("the key is not at fault"),
            "{unconfirmed}"
        );
        assert_eq!(
            from(403, "permission_denied").reason(),
            "auth",
            "other 403s: the key"
        );
        let storage = from(503, "storage_not_ready");
        assert_eq!(
            (storage.reason(), storage.status()),
            ("server_error", Some(503))
        );
        assert!(
            storage.to_string().contains("clears by itself"),
            "{storage}"
        );
    }
}
