//! Which exposition format a scrape gets, chosen from its `Accept` header
//! with q-values, and the options every format is rendered with
//! (`--metrics.histograms`, `--metrics.families.allow`/`deny`).
//!
//! Prometheus says what it takes: 2.42 with `--enable-feature=native-histograms`
//! asks for protobuf first (the only format that carries native histograms),
//! without it for OpenMetrics text first; anything else that names no format
//! we serve (curl, an `Accept: application/json`) gets text 0.0.4, as the
//! official Go client does, rather than a 406 a dashboard cannot read.

/// An exposition format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text 0.0.4: the default.
    #[default]
    Text,
    /// OpenMetrics 1.0 text: `# EOF`, `_created`, `# UNIT`.
    OpenMetrics,
    /// Length-delimited `io.prometheus.client.MetricFamily` messages: the
    /// only format with native histograms.
    Protobuf,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Text, Format::OpenMetrics, Format::Protobuf];

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Protobuf => "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
        }
    }

    /// A small number per format, for tables indexed by format.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The format an `Accept` header value asks for: the acceptable entry
    /// with the highest q-value (the first of equals), text when none is.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let mut best: Option<(f64, Format)> = None;
        for entry in accept.unwrap_or("").split(',') {
            let Some((format, q)) = read_entry(entry) else {
                continue;
            };
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, format));
            }
        }
        best.map_or(Format::Text, |(_, f)| f)
    }
}

/// One `Accept` entry: the format it names (if one we serve) and its q-value.
fn read_entry(entry: &str) -> Option<(Format, f64)> {
    let mut parts = entry.split(';');
    let media = parts.next()?.trim().to_ascii_lowercase();
    let mut q = 1.0;
    let (mut version, mut proto, mut encoding) = (None, None, None);
    for p in parts {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').to_string();
        match k.trim().to_ascii_lowercase().as_str() {
            // A malformed q-value is read as a refusal, never as a yes.
            "q" => q = v.parse::<f64>().unwrap_or(0.0),
            "version" => version = Some(v),
            "proto" => proto = Some(v),
            "encoding" => encoding = Some(v),
            _ => {}
        }
    }
    let format = match media.as_str() {
        "application/vnd.google.protobuf"
            if proto.as_deref() == Some("io.prometheus.client.MetricFamily")
                && encoding.as_deref() == Some("delimited") =>
        {
            Format::Protobuf
        }
        // 0.0.1 is the draft Prometheus also asks for; 1.0.0 reads the same.
        "application/openmetrics-text"
            if matches!(version.as_deref(), None | Some("1.0.0") | Some("0.0.1")) =>
        {
            Format::OpenMetrics
        }
        "text/plain" if matches!(version.as_deref(), None | Some("0.0.4")) => Format::Text,
        "*/*" | "text/*" => Format::Text,
        _ => return None,
    };
    Some((format, q))
}

use crate::cli::HistogramMode;

impl HistogramMode {
    /// Whether the fixed buckets are written in `format`.
    pub fn classic_in(self, _format: Format) -> bool {
        self != HistogramMode::Native
    }

    /// Whether the native buckets are written in `format`.
    pub fn native_in(self, format: Format) -> bool {
        format == Format::Protobuf && self != HistogramMode::Classic
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMETHEUS_NATIVE: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.8,application/openmetrics-text;version=1.0.0;q=0.7,text/plain;version=0.0.4;q=0.6,*/*;q=0.5";
    const PROMETHEUS_CLASSIC: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn prometheus_gets_protobuf_with_native_histograms_and_openmetrics_without() {
        assert_eq!(Format::negotiate(Some(PROMETHEUS_NATIVE)), Format::Protobuf);
        assert_eq!(
            Format::negotiate(Some(PROMETHEUS_CLASSIC)),
            Format::OpenMetrics
        );
    }

    #[test]
    fn q_values_decide_and_text_is_the_fallback() {
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("application/json")), Format::Text);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(
            Format::negotiate(Some(
                "text/plain;q=0.9, application/openmetrics-text; version=1.0.0; q=0.2"
            )),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0, text/plain;q=0.1")),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text; version=\"1.0.0\"")),
            Format::OpenMetrics
        );
        // Protobuf without the delimited encoding is not the format we write.
        assert_eq!(
            Format::negotiate(Some(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily"
            )),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some("text/plain;version=0.0.5")),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=2.0.0, text/plain;q=0.1"
            )),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=oops")),
            Format::Text
        );
    }

    #[test]
    fn native_buckets_go_only_into_protobuf() {
        assert!(HistogramMode::Both.native_in(Format::Protobuf));
        assert!(!HistogramMode::Both.native_in(Format::OpenMetrics));
        assert!(HistogramMode::Both.classic_in(Format::Text));
        assert!(!HistogramMode::Native.classic_in(Format::Protobuf));
        assert!(!HistogramMode::Classic.native_in(Format::Protobuf));
    }
}
