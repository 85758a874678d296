//! The body of `/metrics` shared by the scrapes that come within
//! `SHARE_WINDOW_MS` of it, one for plain text and one for gzip. A thousand
//! environments make an 8 MiB exposition: rendering and compressing it for
//! every scrape made ten concurrent scrapers queue behind ten renders (a
//! second at p99) and held ten copies in memory. Ages are computed when a
//! render starts, so a scrape sees them at most a second old; a render never
//! waits for the API.

use bytes::Bytes;
use std::sync::Mutex;

/// How long a body is served again, by the exporter's clock.
pub const SHARE_WINDOW_MS: i64 = 1000;

/// The latest body of each encoding, and the lock that lets one render run at a time.
#[derive(Debug, Default)]
pub struct Shared {
    /// `[plain, gzip]`: when rendered, and the body.
    last: Mutex<[Option<(i64, Bytes)>; 2]>,
    rendering: Mutex<()>,
}

impl Shared {
    /// The latest body of this encoding if it is fresh at `now_ms`, else a new
    /// one from `render`. Scrapes that arrive while a render runs wait for it
    /// and share it.
    pub fn get(
        &self,
        now_ms: i64,
        gzip: bool,
        render: impl FnOnce() -> Option<Bytes>,
    ) -> Option<Bytes> {
        let slot = usize::from(gzip);
        if let Some(body) = self.fresh(now_ms, slot) {
            return Some(body);
        }
        let _one = self.rendering.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(body) = self.fresh(now_ms, slot) {
            return Some(body);
        }
        // Let the stale body go first: at most one is held while the next is made.
        self.last.lock().unwrap_or_else(|p| p.into_inner())[slot] = None;
        let body = render()?;
        self.last.lock().unwrap_or_else(|p| p.into_inner())[slot] = Some((now_ms, body.clone()));
        Some(body)
    }

    fn fresh(&self, now_ms: i64, slot: usize) -> Option<Bytes> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        // Either way: a clock set back (tests move theirs) also renders anew.
        last[slot]
            .as_ref()
            .filter(|(at, _)| (now_ms - at).abs() < SHARE_WINDOW_MS)
            .map(|(_, body)| body.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrapes_within_the_window_share_one_render_and_later_ones_render_anew() {
        let shared = Shared::default();
        let mut renders = 0;
        let mut render = |text: &'static str| {
            renders += 1;
            Some(Bytes::from(text))
        };
        assert_eq!(shared.get(10_000, false, || render("a")).unwrap(), "a");
        assert_eq!(shared.get(10_999, false, || render("b")).unwrap(), "a");
        // Each encoding is its own body.
        assert_eq!(shared.get(10_999, true, || render("gz")).unwrap(), "gz");
        assert_eq!(shared.get(11_000, false, || render("c")).unwrap(), "c");
        assert_eq!(shared.get(9_000, false, || render("d")).unwrap(), "d");
        assert_eq!(renders, 4);
    }

    #[test]
    fn a_failed_render_is_not_kept() {
        let shared = Shared::default();
        assert_eq!(shared.get(0, true, || None), None);
        assert_eq!(shared.get(1, true, || Some(Bytes::from("x"))).unwrap(), "x");
    }
}
