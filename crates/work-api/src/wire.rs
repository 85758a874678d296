//! The Environments Work API's JSON shapes, as the official SDK reads them.
//!
//! These owned types are what the simulator serves and what tools such as
//! `check-config --probe` print. The exporter's hot path decodes list pages
//! with the leaner borrowed types in `api::decode`, which skip `metadata` and
//! `secret` without allocating them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The beta header every request carries.
pub const BETA_HEADER: &str = "managed-agents-2026-04-01";
/// The `anthropic-version` SDK 2.14 sends (`anthropic/_constants.py`); `--api.version` pins another.
pub const API_VERSION: &str = "2026-10-21";
/// The version the 1.x SDKs sent, which the API still accepts.
pub const API_VERSION_1X: &str = "2023-06-01";
/// The largest page the list endpoints accept.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// The page size the list endpoints use when none is asked for.
pub const DEFAULT_PAGE_SIZE: u32 = 20;

/// A work item's lifecycle state. Unknown states decode to `Unknown` so a new
/// state on the server never fails a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkState {
    Queued,
    Starting,
    Active,
    Stopping,
    Stopped,
    #[serde(other)]
    Unknown,
}

impl WorkState {
    /// The five documented states, in lifecycle order.
    pub const KNOWN: [WorkState; 5] = [
        WorkState::Queued,
        WorkState::Starting,
        WorkState::Active,
        WorkState::Stopping,
        WorkState::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WorkState::Queued => "queued",
            WorkState::Starting => "starting",
            WorkState::Active => "active",
            WorkState::Stopping => "stopping",
            WorkState::Stopped => "stopped",
            WorkState::Unknown => "unknown",
        }
    }

    /// Index into a `[_; 5]` of the known states; `None` for `Unknown`.
    pub fn index(self) -> Option<usize> {
        match self {
            WorkState::Queued => Some(0),
            WorkState::Starting => Some(1),
            WorkState::Active => Some(2),
            WorkState::Stopping => Some(3),
            WorkState::Stopped => Some(4),
            WorkState::Unknown => None,
        }
    }
}

/// `data` of a work item: what the work is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkData {
    /// The session's id; absent on a healthcheck item.
    #[serde(default)]
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// A work item (`type: "work"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Work {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub environment_id: String,
    pub state: WorkState,
    pub created_at: String,
    pub acknowledged_at: Option<String>,
    pub started_at: Option<String>,
    pub latest_heartbeat_at: Option<String>,
    pub stop_requested_at: Option<String>,
    pub stopped_at: Option<String>,
    pub data: WorkData,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// A credential for the worker; filled only in poll responses. Never log it.
    #[serde(default)]
    pub secret: Option<String>,
}

/// One page of `GET /v1/environments/{id}/work` or `GET /v1/environments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_page: Option<String>,
}

/// `GET /v1/environments/{id}/work/stats` (`type: "work_queue_stats"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueStats {
    #[serde(rename = "type")]
    pub kind: String,
    pub depth: i64,
    pub pending: i64,
    pub oldest_queued_at: Option<String>,
    pub workers_polling: Option<i64>,
}

/// `POST …/work/{id}/heartbeat` response (`type: "work_heartbeat"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    #[serde(rename = "type")]
    pub kind: String,
    pub last_heartbeat: String,
    pub lease_extended: bool,
    pub state: WorkState,
    pub ttl_seconds: i64,
}

/// A work item's lease as the server holds it (the `current_state` of a 412).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseState {
    pub last_heartbeat: Option<String>,
    pub lease_extended: bool,
    pub state: WorkState,
    pub ttl_seconds: i64,
}

/// `config` of an environment; only `self_hosted` ones have a work queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentConfig {
    #[serde(rename = "type")]
    pub kind: String,
}

/// An environment (`type: "environment"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub description: Option<String>,
    pub config: EnvironmentConfig,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub created_at: String,
    pub updated_at: String,
    pub archived_at: Option<String>,
    /// `organization` (visible to every account) or `account` (only to the
    /// owning account); optional in the SDK's type, so absent decodes as `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The error envelope: `{"type":"error","error":{…},"request_id":"req_…"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub error: ErrorDetail,
    #[serde(default)]
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// The error `type` the API uses for an HTTP status.
pub fn error_type_for_status(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        409 => "conflict_error",
        // The SDK's `ErrorType` (types/shared/error_type.py) has no type for a
        // failed precondition outside memory stores; the cause is in
        // `details.error_code` (`heartbeat_precondition_failed`).
        412 => "invalid_request_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

/// Format a Unix time in milliseconds as RFC 3339 with microseconds and `Z`,
/// the shape the API uses.
pub fn format_timestamp_ms(unix_ms: i64) -> String {
    let nanos = i128::from(unix_ms) * 1_000_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => {
            let fmt = time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
            );
            t.format(&fmt).unwrap_or_default()
        }
        Err(_) => String::new(),
    }
}

/// Parse an RFC 3339 timestamp into Unix seconds (fractional).
pub fn parse_timestamp(s: &str) -> Option<f64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some(t.unix_timestamp_nanos() as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_state_decodes_to_unknown() {
        let s: WorkState = serde_json::from_str("\"paused\"").unwrap();
        assert_eq!(s, WorkState::Unknown);
    }

    #[test]
    fn timestamps_round_trip() {
        let s = format_timestamp_ms(1_780_000_000_123);
        assert!(s.ends_with('Z'), "{s}");
        let back = parse_timestamp(&s).unwrap();
        assert!((back - 1_780_000_000.123).abs() < 1e-6, "{back}");
    }
}
