//! The exporter's own instruments (one series per process, not per
//! environment), registered in a `prometheus` registry and moved in place by
//! the observer verbs of `ExporterMetrics`.

use super::budget::BudgetInstruments;
use super::Settings;
use prometheus::proto::{Metric, MetricFamily, MetricType};
use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts,
    Registry,
};
use std::sync::atomic::{AtomicBool, Ordering};
use work_api::ApiError;

pub(super) const BUILD_REVISION: &str = match option_env!("WORK_EXPORTER_REVISION") {
    Some(r) => r,
    None => "unknown",
};

const RATELIMIT_NAME: &str = "anthropic_work_exporter_api_ratelimit_remaining";
const RATELIMIT_HELP: &str =
    "Last anthropic-ratelimit-requests-remaining the API sent; absent until it sends one.";

pub(super) struct Instruments {
    pub(super) api_requests: IntCounterVec,
    pub(super) api_request_duration: HistogramVec,
    pub(super) refresh_duration: Histogram,
    pub(super) budget: BudgetInstruments,
    /// Kept out of the registry: served only once the API has sent a value.
    ratelimit_remaining: Gauge,
    ratelimit_seen: AtomicBool,
    pub(super) shard_info: GaugeVec,
    /// Registered only when discovery is on.
    pub(super) discovery: Option<DiscoveryInstruments>,
    /// The exporter's own HTTP serving.
    pub(super) serving: super::serving::Serving,
}

pub(super) struct DiscoveryInstruments {
    pub(super) failures: IntCounterVec,
    pub(super) found: IntGauge,
}

impl Instruments {
    pub(super) fn new(registry: &Registry, settings: &Settings) -> prometheus::Result<Self> {
        let api_requests = IntCounterVec::new(Opts::new("anthropic_work_exporter_api_requests_total", "HTTP requests made to the API, by endpoint and status code (timeout/connect when none came back)."), &["endpoint", "code"])?;
        let api_request_duration = HistogramVec::new(
            HistogramOpts::new(
                "anthropic_work_exporter_api_request_duration_seconds",
                "Duration of HTTP requests to the API, by endpoint.",
            )
            .buckets(vec![
                0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["endpoint"],
        )?;
        let refresh_duration = Histogram::with_opts(
            HistogramOpts::new("anthropic_work_exporter_refresh_duration_seconds", "Wall time of one environment refresh (stats, the whole list walk, or both; waiting for the budget and retries included).").buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]),
        )?;
        let shard_info = GaugeVec::new(
            Opts::new(
                "anthropic_work_exporter_shard_info",
                "Always 1; which shard of how many this process is.",
            ),
            &["shard", "total_shards"],
        )?;
        shard_info.with_label_values(&["0", "1"]).set(1.0);
        registry.register(Box::new(api_requests.clone()))?;
        registry.register(Box::new(api_request_duration.clone()))?;
        registry.register(Box::new(refresh_duration.clone()))?;
        registry.register(Box::new(shard_info.clone()))?;
        register_settings(registry, settings)?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Instruments {
            api_requests,
            api_request_duration,
            refresh_duration,
            budget: BudgetInstruments::new(registry, settings.cadences)?,
            ratelimit_remaining: Gauge::new(RATELIMIT_NAME, RATELIMIT_HELP)?,
            ratelimit_seen: AtomicBool::new(false),
            shard_info,
            discovery: match settings.discovery {
                true => Some(DiscoveryInstruments::new(registry)?),
                false => None,
            },
            serving: super::serving::Serving::new(registry)?,
        })
    }

    pub(super) fn set_ratelimit_remaining(&self, remaining: f64) {
        self.ratelimit_remaining.set(remaining);
        self.ratelimit_seen.store(true, Ordering::Relaxed);
    }

    /// The rate-limit gauge as a family, once the API has sent a value.
    pub(super) fn ratelimit_family(&self) -> Option<MetricFamily> {
        if !self.ratelimit_seen.load(Ordering::Relaxed) {
            return None;
        }
        let mut family = MetricFamily::default();
        family.set_name(RATELIMIT_NAME.into());
        family.set_help(RATELIMIT_HELP.into());
        family.set_field_type(MetricType::GAUGE);
        let mut m = Metric::default();
        let mut g = prometheus::proto::Gauge::default();
        g.set_value(self.ratelimit_remaining.get());
        m.set_gauge(g);
        family.mut_metric().push(m);
        Some(family)
    }
}

/// What the exporter is configured with and built from, as constant gauges.
fn register_settings(registry: &Registry, settings: &Settings) -> prometheus::Result<()> {
    let budget = Gauge::new(
        "anthropic_work_exporter_api_budget_requests_per_second",
        "Configured request budget (--api.max-requests-per-second).",
    )?;
    budget.set(settings.budget_rps);
    let lease_ttl = Gauge::new("anthropic_work_exporter_lease_ttl_seconds", "Configured lease TTL (--lease.ttl) that anthropic_work_leases_expired is measured against.")?;
    lease_ttl.set(settings.lease_ttl.as_secs_f64());
    let build_info = GaugeVec::new(
        Opts::new(
            "anthropic_work_exporter_build_info",
            "Always 1; the exporter's version and source revision.",
        ),
        &["version", "revision"],
    )?;
    build_info
        .with_label_values(&[env!("CARGO_PKG_VERSION"), BUILD_REVISION])
        .set(1.0);
    registry.register(Box::new(budget))?;
    registry.register(Box::new(lease_ttl))?;
    registry.register(Box::new(build_info))
}

impl DiscoveryInstruments {
    fn new(registry: &Registry) -> prometheus::Result<Self> {
        let failures = IntCounterVec::new(
            Opts::new(
                "anthropic_work_exporter_discovery_failures_total",
                "Failed environment discoveries, by reason; the last known set is kept.",
            ),
            &["reason"],
        )?;
        for reason in ApiError::REASONS {
            failures.with_label_values(&[reason]);
        }
        let found = IntGauge::new(
            "anthropic_work_exporter_discovered_environments",
            "Environments the last successful discovery kept after filters, across all shards.",
        )?;
        registry.register(Box::new(failures.clone()))?;
        registry.register(Box::new(found.clone()))?;
        Ok(DiscoveryInstruments { failures, found })
    }
}
