//! Every metric the exporter serves. Per-environment series are rebuilt from
//! the snapshots at scrape time (`families`); the exporter's own counters and
//! histograms are instrumented in place in a `prometheus` registry, behind the
//! verbs of `RequestObserver` and `RefreshObserver`.

mod budget;
mod environments;
pub mod families;
pub mod filter;
pub mod format;
mod own;
pub mod protobuf;
pub mod shared;
pub mod text;

use environments::render_some_into;
pub use environments::{render_environments, render_probe, render_probe_as};
pub use format::{Format, HistogramMode, Options};

use crate::config::{Cadences, StaleAfter};
use crate::discovery::DiscoveryObserver;
use crate::refresh::plan::Plan;
use crate::refresh::RefreshObserver;
use crate::snapshot::Store;
use prometheus::{
    Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
};
use std::sync::Arc;
use std::time::Duration;
use work_api::{ApiError, RequestObserver};

/// The exporter's own instruments.
pub struct ExporterMetrics {
    registry: Registry,
    api_requests: IntCounterVec,
    api_request_duration: HistogramVec,
    refresh_duration: prometheus::Histogram,
    budget: budget::BudgetInstruments,
    ratelimit_remaining: Gauge,
    ratelimit_seen: std::sync::atomic::AtomicBool,
    shard_info: GaugeVec,
    /// Registered only when discovery is on.
    discovery: Option<DiscoveryInstruments>,
    /// The latest `/metrics` render, served again to scrapes within a second.
    shared: shared::Shared,
    /// How every exposition is rendered (`--metrics.histograms`, the family filter).
    options: Options,
    /// When the exporter's counters and histograms started (Unix seconds).
    started: f64,
}

struct DiscoveryInstruments {
    failures: IntCounterVec,
    found: IntGauge,
}

impl std::fmt::Debug for ExporterMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExporterMetrics")
    }
}

/// What the exporter is configured with, reported as constant gauges.
#[derive(Debug, Clone)]
pub struct Settings {
    pub budget_rps: f64,
    pub cadences: Cadences,
    pub lease_ttl: Duration,
    /// Whether environments are discovered (adds the discovery metrics).
    pub discovery: bool,
}

const BUILD_REVISION: &str = match option_env!("WORK_EXPORTER_REVISION") {
    Some(r) => r,
    None => "unknown",
};

