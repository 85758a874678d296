//! The body of `/metrics` shared between scrapes, one for plain text and one
//! for gzip. A thousand environments make an 8 MiB exposition: rendering and
//! compressing it for every scrape made ten concurrent scrapers queue behind
//! ten renders (a second at p99) and held ten copies in memory.
//!
//! A scrape takes a kept body only while it is under `SHARE_WINDOW_MS` old (so
//! ages move) and either no status change (`Store::status_changes`: a failure,
//! a recovery, the watched set) has been stored since it was rendered, or its
//! render was already running when the scrape arrived (the scrape waited for
//! it instead of starting its own). So a failure or recovery is never served
//! late, and the numbers of healthy environments are at most a second behind.
//! A render never waits for the API.

use bytes::Bytes;
use std::sync::Mutex;

/// How long a body is served again while the store is unchanged, by the exporter's clock.
pub const SHARE_WINDOW_MS: i64 = 1000;

#[derive(Debug)]
struct Kept {
    rendered_at_ms: i64,
    /// `Store::status_changes` read before the render started.
    generation: u64,
    /// Which render made it.
    render: u64,
    body: Bytes,
}

#[derive(Debug, Default)]
struct Slots {
    /// `[plain, gzip]`.
    kept: [Option<Kept>; 2],
    /// The render running for each encoding, if any.
    running: [Option<u64>; 2],
    renders: u64,
    /// Scrapes waiting for the render lock (read by a test to know one is queued).
    waiting: usize,
}

/// The latest body of each encoding, and the lock that lets one render run at a time.
#[derive(Debug, Default)]
pub struct Shared {
    slots: Mutex<Slots>,
    rendering: Mutex<()>,
}

impl Shared {
    /// A body for a scrape that arrived at `now_ms` when the store's status
    /// changes were `generation`: a kept one if it may be shared (see the module comment),
    /// else a new one from `render`.
    pub fn get(
        &self,
        now_ms: i64,
        generation: u64,
        gzip: bool,
        render: impl FnOnce() -> Option<Bytes>,
    ) -> Option<Bytes> {
        let slot = usize::from(gzip);
        let running_on_arrival = {
            let mut slots = self.slots();
            if let Some(body) = current(&slots.kept[slot], now_ms, generation, None) {
                return Some(body);
            }
            slots.waiting += 1;
            slots.running[slot]
        };
        let _one = self.rendering.lock().unwrap_or_else(|p| p.into_inner());
        let render_id = {
            let mut slots = self.slots();
            slots.waiting -= 1;
            if let Some(body) = current(&slots.kept[slot], now_ms, generation, running_on_arrival) {
                return Some(body);
            }
            // Let the old body go first: at most one is held while the next is made.
            slots.kept[slot] = None;
            slots.renders += 1;
            slots.running[slot] = Some(slots.renders);
            slots.renders
        };
        let body = render();
        let mut slots = self.slots();
        slots.running[slot] = None;
        if let Some(body) = &body {
            slots.kept[slot] = Some(Kept {
                rendered_at_ms: now_ms,
                generation,
                render: render_id,
                body: body.clone(),
            });
        }
        body
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn current(
    kept: &Option<Kept>,
    now_ms: i64,
    generation: u64,
    waited_for: Option<u64>,
) -> Option<Bytes> {
    let kept = kept.as_ref()?;
    // Either way: a clock set back (tests move theirs) also renders anew.
    let young = (now_ms - kept.rendered_at_ms).abs() < SHARE_WINDOW_MS;
    let unchanged = kept.generation >= generation;
    let waited = waited_for == Some(kept.render);
    (young && (unchanged || waited)).then(|| kept.body.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    #[test]
    fn scrapes_share_a_body_while_the_store_is_unchanged_and_it_is_young() {
        let shared = Shared::default();
        let mut renders = 0;
        let mut render = |text: &'static str| {
            renders += 1;
            Some(Bytes::from(text))
        };
        assert_eq!(shared.get(10_000, 7, false, || render("a")).unwrap(), "a");
        assert_eq!(shared.get(10_999, 7, false, || render("b")).unwrap(), "a");
        // Each encoding is its own body.
        assert_eq!(shared.get(10_999, 7, true, || render("gz")).unwrap(), "gz");
        // Too old, or a clock set back.
        assert_eq!(shared.get(11_000, 7, false, || render("c")).unwrap(), "c");
        assert_eq!(shared.get(9_000, 7, false, || render("d")).unwrap(), "d");
        assert_eq!(renders, 4);
    }

    #[test]
    fn a_status_change_is_seen_by_the_next_scrape() {
        let shared = Shared::default();
        assert_eq!(
            shared.get(0, 1, false, || Some("old".into())).unwrap(),
            "old"
        );
        assert_eq!(
            shared.get(1, 2, false, || Some("new".into())).unwrap(),
            "new"
        );
        assert_eq!(shared.get(2, 2, false, || Some("x".into())).unwrap(), "new");
    }

    #[test]
    fn a_failed_render_is_not_kept() {
        let shared = Shared::default();
        assert_eq!(shared.get(0, 0, true, || None), None);
        assert_eq!(
            shared.get(1, 0, true, || Some(Bytes::from("x"))).unwrap(),
            "x"
        );
    }

    #[test]
    fn scrapes_that_arrive_during_a_render_share_it_even_if_the_store_moved() {
        let shared = Arc::new(Shared::default());
        let started = Arc::new(Barrier::new(2));
        let finish = Arc::new(Barrier::new(2));
        let first = {
            let (shared, started, finish) = (shared.clone(), started.clone(), finish.clone());
            std::thread::spawn(move || {
                shared.get(0, 1, false, || {
                    started.wait();
                    finish.wait();
                    Some(Bytes::from("first"))
                })
            })
        };
        started.wait();
        // Arrives while "first" renders, with a newer store generation.
        let second = {
            let shared = shared.clone();
            std::thread::spawn(move || shared.get(5, 2, false, || Some(Bytes::from("second"))))
        };
        while shared.slots().waiting == 0 {
            std::thread::yield_now();
        }
        finish.wait();
        assert_eq!(first.join().unwrap().unwrap(), "first");
        assert_eq!(second.join().unwrap().unwrap(), "first");
        // A scrape arriving after that render, with the newer generation, renders anew.
        assert_eq!(
            shared.get(6, 2, false, || Some("third".into())).unwrap(),
            "third"
        );
    }
}
