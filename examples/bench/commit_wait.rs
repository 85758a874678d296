//! `--commit-wait N`: how long a refresh's commit waits while `/metrics`
//! renders. A store of N environments (folded from the simulator's pages, as
//! `render` builds it); one thread renders gzip scrapes back to back as the
//! server does (straight into the compressor), while this thread commits a
//! refresh's snapshot to one environment after another every 2 ms and times
//! each commit. Before the store handed out state pointers, a render held the
//! store's lock from first family to last, so a commit could wait a whole
//! render; now it waits for the pointers to be copied.

use crate::floor::Sample;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use work_exporter::snapshot::Lifecycle;
use work_sim::Credentials;

#[derive(Debug, Clone, Serialize)]
pub struct CommitWait {
    pub environments: usize,
    pub seconds: f64,
    pub renders: usize,
    pub commits: usize,
    pub commit_p50_us: f64,
    pub commit_p99_us: f64,
    pub commit_max_us: f64,
    /// Commits that waited longer than a millisecond.
    pub over_1ms: usize,
}

pub fn measure(creds: &Credentials, sample: &Sample, seconds: f64) -> CommitWait {
    let now_ms = work_api::clock::Clock::now_ms(&work_api::clock::SystemClock);
    let store = crate::render::build_store(creds, sample, now_ms);
    let (snapshot, _) = crate::render::fold_snapshot(&sample.pages[0], now_ms);
    let metrics = crate::render::exporter_metrics();
    let ids: Vec<String> = creds.environments.iter().map(|e| e.id.clone()).collect();
    let stop = AtomicBool::new(false);
    let renders = AtomicUsize::new(0);
    let mut waits = Vec::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                std::hint::black_box(crate::render::gzip_scrape(&metrics, &store, now_ms));
                renders.fetch_add(1, Ordering::Relaxed);
            }
        });
        // Let the first render start before the first commit.
        std::thread::sleep(Duration::from_millis(50));
        let end = Instant::now() + Duration::from_secs_f64(seconds);
        let mut i = 0;
        while Instant::now() < end {
            let next = snapshot.clone();
            let t = Instant::now();
            store.commit_success(&ids[i % ids.len()], next, &Lifecycle::default());
            waits.push(t.elapsed());
            i += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
        stop.store(true, Ordering::Relaxed);
    });
    waits.sort();
    let at = |q: f64| waits[((waits.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    CommitWait {
        environments: ids.len(),
        seconds,
        renders: renders.load(Ordering::Relaxed),
        commits: waits.len(),
        commit_p50_us: at(0.5),
        commit_p99_us: at(0.99),
        commit_max_us: at(1.0),
        over_1ms: waits
            .iter()
            .filter(|w| **w > Duration::from_millis(1))
            .count(),
    }
}
