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

/// A duration in seconds as people read it: `45s`, `3m 20s`, `2h 05m`, `3d 4h`.
pub fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m {:02}s", s / 60, s % 60),
        3_600..86_400 => format!("{}h {:02}m", s / 3_600, s % 3_600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3_600),
    }
}

/// How long before `now_ms` an RFC 3339 time was, with the time itself in
/// the title (shown on hover): `<span title="2026-…Z">3m 20s</span>`; "-"
/// for none.
pub fn ago(now_ms: i64, ts: Option<&str>) -> String {
    let Some(ts) = ts.filter(|t| *t != "-") else {
        return "-".into();
    };
    let shown = work_api::decode::timestamp_ms(ts).map_or_else(
        || esc(ts),
        |t| duration(((now_ms - t).max(0)) as f64 / 1000.0),
    );
    format!("<span title=\"{}\">{shown}</span>", esc(ts))
}

pub(crate) const STYLE: &str = "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0;max-width:100%}td{white-space:nowrap}td:has(code){white-space:normal;overflow-wrap:anywhere}span[title]{text-decoration:underline dotted}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#f3f3f3}.down{color:#b00;font-weight:bold}.up{color:#070}code{background:#f6f6f6;padding:0 .2em}</style>";
