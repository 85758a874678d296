//! How the simulated lists page, shaped like the API the official SDK reads:
//! the last page ends with `"next_page": ""` (or `null`, on request), and an
//! empty page that carries a cursor may come before a page of items (the
//! SDK's pager follows it: `anthropic/pagination.py`, `SyncPageCursor`).

use crate::ids;
use crate::state::Fault;

/// What the last page's `next_page` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastCursor {
    /// `""`: what the API sends (the SDK's pager stops on any falsy cursor).
    Empty,
    /// `null`.
    Null,
}

/// The paging shape of every list the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub last_cursor: LastCursor,
    /// Answer an empty page (with a cursor to the real one) before the first
    /// page of every walk and before about one page boundary in this many;
    /// 0 never.
    pub empty_page_every: u32,
}

impl Default for Paging {
    /// The API's endings, no empty pages (so request counts stay the minimum).
    fn default() -> Self {
        Paging {
            last_cursor: LastCursor::Empty,
            empty_page_every: 0,
        }
    }
}

impl Paging {
    /// What the test suite runs on: `""` endings and empty pages now and then.
    pub const SDK_SHAPED: Paging = Paging {
        last_cursor: LastCursor::Empty,
        empty_page_every: 3,
    };

    /// The page a request asks for, from its `page` parameter.
    pub(crate) fn position(&self, page: Option<&str>) -> Result<Position, Fault> {
        let bad = || {
            Fault::new(
                400,
                "invalid_request",
                "page is not a cursor this API returned",
            )
        };
        match page.filter(|p| !p.is_empty()) {
            None => Ok(Position {
                after: None,
                resumed: false,
            }),
            Some(p) => match p.strip_prefix(RESUME) {
                Some(rest) => {
                    let key = parse_key(rest).ok_or_else(bad)?;
                    Ok(Position {
                        after: key.checked_sub(1),
                        resumed: true,
                    })
                }
                None => Ok(Position {
                    after: Some(parse_cursor(p).ok_or_else(bad)?),
                    resumed: false,
                }),
            },
        }
    }

    /// The empty page to answer instead of the one at `pos`, if one goes there.
    pub(crate) fn empty_page(&self, pos: &Position) -> Option<String> {
        let key = pos.after.map_or(0, |s| s.wrapping_add(1));
        let every = u64::from(self.empty_page_every);
        let due = every > 0 && !pos.resumed && (key == 0 || ids::mix(key) % every == 0);
        due.then(|| {
            let mut out = String::from("{\"data\":[],\"next_page\":\"");
            out.push_str(RESUME);
            ids::push_base62(&mut out, key ^ MASK, 11);
            out.push_str("\"}");
            out
        })
    }

    /// Append `"next_page": …}` closing a page; `next` is the cursor of the
    /// page after it, or `None` on the last page.
    pub(crate) fn push_next(&self, out: &mut String, next: Option<&str>) {
        out.push_str(",\"next_page\":");
        match (next, self.last_cursor) {
            (Some(c), _) => {
                out.push('"');
                out.push_str(c);
                out.push('"');
            }
            (None, LastCursor::Empty) => out.push_str("\"\""),
            (None, LastCursor::Null) => out.push_str("null"),
        }
        out.push('}');
    }
}

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    /// After this item (the work list's seq, the environment list's index); `None` at the start.
    pub after: Option<u64>,
    /// The empty page in front of it was served already.
    resumed: bool,
}

/// Cursors that come after an empty page name the same position again.
const RESUME: &str = "pg2_";
const MASK: u64 = 0x2B2B_0000_2B2B;

fn parse_key(s: &str) -> Option<u64> {
    (s.len() == 11).then_some(())?;
    Some(ids::parse_base62(s)? ^ MASK)
}

/// The opaque cursor after item `seq`.
pub(crate) fn cursor(seq: u64) -> String {
    let mut s = String::from("pg1_");
    ids::push_base62(&mut s, seq ^ CURSOR_MASK, 11);
    s
}

/// Obscures the sequence a little so clients treat the cursor as opaque.
const CURSOR_MASK: u64 = 0x5A5A_0000_5A5A;

pub(crate) fn parse_cursor(s: &str) -> Option<u64> {
    let rest = s.strip_prefix("pg1_")?;
    if rest.len() != 11 {
        return None;
    }
    Some(ids::parse_base62(rest)? ^ CURSOR_MASK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_with(p: &Paging, next: Option<&str>) -> serde_json::Value {
        let mut out = String::from("{\"data\":[]");
        p.push_next(&mut out, next);
        serde_json::from_str(&out).unwrap()
    }

    #[test]
    fn the_last_page_ends_with_an_empty_cursor_unless_null_is_asked_for() {
        assert_eq!(page_with(&Paging::default(), None)["next_page"], "");
        let null = Paging {
            last_cursor: LastCursor::Null,
            ..Paging::default()
        };
        assert!(page_with(&null, None)["next_page"].is_null());
        assert_eq!(page_with(&null, Some("pg1_x"))["next_page"], "pg1_x");
    }

    #[test]
    fn an_empty_page_leads_to_the_same_position_and_is_not_served_twice() {
        let p = Paging::SDK_SHAPED;
        let start = p.position(None).unwrap();
        let empty: serde_json::Value =
            serde_json::from_str(&p.empty_page(&start).expect("the first page is empty")).unwrap();
        assert_eq!(empty["data"].as_array().map(Vec::len), Some(0));
        let resume_at = empty["next_page"].as_str().unwrap();
        let resumed = p.position(Some(resume_at)).unwrap();
        assert_eq!(resumed.after, None);
        assert_eq!(p.empty_page(&resumed), None);

        let after_41 = p.position(Some(&cursor(41))).unwrap();
        assert_eq!(after_41.after, Some(41));
        if let Some(page) = p.empty_page(&after_41) {
            let v: serde_json::Value = serde_json::from_str(&page).unwrap();
            let again = p.position(v["next_page"].as_str()).unwrap();
            assert_eq!((again.after, p.empty_page(&again)), (Some(41), None));
        }
    }

    #[test]
    fn empty_pages_come_now_and_then_and_never_when_off() {
        let p = Paging::SDK_SHAPED;
        let due = (0..300u64)
            .filter(|s| {
                p.empty_page(&Position {
                    after: Some(*s),
                    resumed: false,
                })
                .is_some()
            })
            .count();
        assert!((50..=150).contains(&due), "{due} of 300 boundaries");
        let off = Paging::default();
        assert_eq!(off.empty_page(&off.position(None).unwrap()), None);
    }

    #[test]
    fn garbage_cursors_are_refused() {
        let p = Paging::SDK_SHAPED;
        assert!(p.position(Some("pg2_!!")).is_err());
        assert!(p.position(Some("nope")).is_err());
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(parse_cursor(&cursor(12345)), Some(12345));
        assert_eq!(parse_cursor("nope"), None);
        assert_eq!(parse_cursor("pg1_!!!!!!!!!!!"), None);
    }
}
