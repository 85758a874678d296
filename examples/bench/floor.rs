//! The floor a refresh is compared with: the CPU time merely to deserialize
//! the same response bytes with serde_json. The pages are fetched from the
//! simulator once, then decoded in this process on one thread, timed with the
//! thread's own CPU clock (`CLOCK_THREAD_CPUTIME_ID`, nanoseconds).
//!
//! Three decoders, cheapest first:
//! - `IgnoredAny`: JSON syntax only, nothing kept (a lower bound no real reader reaches);
//! - `typed`: THE floor: `Reference` below, the fields the exporter reads as
//!   borrowed `&str` (no allocation, no conversion), derived by serde. Defined
//!   here, not in the exporter, so that improving the exporter cannot move it;
//! - `Value`: a generic `serde_json::Value` tree, as a naive reader would do.
//!
//! And two steps of the exporter itself, in process (no HTTP): its own decoder
//! (`api::decode::work_page_each`), and that decode plus the fold into counts and
//! trackers (second walk, trackers warm). What a refresh costs above the
//! latter is the HTTP client and the scheduling.

use serde::de::IgnoredAny;
use serde::Serialize;
use work_api::decode;
use work_api::wire::{QueueStats, API_VERSION, BETA_HEADER};
use work_exporter::refresh::fold::{Fold, Tracker};
use work_sim::Credentials;

/// The reference decode: what the exporter reads of a page, borrowed.
#[derive(serde::Deserialize)]
struct Reference<'a> {
    #[serde(borrow)]
    data: Vec<ReferenceRow<'a>>,
    next_page: Option<&'a str>,
}

#[derive(serde::Deserialize)]
struct ReferenceRow<'a> {
    id: &'a str,
    state: &'a str,
    created_at: Option<&'a str>,
    acknowledged_at: Option<&'a str>,
    started_at: Option<&'a str>,
    latest_heartbeat_at: Option<&'a str>,
    stop_requested_at: Option<&'a str>,
    stopped_at: Option<&'a str>,
    #[serde(borrow)]
    data: Option<ReferenceData<'a>>,
}

#[derive(serde::Deserialize)]
struct ReferenceData<'a> {
    id: Option<&'a str>,
    #[serde(rename = "type")]
    kind: Option<&'a str>,
}

/// Items decoded per timed repetition (at least; whole environments are taken).
const SAMPLE_ITEMS: usize = 20_000;
const REPS: usize = 7;

/// Fetched bodies of a few environments.
pub struct Sample {
    /// Per environment: its list pages.
    pub pages: Vec<Vec<bytes::Bytes>>,
    pub stats: Vec<bytes::Bytes>,
    pub items: usize,
    pub bytes: usize,
}

pub async fn fetch(creds: &Credentials, items_per_env: usize) -> Sample {
    let envs = SAMPLE_ITEMS
        .div_ceil(items_per_env.max(1))
        .clamp(1, creds.environments.len());
    let client = reqwest::Client::new();
    let mut sample = Sample {
        pages: Vec::new(),
        stats: Vec::new(),
        items: 0,
        bytes: 0,
    };
    for e in &creds.environments[..envs] {
        let base = format!("{}/v1/environments/{}/work", creds.base_url, e.id);
        let stats = client
            .get(format!("{base}/stats"))
            .header("anthropic-beta", BETA_HEADER)
            .header("anthropic-version", API_VERSION)
            .bearer_auth(&creds.api_key)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("stats from the simulator");
        sample.stats.push(stats.bytes().await.expect("stats body"));
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut req = client
                .get(&base)
                .header("anthropic-beta", BETA_HEADER)
                .header("anthropic-version", API_VERSION)
                .bearer_auth(&e.key)
                .query(&[("limit", "1000")]);
            if let Some(c) = &cursor {
                req = req.query(&[("page", c)]);
            }
            let body = req
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .expect("a page from the simulator")
                .bytes()
                .await
                .expect("page body");
            let page = decode::work_page(&body).expect("a page that decodes");
            sample.items += page.data.len();
            sample.bytes += body.len();
            // `null` or `""` ends the list, as the SDK's pager reads it.
            cursor = page
                .next_page
                .filter(|c| !c.is_empty())
                .map(|c| c.into_owned());
            pages.push(body);
            if cursor.is_none() {
                break;
            }
        }
        sample.pages.push(pages);
    }
    sample
}

/// CPU seconds this thread has run.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// The least CPU seconds of `REPS` runs of `f`: on a shared machine other
/// work only ever adds time (a sibling hyperthread, evicted caches), so the
/// fastest run is the closest to what the code itself costs.
pub fn timed(mut f: impl FnMut()) -> f64 {
    f(); // warm caches and allocator
    (0..REPS)
        .map(|_| {
            let t0 = thread_cpu();
            f();
            thread_cpu() - t0
        })
        .fold(f64::INFINITY, f64::min)
}

/// Per work item CPU seconds of each decoder, and per stats body.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Floor {
    pub ignored_any_per_item: f64,
    pub typed_per_item: f64,
    pub value_per_item: f64,
    pub exporter_decode_per_item: f64,
    pub exporter_decode_fold_per_item: f64,
    pub stats_per_env: f64,
    pub bytes_per_item: f64,
    pub sample_items: usize,
}

