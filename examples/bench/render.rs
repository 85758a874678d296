//! What one `/metrics` render costs, in process and on one thread: a store of
//! `environments` snapshots folded from the simulator's real pages, rendered
//! as the server does (plain; gzip rendered into the compressor), timed with the
//! thread's CPU clock. No HTTP, no contention: the exporter's own work per scrape.

use crate::floor::{timed, Sample};
use serde::Serialize;
use std::time::Duration;
use work_exporter::cli::HistogramMode;
use work_exporter::config::Environment;
use work_exporter::config::RenderOptions;
use work_exporter::metrics::{ExporterMetrics, Format, RenderContext, Settings};
use work_exporter::refresh::fold::{Fold, Tracker};
use work_exporter::snapshot::{Lifecycle, QueueSnapshot, Snapshot, Store};
use work_sim::Credentials;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct RenderCost {
    pub plain_ms: f64,
    pub gzip_ms: f64,
    pub bytes: usize,
    pub gzip_bytes: usize,
}

/// One environment's snapshot folded from `pages`, as a refresh leaves it.
pub fn fold_snapshot(pages: &[bytes::Bytes], now_ms: i64) -> (Snapshot, Lifecycle) {
    let tracker = Tracker::new(now_ms);
    let mut fold = Fold::new(&tracker, now_ms);
    for b in pages {
        let _ = work_api::decode::work_page_each(b, |row| fold.add(&row));
    }
    let (work, delta, _) = fold.finish(false, pages.len() as u32);
    let queue = QueueSnapshot {
        depth: 800,
        pending: 200,
        workers_polling: Some(0),
        oldest_queued_at_ms: Some(now_ms - 60_000),
    };
    (Snapshot::whole(queue, work, now_ms), delta)
}

/// A gzip scrape as the server renders it: straight into the compressor.
pub fn gzip_scrape(metrics: &ExporterMetrics, store: &Store, now_ms: i64) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let ctx = RenderContext {
        now_ms,
        ..RenderContext::default()
    };
    let _ = metrics.render_to(&mut enc, store, &ctx);
    enc.finish().unwrap_or_default()
}

/// A store of one environment per credential, each folded from the sample's
/// pages (round robin), as a refresh would leave it.
pub fn build_store(creds: &Credentials, sample: &Sample, now_ms: i64) -> Store {
    let envs: Vec<Environment> = creds
        .environments
        .iter()
        .map(|e| Environment {
            id: e.id.clone(),
            name: e.id.clone(),
            labels: Default::default(),
            key: None,
            scope: Default::default(),
            cadence: Default::default(),
        })
        .collect();
    let store = Store::default();
    store.set_environments(&envs);
    for (i, e) in envs.iter().enumerate() {
        let (snapshot, delta) = fold_snapshot(&sample.pages[i % sample.pages.len()], now_ms);
        store.commit_success(&e.id, snapshot, &delta);
    }
    store
}

/// The exporter's own instruments, as a 30 s deployment sets them up.
pub fn exporter_metrics() -> ExporterMetrics {
    ExporterMetrics::new(&Settings {
        budget_rps: 5.0,
        cadences: work_exporter::config::Cadences::every(Duration::from_secs(30)),
        lease_ttl: Duration::from_secs(90),
        discovery: false,
    })
    .expect("the exporter's metrics")
}

pub fn measure(creds: &Credentials, sample: &Sample) -> RenderCost {
    let now_ms = work_api::clock::Clock::now_ms(&work_api::clock::SystemClock);
    let store = build_store(creds, sample, now_ms);
    let metrics = exporter_metrics();
    let ctx = RenderContext {
        now_ms,
        ..RenderContext::default()
    };
    let render = || metrics.render(&store, &ctx);
    let text = render();
    let gzip = || gzip_scrape(&metrics, &store, now_ms);
    let gzip_bytes = gzip().len();
    let plain = timed(|| {
        std::hint::black_box(render());
    });
    let gzipped = timed(|| {
        std::hint::black_box(gzip());
    });
    RenderCost {
        plain_ms: plain * 1e3,
        gzip_ms: gzipped * 1e3,
        bytes: text.len(),
        gzip_bytes,
    }
}

