//! The body of `/metrics` shared between scrapes, one per format and
//! encoding (plain or gzip). A thousand environments make an 8 MiB exposition: rendering and
//! compressing it for every scrape made ten concurrent scrapers queue behind
//! ten renders (a second at p99) and held ten copies in memory.
//!
//! A scrape takes a kept body only while it is under `SHARE_WINDOW_MS` old (so
//! ages move), by the exporter's clock and by the monotonic clock alike (a
//! clock that tests or `demo --sim.clock manual` hold still must not keep a
//! body forever), and either no status change (`Store::status_changes`: a failure,
//! a recovery, the watched set) has been stored since it was rendered, or its
//! render was already running when the scrape arrived (the scrape waited for
//! it instead of starting its own). So a failure or recovery is never served
//! late, and the numbers of healthy environments are at most a second behind.
//! A render never waits for the API.
//!
//! Renders run on tokio's blocking pool, one at a time; scrapes wait for the
//! running one asynchronously, so a cold render and its gzip never park the
//! runtime's worker threads (two of them on a two-core machine), and a render
//! whose scraper hangs up still finishes and is kept for the next scrape.

use bytes::Bytes;
use std::sync::{Arc, Mutex};

/// How long a body is served again while the store is unchanged, by the exporter's clock.
pub const SHARE_WINDOW_MS: i64 = 1000;

#[derive(Debug)]
struct Kept {
    rendered_at_ms: i64,
    /// When it was rendered, by the monotonic clock.
    rendered_at: tokio::time::Instant,
    /// `Store::status_changes` read before the render started.
    generation: u64,
    /// Which render made it.
    render: u64,
    body: Bytes,
}

/// One body per format and encoding.
const SLOTS: usize = 2 * super::Format::ALL.len();

/// Where the body of `format`, plain or gzipped, is kept.
pub fn slot(format: super::Format, gzip: bool) -> usize {
    format.index() * 2 + usize::from(gzip)
}

#[derive(Debug, Default)]
struct Slots {
    /// Indexed by `slot`.
    kept: [Option<Kept>; SLOTS],
    /// The render running for each slot, if any.
    running: [Option<u64>; SLOTS],
    renders: u64,
    /// Scrapes waiting for the render lock (read by a test to know one is queued).
    waiting: usize,
}

/// The latest body of each encoding, and the lock that lets one render run at a time.
#[derive(Debug, Default)]
pub struct Shared {
    slots: Arc<Mutex<Slots>>,
    rendering: Arc<tokio::sync::Mutex<()>>,
}

/// Counts a scrape as waiting until it holds the render lock or gives up.
struct Waiting<'a>(&'a Mutex<Slots>);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        lock(self.0).waiting -= 1;
    }
}

impl Shared {
    /// A body for a scrape that arrived at `now_ms` when the store's status
    /// changes were `generation`, of the format and encoding `slot` (see
    /// `slot`): a kept one if it may be shared (see the module comment),
    /// else a new one from `render`, run on the blocking pool.
    pub async fn get(
        &self,
        now_ms: i64,
        generation: u64,
        slot: usize,
        render: impl FnOnce() -> Option<Bytes> + Send + 'static,
    ) -> Option<Bytes> {
        let (running_on_arrival, waiting) = {
            let mut slots = lock(&self.slots);
            if let Some(body) = current(&slots.kept[slot], now_ms, generation, None) {
                return Some(body);
            }
            slots.waiting += 1;
            (slots.running[slot], Waiting(&self.slots))
        };
        let one = Arc::clone(&self.rendering).lock_owned().await;
        drop(waiting);
        let render_id = {
            let mut slots = lock(&self.slots);
            if let Some(body) = current(&slots.kept[slot], now_ms, generation, running_on_arrival) {
                return Some(body);
            }
            // Let the old body go first: at most one is held while the next is made.
            slots.kept[slot] = None;
            slots.renders += 1;
            slots.running[slot] = Some(slots.renders);
            slots.renders
        };
        let slots = Arc::clone(&self.slots);
        // The render lock and the bookkeeping travel with the render, so a
        // scraper that hangs up neither frees the lock early nor loses the body.
        let task = tokio::task::spawn_blocking(move || {
            let body = render();
            let mut slots = lock(&slots);
            slots.running[slot] = None;
            if let Some(body) = &body {
                slots.kept[slot] = Some(Kept {
                    rendered_at_ms: now_ms,
                    rendered_at: tokio::time::Instant::now(),
                    generation,
                    render: render_id,
                    body: body.clone(),
                });
            }
            drop(one);
            body
        });
        task.await.ok().flatten()
    }
}

fn lock(slots: &Mutex<Slots>) -> std::sync::MutexGuard<'_, Slots> {
    slots.lock().unwrap_or_else(|p| p.into_inner())
}