pub fn measure(sample: &Sample) -> Floor {
    let all = || sample.pages.iter().flatten();
    let n = sample.items.max(1) as f64;
    let ignored = timed(|| {
        for b in all() {
            std::hint::black_box(serde_json::from_slice::<IgnoredAny>(b).ok());
        }
    });
    // Every page decodes with the reference (and its fields are read, not dead).
    for b in all() {
        let page: Reference<'_> =
            serde_json::from_slice(b).expect("the reference decodes every page");
        for r in &page.data {
            std::hint::black_box((r.id, r.state, r.created_at, r.acknowledged_at, r.started_at));
            std::hint::black_box((r.latest_heartbeat_at, r.stop_requested_at, r.stopped_at));
            std::hint::black_box(r.data.as_ref().map(|d| (d.id, d.kind)));
        }
        std::hint::black_box(page.next_page);
    }
    let typed = timed(|| {
        for b in all() {
            std::hint::black_box(serde_json::from_slice::<Reference<'_>>(b).ok());
        }
    });
    let exporter_decode = timed(|| {
        for b in all() {
            // As a refresh decodes: each row handed on as it is read.
            std::hint::black_box(
                decode::work_page_each(b, |row| {
                    std::hint::black_box(row);
                })
                .ok(),
            );
        }
    });
    let value = timed(|| {
        for b in all() {
            std::hint::black_box(serde_json::from_slice::<serde_json::Value>(b).ok());
        }
    });
    let started_ms = work_api::clock::Clock::now_ms(&work_api::clock::SystemClock);
    let mut trackers: Vec<Tracker> = sample
        .pages
        .iter()
        .map(|_| Tracker::new(started_ms))
        .collect();
    let typed_fold = timed(|| {
        for (pages, tracker) in sample.pages.iter().zip(trackers.iter_mut()) {
            let mut fold = Fold::new(tracker, started_ms);
            for b in pages {
                let _ = decode::work_page_each(b, |row| fold.add(&row));
            }
            let (work, delta, next) = fold.finish(false, pages.len() as u32);
            std::hint::black_box((work, delta));
            *tracker = next;
        }
    });
    let stats = timed(|| {
        for b in &sample.stats {
            std::hint::black_box(serde_json::from_slice::<QueueStats>(b).ok());
        }
    }) / sample.stats.len().max(1) as f64;
    Floor {
        ignored_any_per_item: ignored / n,
        typed_per_item: typed / n,
        value_per_item: value / n,
        exporter_decode_per_item: exporter_decode / n,
        exporter_decode_fold_per_item: typed_fold / n,
        stats_per_env: stats,
        bytes_per_item: sample.bytes as f64 / n,
        sample_items: sample.items,
    }
}

/// Write a sample's pages to `path` (each: length as 8 bytes LE, then the body),
/// for `count` to read under `valgrind --tool=callgrind`.
pub fn save(sample: &Sample, path: &std::path::Path) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(sample.bytes + 8 * sample.pages.len());
    for pages in &sample.pages {
        for b in pages {
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            out.extend_from_slice(b);
        }
    }
    std::fs::write(path, out)
}

/// `bench __count KIND PAGES`: decode the saved pages once with one decoder,
/// so that instruction counts (callgrind's `Ir`, deterministic where CPU time
/// on a shared machine is not) compare the floor and the exporter exactly.
/// KIND: `none` (reading the file only: subtract it), `reference` (the
/// floor), `value`, `exporter` (its decoder), `fold` (its decoder and the
/// fold, one walk from an empty tracker).
pub fn count(kind: &str, path: &str) {
    let bytes = std::fs::read(path).expect("the saved pages");
    let mut pages = Vec::new();
    let mut rest = &bytes[..];
    while rest.len() >= 8 {
        let mut len = [0u8; 8];
        len.copy_from_slice(&rest[..8]);
        let n = u64::from_le_bytes(len) as usize;
        pages.push(&rest[8..8 + n]);
        rest = &rest[8 + n..];
    }
    let mut items = 0usize;
    match kind {
        "none" => {}
        "reference" => {
            for b in &pages {
                let page: Reference<'_> = serde_json::from_slice(b).expect("reference decode");
                items += page.data.len();
            }
        }
        "value" => {
            for b in &pages {
                let v: serde_json::Value = serde_json::from_slice(b).expect("Value decode");
                items += v["data"].as_array().map_or(0, Vec::len);
            }
        }
        "exporter" => {
            for b in &pages {
                items += decode::work_page_each(b, |row| {
                    std::hint::black_box(row);
                })
                .expect("exporter decode")
                .rows;
            }
        }
        "fold" => {
            let tracker = Tracker::new(0);
            let mut fold = Fold::new(&tracker, 0);
            for b in &pages {
                items += decode::work_page_each(b, |row| fold.add(&row))
                    .expect("exporter decode")
                    .rows;
            }
            std::hint::black_box(fold.finish(false, pages.len() as u32));
        }
        other => panic!("__count: unknown kind {other:?}"),
    }
    println!("{kind}: {} pages, {items} items", pages.len());
}
