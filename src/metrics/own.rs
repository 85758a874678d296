//! The exporter's own metrics (the `prometheus` crate registry) written
//! through the one exposition writer, so they take every format, the family
//! filter and OpenMetrics `_created` like the per-environment families.
//!
//! Their two histograms (API request and refresh durations) stay classic:
//! the crate has no native histograms, they are a handful of series per
//! process rather than per environment (nothing to save), and their range
//! (10 ms to a minute) is known in advance, which is what fixed buckets need.

use super::text::{Buckets, Exposition, Kind};
use prometheus::proto::{MetricFamily, MetricType};

/// Write `families` (from `Registry::gather`); `created` is when the
/// exporter's counters and histograms started (Unix seconds).
pub fn write(out: &mut Exposition<'_>, families: &[MetricFamily], created: f64) {
    for family in families {
        let name = family.get_name();
        let kind = match family.get_field_type() {
            MetricType::COUNTER => Kind::Counter,
            MetricType::HISTOGRAM => Kind::Histogram,
            // The registry holds no summaries or untyped metrics; as gauges
            // they would still read right.
            _ => Kind::Gauge,
        };
        out.header(name, kind, family.get_help());
        let mut buckets: Option<Buckets> = None;
        for m in family.get_metric() {
            let labels: Vec<(&str, &str)> = m
                .get_label()
                .iter()
                .map(|l| (l.get_name(), l.get_value()))
                .collect();
            match kind {
                Kind::Counter => out.counter(
                    name,
                    &labels,
                    &[],
                    m.get_counter().get_value(),
                    Some(created),
                ),
                Kind::Gauge => out.sample(name, &labels, &[], m.get_gauge().get_value()),
                Kind::Histogram => {
                    let h = m.get_histogram();
                    let bounds: Vec<f64> =
                        h.get_bucket().iter().map(|b| b.get_upper_bound()).collect();
                    let le = buckets.get_or_insert_with(|| Buckets::new(&bounds));
                    let mut counts = Vec::with_capacity(bounds.len() + 1);
                    let mut below = 0;
                    for b in h.get_bucket() {
                        counts.push(b.get_cumulative_count().saturating_sub(below));
                        below = b.get_cumulative_count();
                    }
                    counts.push(h.get_sample_count().saturating_sub(below));
                    out.classic_histogram(
                        le,
                        name,
                        &labels,
                        &counts,
                        (h.get_sample_sum(), h.get_sample_count()),
                        Some(created),
                    );
                }
            }
        }
    }
}
