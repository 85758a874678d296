//! Pages for people: the landing page and the per-environment drill-down
//! (HTML, or JSON with `Accept: application/json`). They name the work items
//! behind alert conditions, which metrics cannot (ids as labels would explode
//! cardinality). No secret and no metadata is ever shown: the snapshot holds neither.

pub mod drilldown;
pub mod landing;

use work_api::wire::format_timestamp_ms;

/// Escape text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// RFC 3339 for a Unix millisecond time, or "-".
pub fn when(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_string(), format_timestamp_ms)
}

/// Seconds from `ms` to `now_ms`, never negative.
pub fn age_secs(now_ms: i64, ms: Option<i64>) -> Option<f64> {
    ms.map(|t| ((now_ms - t).max(0) as f64) / 1000.0)
}

pub(crate) const STYLE: &str = "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#f3f3f3}.down{color:#b00;font-weight:bold}.up{color:#070}code{background:#f6f6f6;padding:0 .2em}</style>";