/// One format's cost at one size.
#[derive(Debug, Clone, Serialize)]
pub struct FormatCost {
    pub format: String,
    pub histograms: String,
    pub bytes: usize,
    pub gzip_bytes: usize,
    pub plain_ms: f64,
    pub gzip_ms: f64,
}

/// Every format (and the native-only mode of protobuf) rendered from one
/// store whose lifecycle histograms are filled: each environment gets 500
/// observations per histogram spread log-uniformly over 0.5 s to 2 h, the
/// widest spread (most native buckets, about 110) a queue is likely to show.
pub fn measure_formats(creds: &Credentials, sample: &Sample) -> Vec<FormatCost> {
    let now_ms = work_api::clock::Clock::now_ms(&work_api::clock::SystemClock);
    let store = build_store(creds, sample, now_ms);
    let mut spread = Lifecycle::default();
    let mut x: u64 = 1;
    for _ in 0..500 {
        // A fixed linear congruential sequence: the same spread every run.
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let v = 0.5 * (14_400f64).powf((x >> 11) as f64 / (1u64 << 53) as f64);
        for h in [
            &mut spread.queue_wait,
            &mut spread.startup,
            &mut spread.run,
            &mut spread.stop,
        ] {
            h.observe(v);
        }
    }
    for e in &creds.environments {
        let snapshot = store
            .read()
            .get(&e.id)
            .and_then(|s| s.snapshot.as_deref().cloned());
        if let Some(snapshot) = snapshot {
            store.commit_success(&e.id, snapshot, &spread);
        }
    }
    let settings = Settings {
        budget_rps: 5.0,
        cadences: work_exporter::config::Cadences::every(Duration::from_secs(30)),
        lease_ttl: Duration::from_secs(90),
        discovery: false,
    };
    // The last row: the first without the pick-up SLO's families, for their cost.
    let slo: &[&str] = &["anthropic_work_pickups_total", "anthropic_work_pickup_slo"];
    let rows = [
        (Format::Text, HistogramMode::Both, &[][..]),
        (Format::OpenMetrics, HistogramMode::Both, &[]),
        (Format::Protobuf, HistogramMode::Both, &[]),
        (Format::Protobuf, HistogramMode::Native, &[]),
        (Format::Text, HistogramMode::Native, &[]),
        (Format::Text, HistogramMode::Both, slo),
    ];
    rows.iter()
        .map(|&(format, histograms, deny)| {
            let metrics = ExporterMetrics::new(&settings).expect("the exporter's metrics");
            let deny: Vec<String> = deny.iter().map(|d| d.to_string()).collect();
            let ctx = RenderContext {
                now_ms,
                format,
                options: std::sync::Arc::new(RenderOptions {
                    histograms,
                    families: work_exporter::config::FamilyFilter::new(&[], &deny)
                        .expect("family names"),
                    ..RenderOptions::default()
                }),
                ..RenderContext::default()
            };
            let render = || metrics.render(&store, &ctx);
            let gzip = || {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                let _ = metrics.render_to(&mut enc, &store, &ctx);
                enc.finish().unwrap_or_default()
            };
            FormatCost {
                format: format!("{format:?}"),
                histograms: match deny.is_empty() {
                    true => format!("{histograms:?}"),
                    false => format!("{histograms:?}, without the pick-up SLO families"),
                },
                bytes: render().len(),
                gzip_bytes: gzip().len(),
                plain_ms: timed(|| {
                    std::hint::black_box(render());
                }) * 1e3,
                gzip_ms: timed(|| {
                    std::hint::black_box(gzip());
                }) * 1e3,
            }
        })
        .collect()
}