fn current(
    kept: &Option<Kept>,
    now_ms: i64,
    generation: u64,
    waited_for: Option<u64>,
) -> Option<Bytes> {
    let kept = kept.as_ref()?;
    // Either way: a clock set back (tests move theirs) also renders anew.
    let young = (now_ms - kept.rendered_at_ms).abs() < SHARE_WINDOW_MS
        && kept.rendered_at.elapsed().as_millis() < SHARE_WINDOW_MS as u128;
    let unchanged = kept.generation >= generation;
    let waited = waited_for == Some(kept.render);
    (young && (unchanged || waited)).then(|| kept.body.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Format;

    const PLAIN: usize = 0;
    const GZIP: usize = 1;

    #[test]
    fn every_format_and_encoding_has_its_own_slot() {
        assert_eq!(slot(Format::Text, false), PLAIN);
        assert_eq!(slot(Format::Text, true), GZIP);
        let all: std::collections::BTreeSet<usize> = Format::ALL
            .iter()
            .flat_map(|f| [slot(*f, false), slot(*f, true)])
            .collect();
        assert_eq!(all.len(), SLOTS);
        assert!(all.iter().all(|s| *s < SLOTS));
    }
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Barrier;

    fn body(text: &'static str) -> impl FnOnce() -> Option<Bytes> + Send + 'static {
        move || Some(Bytes::from(text))
    }

    #[tokio::test(start_paused = true)]
    async fn a_clock_held_still_does_not_keep_a_body_past_the_window_of_real_time() {
        let shared = Shared::default();
        assert_eq!(shared.get(10_000, 7, PLAIN, body("a")).await.unwrap(), "a");
        tokio::time::advance(std::time::Duration::from_millis(999)).await;
        assert_eq!(shared.get(10_000, 7, PLAIN, body("b")).await.unwrap(), "a");
        tokio::time::advance(std::time::Duration::from_millis(2)).await;
        assert_eq!(shared.get(10_000, 7, PLAIN, body("c")).await.unwrap(), "c");
    }

    #[tokio::test]
    async fn scrapes_share_a_body_while_the_store_is_unchanged_and_it_is_young() {
        let shared = Shared::default();
        let renders = Arc::new(AtomicUsize::new(0));
        let render = |text: &'static str| {
            let renders = renders.clone();
            move || {
                renders.fetch_add(1, Ordering::SeqCst);
                Some(Bytes::from(text))
            }
        };
        assert_eq!(
            shared.get(10_000, 7, PLAIN, render("a")).await.unwrap(),
            "a"
        );
        assert_eq!(
            shared.get(10_999, 7, PLAIN, render("b")).await.unwrap(),
            "a"
        );
        // Each encoding is its own body.
        assert_eq!(
            shared.get(10_999, 7, GZIP, render("gz")).await.unwrap(),
            "gz"
        );
        // Too old, or a clock set back.
        assert_eq!(
            shared.get(11_000, 7, PLAIN, render("c")).await.unwrap(),
            "c"
        );
        assert_eq!(shared.get(9_000, 7, PLAIN, render("d")).await.unwrap(), "d");
        assert_eq!(renders.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_status_change_is_seen_by_the_next_scrape() {
        let shared = Shared::default();
        assert_eq!(shared.get(0, 1, PLAIN, body("old")).await.unwrap(), "old");
        assert_eq!(shared.get(1, 2, PLAIN, body("new")).await.unwrap(), "new");
        assert_eq!(shared.get(2, 2, PLAIN, body("x")).await.unwrap(), "new");
    }

    #[tokio::test]
    async fn a_failed_render_is_not_kept() {
        let shared = Shared::default();
        assert_eq!(shared.get(0, 0, GZIP, || None).await, None);
        assert_eq!(shared.get(1, 0, GZIP, body("x")).await.unwrap(), "x");
    }

    /// The runtime's one worker stays free while a render runs: a render
    /// that waits for a task on that worker would never finish if it ran there.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_render_runs_off_the_runtime_threads() {
        let shared = Arc::new(Shared::default());
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let scrape = tokio::spawn(async move {
            shared
                .get(0, 0, PLAIN, move || {
                    rx.recv_timeout(std::time::Duration::from_secs(10)).ok()?;
                    Some(Bytes::from("rendered"))
                })
                .await
        });
        let ping = tokio::spawn(async move { tx.send(()) });
        assert_eq!(scrape.await.unwrap().unwrap(), "rendered");
        ping.await.unwrap().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scrapes_that_arrive_during_a_render_share_it_even_if_the_store_moved() {
        let shared = Arc::new(Shared::default());
        let started = Arc::new(Barrier::new(2));
        let finish = Arc::new(Barrier::new(2));
        let first = {
            let (shared, started, finish) = (shared.clone(), started.clone(), finish.clone());
            tokio::spawn(async move {
                shared
                    .get(0, 1, PLAIN, move || {
                        started.wait();
                        finish.wait();
                        Some(Bytes::from("first"))
                    })
                    .await
            })
        };
        tokio::task::spawn_blocking({
            let started = started.clone();
            move || started.wait()
        })
        .await
        .unwrap();
        // Arrives while "first" renders, with a newer store generation.
        let second = {
            let shared = shared.clone();
            tokio::spawn(async move { shared.get(5, 2, PLAIN, body("second")).await })
        };
        while lock(&shared.slots).waiting == 0 {
            tokio::task::yield_now().await;
        }
        tokio::task::spawn_blocking(move || finish.wait())
            .await
            .unwrap();
        assert_eq!(first.await.unwrap().unwrap(), "first");
        assert_eq!(second.await.unwrap().unwrap(), "first");
        // A scrape arriving after that render, with the newer generation, renders anew.
        assert_eq!(
            shared.get(6, 2, PLAIN, body("third")).await.unwrap(),
            "third"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_render_whose_scraper_hung_up_is_kept_for_the_next_scrape() {
        let shared = Arc::new(Shared::default());
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let scrape = {
            let shared = shared.clone();
            tokio::spawn(async move {
                shared
                    .get(0, 1, PLAIN, move || {
                        let _ = started_tx.send(());
                        wait.recv().unwrap();
                        Some(Bytes::from("kept"))
                    })
                    .await
            })
        };
        started_rx.await.unwrap();
        scrape.abort();
        let _ = scrape.await;
        go.send(()).unwrap();
        // Waits for the orphaned render (the lock went with it), then shares it.
        assert_eq!(shared.get(1, 1, PLAIN, body("new")).await.unwrap(), "kept");
    }
}