impl ExporterMetrics {
    pub fn new(settings: &Settings) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
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
        let refresh_duration = prometheus::Histogram::with_opts(
            HistogramOpts::new("anthropic_work_exporter_refresh_duration_seconds", "Wall time of one environment refresh (stats, the whole list walk, or both; waiting for the budget and retries included).").buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0]),
        )?;
        let budget_instruments = budget::BudgetInstruments::new(&registry, settings.cadences)?;
        let budget = Gauge::new(
            "anthropic_work_exporter_api_budget_requests_per_second",
            "Configured request budget (--api.max-requests-per-second).",
        )?;
        budget.set(settings.budget_rps);
        let lease_ttl = Gauge::new("anthropic_work_exporter_lease_ttl_seconds", "Configured lease TTL (--lease.ttl) that anthropic_work_leases_expired is measured against.")?;
        lease_ttl.set(settings.lease_ttl.as_secs_f64());
        let ratelimit_remaining = Gauge::new(
            "anthropic_work_exporter_api_ratelimit_remaining",
            "Last anthropic-ratelimit-requests-remaining the API sent; absent until it sends one.",
        )?;
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
        registry.register(Box::new(budget))?;
        registry.register(Box::new(lease_ttl))?;
        registry.register(Box::new(build_info))?;
        registry.register(Box::new(shard_info.clone()))?;
        let discovery = if settings.discovery {
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
            Some(DiscoveryInstruments { failures, found })
        } else {
            None
        };
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(ExporterMetrics {
            registry,
            api_requests,
            api_request_duration,
            refresh_duration,
            budget: budget_instruments,
            ratelimit_remaining,
            ratelimit_seen: std::sync::atomic::AtomicBool::new(false),
            shard_info,
            discovery,
            shared: shared::Shared::default(),
            options: Options::default(),
            started: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        })
    }

    /// Render every exposition with `options` (the default: both kinds of
    /// histogram, every family).
    pub fn with_options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Say which shard this process is.
    pub fn set_shard(&self, shard: u32, total: u32) {
        self.shard_info.reset();
        self.shard_info
            .with_label_values(&[&shard.to_string(), &total.to_string()])
            .set(1.0);
    }

    /// The whole exposition in text 0.0.4: per-environment series, then the exporter's own.
    pub fn render(
        &self,
        store: &Store,
        now_ms: i64,
        lease_ttl: Duration,
        stale_after: StaleAfter,
        drilldown_base: &str,
    ) -> String {
        let body = self.render_as(
            Format::Text,
            store,
            now_ms,
            lease_ttl,
            stale_after,
            drilldown_base,
        );
        String::from_utf8_lossy(&body).into_owned()
    }

    /// The whole exposition in `format`.
    pub fn render_as(
        &self,
        format: Format,
        store: &Store,
        now_ms: i64,
        lease_ttl: Duration,
        stale_after: StaleAfter,
        drilldown_base: &str,
    ) -> Vec<u8> {
        // About 8.3 KiB an environment in text with its id as the only label.
        let mut out = text::Exposition::new(format, &self.options, 4096 + store.len() * 9000);
        render_some_into(
            &mut out,
            store,
            None,
            now_ms,
            lease_ttl,
            stale_after,
            drilldown_base,
        );
        self.write_own(&mut out);
        out.into_body()
    }

    /// The whole exposition in `format` written to `sink` in pieces: what a
    /// gzip scrape compresses without holding the text (8 MiB for a thousand
    /// environments) in memory.
    #[allow(clippy::too_many_arguments)]
    pub fn render_to(
        &self,
        sink: &mut dyn std::io::Write,
        format: Format,
        store: &Store,
        now_ms: i64,
        lease_ttl: Duration,
        stale_after: StaleAfter,
        drilldown_base: &str,
    ) -> std::io::Result<()> {
        let mut out = text::Exposition::streaming_as(sink, format, &self.options);
        render_some_into(
            &mut out,
            store,
            None,
            now_ms,
            lease_ttl,
            stale_after,
            drilldown_base,
        );
        self.write_own(&mut out);
        out.finish()
    }

    /// The body of a scrape in `format`, plain or gzipped, shared with other
    /// scrapes of the same format and encoding while that is safe, rendered
    /// off the runtime threads (see `shared`). `None` when compression failed.
    #[allow(clippy::too_many_arguments)]
    pub async fn exposition(
        self: &Arc<Self>,
        store: &Store,
        now_ms: i64,
        lease_ttl: Duration,
        stale_after: StaleAfter,
        drilldown_base: &str,
        format: Format,
        gzip: bool,
    ) -> Option<bytes::Bytes> {
        let generation = store.status_changes();
        let (this, store, base) = (Arc::clone(self), store.clone(), drilldown_base.to_string());
        let render = move || {
            if !gzip {
                let body = this.render_as(format, &store, now_ms, lease_ttl, stale_after, &base);
                return Some(bytes::Bytes::from(body));
            }
            crate::gzip::compress(64 * 1024, |w| {
                this.render_to(w, format, &store, now_ms, lease_ttl, stale_after, &base)
            })
        };
        let slot = shared::slot(format, gzip);
        self.shared.get(now_ms, generation, slot, render).await
    }

    /// The exporter's own metrics alone in text 0.0.4.
    pub fn render_own(&self) -> String {
        String::from_utf8_lossy(&self.render_own_as(Format::Text)).into_owned()
    }

    /// The exporter's own metrics alone (what `/metrics` serves with `--probe.only`).
    pub fn render_own_as(&self, format: Format) -> Vec<u8> {
        let mut out = text::Exposition::new(format, &self.options, 16 * 1024);
        self.write_own(&mut out);
        out.into_body()
    }

    fn write_own(&self, out: &mut text::Exposition<'_>) {
        let mut families = self.registry.gather();
        if self
            .ratelimit_seen
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            let mut g = prometheus::proto::MetricFamily::default();
            g.set_name("anthropic_work_exporter_api_ratelimit_remaining".into());
            g.set_help("Last anthropic-ratelimit-requests-remaining the API sent; absent until it sends one.".into());
            g.set_field_type(prometheus::proto::MetricType::GAUGE);
            let mut m = prometheus::proto::Metric::default();
            let mut gv = prometheus::proto::Gauge::default();
            gv.set_value(self.ratelimit_remaining.get());
            m.set_gauge(gv);
            g.mut_metric().push(m);
            families.push(g);
        }
        own::write(out, &families, self.started);
    }
}

impl RequestObserver for ExporterMetrics {
    fn request_done(&self, endpoint: &'static str, code: &str, seconds: f64) {
        self.api_requests.with_label_values(&[endpoint, code]).inc();
        self.api_request_duration
            .with_label_values(&[endpoint])
            .observe(seconds);
    }

    fn ratelimit_remaining(&self, remaining: f64) {
        self.ratelimit_remaining.set(remaining);
        self.ratelimit_seen
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn budget_wait(&self, seconds: f64) {
        self.budget.wait.observe(seconds);
    }
}

impl DiscoveryObserver for ExporterMetrics {
    fn discovery_done(&self, found: usize) {
        if let Some(d) = &self.discovery {
            d.found.set(found as i64);
        }
    }

    fn discovery_failed(&self, reason: &'static str) {
        if let Some(d) = &self.discovery {
            d.failures.with_label_values(&[reason]).inc();
        }
    }
}

impl RefreshObserver for ExporterMetrics {
    fn refresh_done(&self, seconds: f64) {
        self.refresh_duration.observe(seconds);
    }

    fn plan(&self, plan: &Plan) {
        self.budget.plan(plan);
    }
}
