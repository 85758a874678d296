//! One render of `/metrics` shared by the scrapes that come within
//! `SHARE_WINDOW_MS` of it, compressed at most once. A thousand environments
//! make an 8 MiB exposition: rendering and compressing it for every scrape
//! made ten concurrent scrapers queue behind ten renders (a second at p99)
//! and held ten copies in memory. Ages are computed when a render starts, so a
//! scrape sees them at most a second old; a render never waits for the API.

use bytes::Bytes;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// How long a render is served again, by the exporter's clock.
pub const SHARE_WINDOW_MS: i64 = 1000;

/// A finished exposition and, once asked for, its gzip.
#[derive(Debug)]
pub struct Rendered {
    at_ms: i64,
    plain: Bytes,
    gzip: OnceLock<Option<Bytes>>,
}

impl Rendered {
    pub fn plain(&self) -> Bytes {
        self.plain.clone()
    }

    /// The exposition gzipped at the fastest level; `None` if compression failed.
    pub fn gzip(&self) -> Option<Bytes> {
        self.gzip
            .get_or_init(|| {
                let mut enc = flate2::write::GzEncoder::new(
                    Vec::with_capacity(self.plain.len() / 8),
                    flate2::Compression::fast(),
                );
                enc.write_all(&self.plain).ok()?;
                enc.finish().ok().map(Bytes::from)
            })
            .clone()
    }
}

/// The latest render, and the lock that lets one render run at a time.
#[derive(Debug, Default)]
pub struct Shared {
    last: Mutex<Option<Arc<Rendered>>>,
    rendering: Mutex<()>,
}

impl Shared {
    /// The latest render if it is fresh at `now_ms`, else a new one from `render`.
    /// Scrapes that arrive while a render runs wait for it and share it.
    pub fn get(&self, now_ms: i64, render: impl FnOnce() -> String) -> Arc<Rendered> {
        if let Some(r) = self.fresh(now_ms) {
            return r;
        }
        let _one = self.rendering.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = self.fresh(now_ms) {
            return r;
        }
        let rendered = Arc::new(Rendered {
            at_ms: now_ms,
            plain: Bytes::from(render()),
            gzip: OnceLock::new(),
        });
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&rendered));
        rendered
    }

    fn fresh(&self, now_ms: i64) -> Option<Arc<Rendered>> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        // Either way: a clock set back (tests move theirs) also renders anew.
        last.as_ref()
            .filter(|r| (now_ms - r.at_ms).abs() < SHARE_WINDOW_MS)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn scrapes_within_the_window_share_one_render_and_later_ones_render_anew() {
        let shared = Shared::default();
        let mut renders = 0;
        let mut render = |text: &str| {
            renders += 1;
            text.to_string()
        };
        let a = shared.get(10_000, || render("a"));
        let b = shared.get(10_999, || render("b"));
        assert_eq!(b.plain(), "a");
        let c = shared.get(11_000, || render("c"));
        assert_eq!(c.plain(), "c");
        let d = shared.get(9_000, || render("d"));
        assert_eq!(d.plain(), "d");
        assert_eq!(renders, 3);
        assert_eq!(a.plain(), "a");
    }

    #[test]
    fn gzip_is_made_once_and_decodes_to_the_plain_text() {
        let shared = Shared::default();
        let r = shared.get(0, || "x 1\n".repeat(1000));
        let gz = r.gzip().unwrap();
        assert!(Arc::ptr_eq(&r, &shared.get(1, || unreachable!())));
        assert_eq!(r.gzip().unwrap().as_ptr(), gz.as_ptr());
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "x 1\n".repeat(1000));
    }
}
