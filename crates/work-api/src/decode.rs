//! Lean, borrowing decoders for the hot path: a list page is read row by row
//! into rows that keep only what the exporter counts, each handed on as soon
//! as it is read (no vector of rows), with timestamps converted to Unix
//! milliseconds while decoding. `metadata`, `secret` and unknown fields are
//! skipped by serde without being stored anywhere, and strings borrow from
//! the body: decoding a page allocates nothing per row.
//!
//! (`#[serde(borrow)]` alone does not borrow an `Option<Cow<str>>`: serde then
//! goes through `String` and allocates. Hence the small visitors below.)

use super::wire::WorkState;
use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;
use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

/// One page of the work list, borrowing from the response body.
#[derive(Debug)]
pub struct WorkPage<'a> {
    pub data: Vec<WorkRow<'a>>,
    pub next_page: Option<Cow<'a, str>>,
}

/// What is left of a page once its rows were handed on.
#[derive(Debug)]
pub struct PageEnd<'a> {
    pub rows: usize,
    pub next_page: Option<Cow<'a, str>>,
}

/// The fields of a work item the exporter uses; timestamps in Unix
/// milliseconds, `None` when null, absent or unreadable.
#[derive(Debug, Deserialize)]
pub struct WorkRow<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    pub state: WorkState,
    #[serde(rename = "created_at", default, deserialize_with = "timestamp")]
    pub created_at_ms: Option<i64>,
    #[serde(rename = "acknowledged_at", default, deserialize_with = "timestamp")]
    pub acknowledged_at_ms: Option<i64>,
    #[serde(rename = "started_at", default, deserialize_with = "timestamp")]
    pub started_at_ms: Option<i64>,
    #[serde(
        rename = "latest_heartbeat_at",
        default,
        deserialize_with = "timestamp"
    )]
    pub latest_heartbeat_at_ms: Option<i64>,
    #[serde(rename = "stop_requested_at", default, deserialize_with = "timestamp")]
    pub stop_requested_at_ms: Option<i64>,
    #[serde(rename = "stopped_at", default, deserialize_with = "timestamp")]
    pub stopped_at_ms: Option<i64>,
    #[serde(borrow, default)]
    pub data: Option<RowData<'a>>,
}

/// `data` of a work item: what it is (`type`) and, for a session, which one.
#[derive(Debug, Deserialize)]
pub struct RowData<'a> {
    #[serde(borrow, default, deserialize_with = "borrowed")]
    pub id: Option<Cow<'a, str>>,
    #[serde(rename = "type", default)]
    pub kind: Option<DataType>,
}

/// `data.type`, read as an identifier (nothing is allocated). The queue
/// delivers `healthcheck` items besides sessions (SDK 2.14 `_worker.py`: "The
/// queue also sends healthcheck items, which the generated type does not
/// model"); any other value is `Other`, counted as unrecognized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    Session,
    Healthcheck,
    #[serde(other)]
    Other,
}

/// Decode a list page into a vector of rows.
pub fn work_page(body: &[u8]) -> Result<WorkPage<'_>, serde_json::Error> {
    let mut data = Vec::new();
    let end = work_page_each(body, |row| data.push(row))?;
    Ok(WorkPage {
        data,
        next_page: end.next_page,
    })
}

/// Decode a list page, handing each row to `each` as soon as it is read. On
/// an error some rows may have been handed on already: the caller drops what
/// it made of them (a refresh keeps nothing of a walk that failed).
///
/// The hand-written scanner (`scan`) reads the page; where it stops, the
/// serde decoder reads it again, skipping the rows already handed on, and
/// decides. Either way the rows are exactly serde's.
pub fn work_page_each<'a>(
    body: &'a [u8],
    mut each: impl FnMut(WorkRow<'a>),
) -> Result<PageEnd<'a>, serde_json::Error> {
    let mut handed = 0;
    if let Ok(end) = scan::page(body, &mut handed, &mut each) {
        return Ok(end);
    }
    let mut seen = 0;
    serde_page_each(body, |row| {
        if seen >= handed {
            each(row);
        }
        seen += 1;
    })
}

/// The serde decoder alone: the reference the scanner is held to.
pub(crate) fn serde_page_each<'a>(
    body: &'a [u8],
    each: impl FnMut(WorkRow<'a>),
) -> Result<PageEnd<'a>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let end = PageSeed { each }.deserialize(&mut de)?;
    de.end()?;
    Ok(end)
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum PageField {
    Data,
    NextPage,
    #[serde(other)]
    Other,
}

/// `next_page`: a cursor or null, borrowed.
#[derive(Deserialize)]
struct Cursor<'a>(#[serde(borrow, deserialize_with = "borrowed")] Option<Cow<'a, str>>);

struct PageSeed<F> {
    each: F,
}

