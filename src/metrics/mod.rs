//! Every metric the exporter serves. Per-environment series are rebuilt from
//! the snapshots at scrape time from one table (`families`: the place to add
//! one) by one loop (`environments`), with one `RenderContext`; the
//! exporter's own counters and histograms (`instruments`) are moved in place
//! in a `prometheus` registry, behind the verbs of `RequestObserver`,
//! `RefreshObserver` and `DiscoveryObserver`.

mod budget;
mod context;
mod environments;
pub mod families;
pub mod format;
mod instruments;
mod own;
pub mod protobuf;
pub mod serving;
pub mod shared;
pub mod text;

pub use context::RenderContext;
pub use environments::{render_environments, render_probe};
pub use format::Format;

use crate::config::Cadences;
use crate::config::RenderOptions;
use crate::discovery::DiscoveryObserver;
use crate::refresh::plan::Plan;
use crate::refresh::RefreshObserver;
use crate::snapshot::Store;
use prometheus::Registry;
use std::sync::Arc;
use std::time::Duration;
use work_api::RequestObserver;

/// The exporter's own instruments, and the bodies of `/metrics` shared between scrapes.
pub struct ExporterMetrics {
    registry: Registry,
    own: instruments::Instruments,
    /// The latest `/metrics` render, served again to scrapes within a second.
    shared: shared::Shared,
    /// How every exposition is rendered (`--metrics.*`, the alert thresholds).
    options: Arc<RenderOptions>,
    /// When the exporter's counters and histograms started (Unix seconds).
    started: f64,
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

impl ExporterMetrics {
    pub fn new(settings: &Settings) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let own = instruments::Instruments::new(&registry, settings)?;
        Ok(ExporterMetrics {
            registry,
            own,
            shared: shared::Shared::default(),
            options: Arc::default(),
            started: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        })
    }

    /// Render the own metrics with `options` (the default: both kinds of
    /// histogram, every family, no thresholds); a server's render contexts take them from here.
    pub fn with_options(mut self, options: RenderOptions) -> Self {
        self.options = Arc::new(options);
        self
    }

    pub fn options(&self) -> &Arc<RenderOptions> {
        &self.options
    }

    /// Say which shard this process is.
    pub fn set_shard(&self, shard: u32, total: u32) {
        self.own.shard_info.reset();
        self.own
            .shard_info
            .with_label_values(&[&shard.to_string(), &total.to_string()])
            .set(1.0);
    }

    /// The whole exposition in `ctx.format`: per-environment series, then the exporter's own.
    pub fn render(&self, store: &Store, ctx: &RenderContext) -> Vec<u8> {
        // About 8.3 KiB an environment in text with its id as the only label.
        let mut out = text::Exposition::new(ctx.format, &ctx.options, 4096 + store.len() * 9000);
        environments::write_environments(&mut out, store, None, ctx);
        self.write_own(&mut out);
        out.into_body()
    }

    /// The whole exposition written to `sink` in pieces: what a gzip scrape
    /// compresses without holding the text (8 MiB for a thousand
    /// environments) in memory.
    pub fn render_to(
        &self,
        sink: &mut dyn std::io::Write,
        store: &Store,
        ctx: &RenderContext,
    ) -> std::io::Result<()> {
        let mut out = text::Exposition::streaming_as(sink, ctx.format, &ctx.options);
        environments::write_environments(&mut out, store, None, ctx);
        self.write_own(&mut out);
        out.finish()
    }

    /// The body of a scrape, plain or gzipped, shared with other scrapes of
    /// the same format and encoding while that is safe, rendered off the
    /// runtime threads (see `shared`). `None` when compression failed.
    pub async fn exposition(
        self: &Arc<Self>,
        store: &Store,
        ctx: RenderContext,
        gzip: bool,
    ) -> Option<bytes::Bytes> {
        let generation = store.status_changes();
        let (now_ms, slot) = (ctx.now_ms, shared::slot(ctx.format, gzip));
        let (this, store) = (Arc::clone(self), store.clone());
        let render = move || {
            if !gzip {
                return Some(bytes::Bytes::from(this.render(&store, &ctx)));
            }
            crate::gzip::compress(64 * 1024, |w| this.render_to(w, &store, &ctx))
        };
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
        families.extend(self.own.ratelimit_family());
        own::write(out, &families, self.started);
    }
}

impl RequestObserver for ExporterMetrics {
    fn request_done(&self, endpoint: &'static str, code: &str, seconds: f64) {
        self.own
            .api_requests
            .with_label_values(&[endpoint, code])
            .inc();
        self.own
            .api_request_duration
            .with_label_values(&[endpoint])
            .observe(seconds);
    }

    fn ratelimit_remaining(&self, remaining: f64) {
        self.own.set_ratelimit_remaining(remaining);
    }

    fn budget_wait(&self, seconds: f64) {
        self.own.budget.wait.observe(seconds);
    }
}

impl DiscoveryObserver for ExporterMetrics {
    fn discovery_done(&self, found: usize) {
        if let Some(d) = &self.own.discovery {
            d.found.set(found as i64);
        }
    }

    fn discovery_failed(&self, reason: &'static str) {
        if let Some(d) = &self.own.discovery {
            d.failures.with_label_values(&[reason]).inc();
        }
    }
}

impl RefreshObserver for ExporterMetrics {
    fn refresh_done(&self, seconds: f64) {
        self.own.refresh_duration.observe(seconds);
    }

    fn plan(&self, plan: &Plan) {
        self.own.budget.plan(plan);
    }
}
