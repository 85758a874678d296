//! `--metrics.*` checked into how every exposition is rendered: histogram
//! mode, the family filter, OpenMetrics `_created` samples, and the alert
//! thresholds of the config file.

use super::family_filter::FamilyFilter;
use super::ConfigError;
use crate::cli::{HistogramMode, MetricsArgs};

/// How every exposition is rendered (`--metrics.*`, and the config file's thresholds).
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    pub histograms: HistogramMode,
    pub families: FamilyFilter,
    /// OpenMetrics `_created` samples (`--metrics.openmetrics.created-samples`). Off by
    /// default: Prometheus 2.x prefers OpenMetrics and stores each `_created` sample as a
    /// series of its own (10 more per environment), so serving them by default would
    /// raise every existing user's series count on upgrade (client_golang makes the
    /// same choice with `EnableOpenMetricsTextCreatedSamples`).
    pub created_samples: bool,
    /// Alert thresholds from the config file, served as
    /// `anthropic_work_alert_threshold` and shown on the drill-down pages.
    pub thresholds: std::sync::Arc<crate::config::Thresholds>,
}

/// `--metrics.*`: how every exposition is rendered.
pub(super) fn from_args(
    args: &MetricsArgs,
    thresholds: super::Thresholds,
) -> Result<RenderOptions, ConfigError> {
    let families = FamilyFilter::new(&args.families_allow, &args.families_deny).map_err(|e| {
        let flag = if args.families_allow.iter().any(|a| a.contains(&e.pattern)) {
            "--metrics.families.allow"
        } else {
            "--metrics.families.deny"
        };
        ConfigError::new(
            flag,
            e.to_string(),
            "name families by their full names, e.g. anthropic_work_stop_seconds or process_*",
        )
    })?;
    Ok(RenderOptions {
        histograms: args.histograms,
        families,
        created_samples: args.created_samples,
        thresholds: std::sync::Arc::new(thresholds),
    })
}