impl<'de, F: FnMut(WorkRow<'de>)> DeserializeSeed<'de> for PageSeed<F> {
    type Value = PageEnd<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(WorkRow<'de>)> Visitor<'de> for PageSeed<F> {
    type Value = PageEnd<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a page of work items")
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut rows, mut next_page) = (None, None);
        while let Some(field) = map.next_key::<PageField>()? {
            match field {
                PageField::Data if rows.is_some() => return Err(A::Error::duplicate_field("data")),
                PageField::Data => {
                    rows = Some(map.next_value_seed(Rows {
                        each: &mut self.each,
                    })?)
                }
                PageField::NextPage => next_page = map.next_value::<Cursor<'de>>()?.0,
                PageField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(PageEnd {
            rows: rows.ok_or_else(|| A::Error::missing_field("data"))?,
            next_page,
        })
    }
}

/// `data`: the rows, each handed on as it is read; the value is how many.
struct Rows<'f, F> {
    each: &'f mut F,
}

impl<'de, F: FnMut(WorkRow<'de>)> DeserializeSeed<'de> for Rows<'_, F> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(WorkRow<'de>)> Visitor<'de> for Rows<'_, F> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of work items")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut n = 0;
        while let Some(row) = seq.next_element::<WorkRow<'de>>()? {
            (self.each)(row);
            n += 1;
        }
        Ok(n)
    }
}

/// A string or null, borrowed from the input when it has no escapes.
fn borrowed<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(self)
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
    }
    d.deserialize_option(V)
}

/// An RFC 3339 string or null, as Unix milliseconds; an unreadable string is `None`.
fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an RFC 3339 timestamp or null")
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            // Bytes, not str: serde_json then skips the UTF-8 check, and the
            // parser below reads ASCII digits anyway.
            d.deserialize_bytes(self)
        }
        fn visit_bytes<E>(self, v: &[u8]) -> Result<Self::Value, E> {
            Ok(utc_fast_path(v).or_else(|| std::str::from_utf8(v).ok().and_then(timestamp_ms)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(timestamp_ms(v))
        }
    }
    d.deserialize_option(V)
}

/// RFC 3339 to Unix milliseconds (truncated, as the nanoseconds divided by a
/// million); `None` for an unreadable value.
pub fn timestamp_ms(s: &str) -> Option<i64> {
    utc_fast_path(s.as_bytes()).or_else(|| {
        let t =
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
    })
}

/// The shape the API sends, `YYYY-MM-DDTHH:MM:SS[.1 to 9 digits]Z` from 1970
/// on, read by hand: six of these per work item made `time`'s general parser
/// a tenth of a refresh. Anything else (another offset, a leap second,
/// lower-case `t`/`z`, an earlier year) returns `None` and takes the general
/// parser, so both always agree (a test checks it).
fn utc_fast_path(b: &[u8]) -> Option<i64> {
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[b.len() - 1] != b'Z'
    {
        return None;
    }
    // Lazily: `hi * 10` overflows a u8 for a non-digit, which must never be computed.
    let two = |i: usize| {
        let (hi, lo) = (b[i].wrapping_sub(b'0'), b[i + 1].wrapping_sub(b'0'));
        (hi < 10 && lo < 10).then(|| i64::from(hi * 10 + lo))
    };
    let days = days_of(b)?;
    let (hour, minute, second) = (two(11)?, two(14)?, two(17)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut millis = 0;
    let fraction = &b[19..b.len() - 1];
    if let Some((&dot, digits)) = fraction.split_first() {
        if dot != b'.' || digits.is_empty() || digits.len() > 9 {
            return None;
        }
        for (i, &c) in digits.iter().enumerate() {
            let d = c.wrapping_sub(b'0');
            if d >= 10 {
                return None;
            }
            if i < 3 {
                millis = millis * 10 + i64::from(d);
            }
        }
        for _ in digits.len()..3 {
            millis *= 10;
        }
    }
    Some((((days * 24 + hour) * 60 + minute) * 60 + second) * 1000 + millis)
}

thread_local! {
    /// The last date read and its day number: the timestamps of one list
    /// mostly fall on a few days, so the calendar arithmetic is rarely redone.
    static LAST_DAY: Cell<(u128, i64)> = const { Cell::new((0, 0)) };
}

/// Days since 1970-01-01 of the `YYYY-MM-DD` that `b` starts with (checked,
/// from 1970 on); `None` for anything else.
fn days_of(b: &[u8]) -> Option<i64> {
    let mut packed = [0u8; 16];
    packed[..10].copy_from_slice(b.get(..10)?);
    let date = u128::from_le_bytes(packed);
    let (last, days) = LAST_DAY.get();
    if date == last && last != 0 {
        return Some(days);
    }
    // Lazily: `hi * 10` overflows a u8 for a non-digit, which must never be computed.
    let two = |i: usize| {
        let (hi, lo) = (b[i].wrapping_sub(b'0'), b[i + 1].wrapping_sub(b'0'));
        (hi < 10 && lo < 10).then(|| i64::from(hi * 10 + lo))
    };
    let year = two(0)? * 100 + two(2)?;
    let (month, day) = (two(5)?, two(8)?);
    if year < 1970 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    LAST_DAY.set((date, days));
    Some(days)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

mod scan;

#[cfg(test)]
mod tests;

#[cfg(test)]
#[path = "decode/scan_tests.rs"]
mod scan_tests;
