//! When to try a request again: the attempt limit, exponential backoff with
//! jitter, and the server's own `retry-after-ms` / `retry-after` advice.

use super::ApiError;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::time::Duration;

pub(super) const MAX_ATTEMPTS: u32 = 4;
pub(super) const BACKOFF_BASE: Duration = Duration::from_millis(500);
pub(super) const BACKOFF_MAX: Duration = Duration::from_secs(8);

pub(super) fn header_str<'a>(
    headers: &'a reqwest::header::HeaderMap,
    name: &str,
) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// `retry-after-ms`, then `retry-after` (seconds, fractional, or an HTTP date), capped at a minute.
pub(super) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let cap = 60.0;
    if let Some(ms) = header_str(headers, "retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_secs_f64((ms / 1000.0).min(cap)));
        }
    }
    let value = header_str(headers, "retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(cap)));
        }
        return None;
    }
    let when = httpdate::parse_http_date(value).ok()?;
    let wait = when
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    Some(wait.min(Duration::from_secs_f64(cap)))
}

/// The server's `x-should-retry`, when it says.
pub(super) fn should_retry(headers: &reqwest::header::HeaderMap) -> Option<bool> {
    match header_str(headers, "x-should-retry") {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    }
}

/// Whether a failed attempt is tried again (the attempt limit and deadline
/// aside), by the SDK's rules (`_base_client.py` `_should_retry`), the
/// server's `x-should-retry` first.
pub(super) fn retryable(error: &ApiError, should_retry: Option<bool>) -> bool {
    match error {
        // The error code says retrying cannot clear it, whatever the headers say.
        ApiError::SpendLimit { .. } | ApiError::OrganizationOnHold { .. } => false,
        error => should_retry.unwrap_or(match error {
            ApiError::RateLimited { .. }
            | ApiError::Overloaded { .. }
            | ApiError::Connect { .. }
            | ApiError::Timeout { .. } => true,
            // A redirect (3xx, refused) is configuration, not a passing fault.
            ApiError::ServerError { status, .. } => *status >= 500,
            // 408 (request timeout) and 409 (lock timeout), as the SDK does.
            ApiError::ClientError { status, .. } => matches!(status, 408 | 409),
            _ => false,
        }),
    }
}

/// Exponential backoff with full jitter: a random wait in [base·2ⁿ/2, base·2ⁿ].
pub(super) fn backoff(attempt: u32) -> Duration {
    let exp = BACKOFF_BASE
        .saturating_mul(1 << attempt.saturating_sub(1).min(6))
        .min(BACKOFF_MAX);
    exp.mul_f64(0.5 + 0.5 * jitter())
}

/// A number in [0, 1), different on every call (no RNG crate needed for this).
pub fn jitter() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn retry_after_ms_wins_over_retry_after() {
        let mut h = HeaderMap::new();
        h.insert("retry-after-ms", HeaderValue::from_static("1500"));
        h.insert("retry-after", HeaderValue::from_static("9"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn retry_after_accepts_fractional_seconds_and_caps_at_a_minute() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("0.25"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        h.insert("retry-after", HeaderValue::from_static("3600"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(60)));
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        for attempt in 1..10 {
            let d = backoff(attempt);
            assert!(d <= BACKOFF_MAX, "{d:?}");
            assert!(d >= BACKOFF_BASE / 2, "{d:?}");
        }
        assert!(backoff(5) > backoff(1));
    }
}
