//! What one render needs besides the store, in one value: the scrape's time,
//! the settings that turn stored timestamps into ages and staleness, where
//! drill-down links point, and how the exposition is written.

use super::Format;
use crate::config::RenderOptions;
use crate::config::StaleAfter;
use std::sync::Arc;
use std::time::Duration;

/// The one context of a render: `/metrics`, `/probe`, tests and benchmarks
/// all build one and pass it whole, so a new setting is one field here.
/// Cheap to clone (a scrape sends it to the blocking pool).
#[derive(Debug, Clone)]
pub struct RenderContext {
    /// The scrape's time (Unix ms): every age is computed against it.
    pub now_ms: i64,
    /// `--lease.ttl`: heartbeats older than this count as expired leases.
    pub lease_ttl: Duration,
    /// `--refresh.stale-after`: how long a part's series outlive a failed refresh.
    pub stale_after: StaleAfter,
    /// Base of the drill-down links (`--web.external-url`).
    pub drilldown_base: Arc<str>,
    pub format: Format,
    /// Histogram mode, family filter, `_created` samples, alert thresholds.
    pub options: Arc<RenderOptions>,
}

impl Default for RenderContext {
    /// Text 0.0.4 at time 0 with the flags' defaults (300 s lease, stale after
    /// 90 s) and every option at its default: tests start here.
    fn default() -> Self {
        RenderContext {
            now_ms: 0,
            lease_ttl: Duration::from_secs(300),
            stale_after: StaleAfter::fixed(Duration::from_secs(90)),
            drilldown_base: Arc::from("http://localhost:9781"),
            format: Format::Text,
            options: Arc::default(),
        }
    }
}

impl RenderContext {
    pub(super) fn lease_ttl_ms(&self) -> i64 {
        self.lease_ttl.as_millis() as i64
    }
}
