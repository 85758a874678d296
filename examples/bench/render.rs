//! What one `/metrics` render costs, in process and on one thread: a store of
//! `environments` snapshots folded from the simulator's real pages, rendered
//! as the server does (plain; gzip rendered into the compressor), timed with the
//! thread's CPU clock. No HTTP, no contention: the exporter's own work per scrape.

use crate::floor::{timed, Sample};
use serde::Serialize;
use std::time::Duration;
use work_exporter::config::Environment;
use work_exporter::metrics::{ExporterMetrics, Settings};
use work_exporter::refresh::fold::{Fold, Tracker};
use work_exporter::sim::Credentials;
use work_exporter::snapshot::{QueueSnapshot, Snapshot, Store};

#[derive(Debug, Clone, Copy, Serialize)]
pub struct RenderCost {
    pub plain_ms: f64,
    pub gzip_ms: f64,
    pub bytes: usize,
    pub gzip_bytes: usize,
}

pub fn measure(creds: &Credentials, sample: &Sample) -> RenderCost {
    let now_ms = work_exporter::clock::Clock::now_ms(&work_exporter::clock::SystemClock);
    let envs: Vec<Environment> = creds
        .environments
        .iter()
        .map(|e| Environment {
            id: e.id.clone(),
            name: e.id.clone(),
            labels: Default::default(),
            key: None,
            cadence: Default::default(),
        })
        .collect();
    let store = Store::default();
    store.set_environments(&envs);
    for (i, e) in envs.iter().enumerate() {
        let pages = &sample.pages[i % sample.pages.len()];
        let tracker = Tracker::new(now_ms);
        let mut fold = Fold::new(&tracker, now_ms);
        for b in pages {
            let _ = work_exporter::api::decode::work_page_each(b, |row| fold.add(&row));
        }
        let (work, delta, _) = fold.finish(false, pages.len() as u32);
        let queue = QueueSnapshot {
            depth: 800,
            pending: 200,
            workers_polling: Some(0),
            oldest_queued_at_ms: Some(now_ms - 60_000),
        };
        let snapshot = Snapshot::whole(queue, work, now_ms);
        store.commit_success(&e.id, snapshot, &delta);
    }
    let metrics = ExporterMetrics::new(&Settings {
        budget_rps: 5.0,
        cadences: work_exporter::config::Cadences::every(Duration::from_secs(30)),
        lease_ttl: Duration::from_secs(90),
        discovery: false,
    })
    .expect("the exporter's metrics");
    let render = || {
        metrics.render(
            &store,
            now_ms,
            Duration::from_secs(90),
            work_exporter::config::StaleAfter::fixed(Duration::from_secs(90)),
            "http://localhost:9781",
        )
    };
    let text = render();
    // As the server does for a gzip scrape: rendered straight into the compressor.
    let gzip = || {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = metrics.render_to(
            &mut enc,
            &store,
            now_ms,
            Duration::from_secs(90),
            work_exporter::config::StaleAfter::fixed(Duration::from_secs(90)),
            "http://localhost:9781",
        );
        enc.finish().unwrap_or_default()
    };
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
