//! The one page walker of the cursor-paged lists (work list, environment
//! list), with the official SDK's paging rules and the exporter's loop guards.
//!
//! The SDK's pager (`anthropic/pagination.py`, `SyncPageCursor.next_page_info`)
//! ends a walk when `next_page` is falsy, so `""` ends it like `null`, and it
//! follows a cursor even from a page whose `data` is empty. The SDK has no
//! guard against a server that never ends; the exporter keeps two: a cursor
//! seen before fails the walk (`pagination`), and `--list.max-pages` stops it
//! (the caller decides whether that is a truncated list or a failure).
//!
//! The walker only decides where to go next; fetching and decoding stay with
//! the caller, so the work list can fold rows as each page arrives.

use super::ApiError;
use std::collections::HashSet;

/// Where a walk goes after a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Fetch the next page, at `PageWalk::cursor()`.
    More,
    /// That was the last page.
    End,
    /// The server has more, but `max_pages` pages have been read.
    MaxPages,
}

/// The state of one walk: the cursor to send and the cursors already followed.
#[derive(Debug)]
pub struct PageWalk {
    endpoint: &'static str,
    max_pages: u32,
    pages: u32,
    cursor: Option<String>,
    seen: HashSet<String>,
}

impl PageWalk {
    pub fn new(endpoint: &'static str, max_pages: u32) -> Self {
        PageWalk {
            endpoint,
            max_pages: max_pages.max(1),
            pages: 0,
            cursor: None,
            seen: HashSet::new(),
        }
    }

    /// The `page` query parameter of the next request (`None` on the first).
    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref()
    }

    /// Pages read so far.
    pub fn pages(&self) -> u32 {
        self.pages
    }

    /// Account for a page just read, given its `next_page` and request id.
    pub fn advance(&mut self, next_page: Option<&str>, request_id: &str) -> Result<Step, ApiError> {
        self.pages += 1;
        let next = match next_page {
            None | Some("") => return Ok(Step::End),
            Some(next) => next,
        };
        if !self.seen.insert(next.to_owned()) {
            return Err(ApiError::Pagination {
                endpoint: self.endpoint,
                message: format!(
                    "next_page cursor repeated after {} pages (request-id {request_id})",
                    self.pages
                ),
            });
        }
        if self.pages >= self.max_pages {
            return Ok(Step::MaxPages);
        }
        self.cursor = Some(next.to_owned());
        Ok(Step::More)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk() -> PageWalk {
        PageWalk::new("list_work", 10)
    }

    #[test]
    fn a_null_cursor_ends_the_walk() {
        let mut w = walk();
        assert_eq!(w.advance(None, "r1"), Ok(Step::End));
        assert_eq!(w.pages(), 1);
    }

    #[test]
    fn an_empty_cursor_ends_the_walk_like_null() {
        let mut w = walk();
        assert_eq!(w.advance(Some("c1"), "r1"), Ok(Step::More));
        assert_eq!(w.advance(Some(""), "r2"), Ok(Step::End));
        assert_eq!(w.pages(), 2);
    }

    #[test]
    fn the_first_request_has_no_cursor_and_the_next_sends_the_one_received() {
        let mut w = walk();
        assert_eq!(w.cursor(), None);
        w.advance(Some("c1"), "r1").unwrap();
        assert_eq!(w.cursor(), Some("c1"));
        w.advance(Some("c2"), "r2").unwrap();
        assert_eq!(w.cursor(), Some("c2"));
    }

    #[test]
    fn a_new_cursor_is_followed_whatever_the_page_held() {
        // The walker never sees the rows: an empty page with a new cursor is
        // followed exactly like a full one (the SDK's rule).
        let mut w = walk();
        for c in ["c1", "c2", "c3"] {
            assert_eq!(w.advance(Some(c), "r"), Ok(Step::More));
        }
    }

    #[test]
    fn a_repeated_cursor_fails_as_pagination() {
        let mut w = walk();
        w.advance(Some("c1"), "r1").unwrap();
        w.advance(Some("c2"), "r2").unwrap();
        let e = w.advance(Some("c1"), "req_3").unwrap_err();
        assert_eq!(e.reason(), "pagination");
        assert_eq!(e.endpoint(), "list_work");
        assert!(e.to_string().contains("req_3"), "{e}");
    }

    #[test]
    fn the_walk_stops_after_max_pages_when_more_are_promised() {
        let mut w = PageWalk::new("list_work", 3);
        assert_eq!(w.advance(Some("c1"), "r"), Ok(Step::More));
        assert_eq!(w.advance(Some("c2"), "r"), Ok(Step::More));
        assert_eq!(w.advance(Some("c3"), "r"), Ok(Step::MaxPages));
        assert_eq!(w.pages(), 3);
    }

    #[test]
    fn the_last_allowed_page_ending_the_list_is_not_max_pages() {
        let mut w = PageWalk::new("list_work", 2);
        w.advance(Some("c1"), "r").unwrap();
        assert_eq!(w.advance(Some(""), "r"), Ok(Step::End));
    }
}
