//! The list page read by hand: the shape of a work list, scanned once with
//! no serde machinery, no UTF-8 check of keys it matches byte for byte, and
//! strings found eight bytes at a time. Profiled as deployed (TLS + gzip,
//! 1,000 x 1,000), the serde decoder was about 40% of the exporter's CPU.
//!
//! serde stays the reference. The scanner accepts only what it reads exactly
//! as the serde decoder (`super::PageSeed`) would, and stops (`Bail`) at
//! anything else: an escaped string where a value is read, a duplicate
//! field, a row that is not an object, a malformed value. Rows it handed on
//! before stopping are then skipped by the serde decoder, which reads the
//! whole page again and decides: the page decodes exactly as serde alone
//! decodes it (a test compares the two on mutated pages).

use super::{utc_fast_path, DataType, PageEnd, RowData, WorkRow};
use crate::wire::WorkState;
use std::borrow::Cow;

/// The scanner stopped: serde reads the page.
#[derive(Debug)]
pub(super) struct Bail;

type Scan<T> = Result<T, Bail>;

/// Nesting the scanner skips through; deeper values go to serde (its limit is 128).
const MAX_DEPTH: usize = 64;

/// One page, each row handed to `each` as read; `handed` counts them, so the
/// serde decoder can skip them if the scanner stops.
pub(super) fn page<'a>(
    body: &'a [u8],
    handed: &mut usize,
    each: &mut impl FnMut(WorkRow<'a>),
) -> Scan<PageEnd<'a>> {
    let mut c = Cursor { b: body, i: 0 };
    let (mut rows, mut next_page) = (None, None);
    c.object(|c| {
        match c.key()? {
            b"data" if rows.is_some() => return Err(Bail),
            b"data" => rows = Some(c.rows(handed, each)?),
            b"next_page" => next_page = c.nullable_str()?,
            _ => c.skip(1)?,
        }
        Ok(())
    })?;
    c.ws();
    if c.i != body.len() {
        return Err(Bail);
    }
    Ok(PageEnd {
        rows: rows.ok_or(Bail)?,
        next_page,
    })
}

/// The fields of a row the scanner reads; `At(n)`: the n-th timestamp.
#[derive(Clone, Copy)]
enum Field {
    Id,
    State,
    At(usize),
    Data,
    Other,
}

/// A row's keys, quoted, in the order the API writes them.
const ROW_KEYS: [(&[u8], Field); 13] = [
    (b"\"type\"", Field::Other),
    (b"\"id\"", Field::Id),
    (b"\"environment_id\"", Field::Other),
    (b"\"state\"", Field::State),
    (b"\"created_at\"", Field::At(0)),
    (b"\"acknowledged_at\"", Field::At(1)),
    (b"\"started_at\"", Field::At(2)),
    (b"\"latest_heartbeat_at\"", Field::At(3)),
    (b"\"stop_requested_at\"", Field::At(4)),
    (b"\"stopped_at\"", Field::At(5)),
    (b"\"data\"", Field::Data),
    (b"\"metadata\"", Field::Other),
    (b"\"secret\"", Field::Other),
];

/// The five states, quoted, as the API writes them.
const STATES: [(&[u8], WorkState); 5] = [
    (b"\"queued\"", WorkState::Queued),
    (b"\"starting\"", WorkState::Starting),
    (b"\"active\"", WorkState::Active),
    (b"\"stopping\"", WorkState::Stopping),
    (b"\"stopped\"", WorkState::Stopped),
];

/// `"YYYY-MM-DDTHH:MM:SS[.digits]Z"` at the start of `b`, read in one pass:
/// its value and its length with the quotes. What the fast path accepts is
/// digits and `-T:.Z` only, so it is a plain JSON string; anything else
/// (`None`) is read as any other string.
#[inline]
fn canonical_timestamp(b: &[u8]) -> Option<(i64, usize)> {
    if b.first() != Some(&b'"') {
        return None;
    }
    let mut end = 20;
    if b.get(end) == Some(&b'.') {
        end += 1;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
    }
    if b.get(end) != Some(&b'Z') || b.get(end + 1) != Some(&b'"') {
        return None;
    }
    Some((utc_fast_path(&b[1..=end])?, end + 2))
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

/// Whether a word of eight bytes holds a `"`, a `\` or a control byte (below 0x20).
#[inline]
fn special(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x;
    let quote = w ^ (ONES * u64::from(b'"'));
    let slash = w ^ (ONES * u64::from(b'\\'));
    (zero_in(quote) | zero_in(slash) | (w.wrapping_sub(ONES * 0x20) & !w)) & HIGH != 0
}

impl<'a> Cursor<'a> {
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    #[inline]
    fn expect(&mut self, byte: u8) -> Scan<()> {
        if self.peek() != Some(byte) {
            return Err(Bail);
        }
        self.i += 1;
        Ok(())
    }

    /// After a member: true at the closing `close` (consumed), false after a
    /// `,` (consumed); anything else stops.
    #[inline]
    fn close(&mut self, close: u8) -> Scan<bool> {
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                Ok(false)
            }
            Some(c) if c == close => {
                self.i += 1;
                Ok(true)
            }
            _ => Err(Bail),
        }
    }

    /// An object, each member read by `member` from its key on (none for `{}`).
    #[inline]
    fn object(&mut self, member: impl FnMut(&mut Self) -> Scan<()>) -> Scan<()> {
        self.each_in(b'{', b'}', member)
    }

    /// An array, each element read by `element` (none for `[]`).
    #[inline]
    fn list(&mut self, element: impl FnMut(&mut Self) -> Scan<()>) -> Scan<()> {
        self.each_in(b'[', b']', element)
    }

    /// `open`, then what `one` reads, separated by commas, until `close`.
    #[inline]
    fn each_in(
        &mut self,
        open: u8,
        close: u8,
        mut one: impl FnMut(&mut Self) -> Scan<()>,
    ) -> Scan<()> {
        self.expect(open)?;
        if self.peek() == Some(close) {
            self.i += 1;
            return Ok(());
        }
        loop {
            one(self)?;
            if self.close(close)? {
                return Ok(());
            }
        }
    }

    /// A string at the cursor: its raw bytes between the quotes, and whether
    /// it holds an escape (each checked as serde_json checks an ignored one).
    #[inline]
    fn string(&mut self) -> Scan<(&'a [u8], bool)> {
        if self.peek() != Some(b'"') {
            return Err(Bail);
        }
        let start = self.i + 1;
        let mut j = start;
        let mut escaped = false;
        loop {
            while let Some(word) = self.b.get(j..j + 8) {
                let w = u64::from_le_bytes(word.try_into().map_err(|_| Bail)?);
                if special(w) {
                    break;
                }
                j += 8;
            }
            match *self.b.get(j).ok_or(Bail)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    j = self.escape(j + 1)?;
                }
                c if c < 0x20 => return Err(Bail),
                _ => j += 1,
            }
        }
        self.i = j + 1;
        Ok((&self.b[start..j], escaped))
    }

    /// The position after the escape whose letter is at `j`.
    fn escape(&self, j: usize) -> Scan<usize> {
        match *self.b.get(j).ok_or(Bail)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Ok(j + 1),
            b'u' => {
                let hex = self.b.get(j + 1..j + 5).ok_or(Bail)?;
                if hex.iter().all(u8::is_ascii_hexdigit) {
                    Ok(j + 5)
                } else {
                    Err(Bail)
                }
            }
            _ => Err(Bail),
        }
    }

    /// A member's key and its `:`. An escaped key goes to serde; a key matched
    /// by nobody must still be UTF-8, as serde reads keys as `str`.
    #[inline]
    fn key(&mut self) -> Scan<&'a [u8]> {
        let (key, escaped) = self.string()?;
        if escaped || (!key.is_ascii() && std::str::from_utf8(key).is_err()) {
            return Err(Bail);
        }
        self.expect(b':')?;
        Ok(key)
    }

    /// An unescaped string value as `str`.
    #[inline]
    fn plain_str(&mut self) -> Scan<&'a str> {
        match self.string()? {
            (s, false) => std::str::from_utf8(s).map_err(|_| Bail),
            (_, true) => Err(Bail),
        }
    }

    #[inline]
    fn null(&mut self) -> Scan<bool> {
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn nullable_str(&mut self) -> Scan<Option<Cow<'a, str>>> {
        if self.null()? {
            return Ok(None);
        }
        Ok(Some(Cow::Borrowed(self.plain_str()?)))
    }

    fn literal(&mut self, word: &[u8]) -> Scan<()> {
        if self.b.get(self.i..self.i + word.len()) != Some(word) {
            return Err(Bail);
        }
        self.i += word.len();
        Ok(())
    }

    /// A number as JSON writes it (serde_json's grammar, nothing looser).
    fn number(&mut self) -> Scan<()> {
        let digits = |c: &mut Self| {
            let from = c.i;
            while c.b.get(c.i).is_some_and(u8::is_ascii_digit) {
                c.i += 1;
            }
            c.i > from
        };
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(Bail),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !digits(self) {
                return Err(Bail);
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if !digits(self) {
                return Err(Bail);
            }
        }
        // "01", "1x": serde rejects what follows in place of a delimiter; so does `close`.
        Ok(())
    }

    /// Any value, unread (as serde's `IgnoredAny`).
    fn skip(&mut self, depth: usize) -> Scan<()> {
        if depth > MAX_DEPTH {
            return Err(Bail);
        }
        match self.peek().ok_or(Bail)? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|c| {
                c.string()?;
                c.expect(b':')?;
                c.skip(depth + 1)
            }),
            b'[' => self.list(|c| c.skip(depth + 1)),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    /// `data`: the rows, each handed on once read whole.
    fn rows(&mut self, handed: &mut usize, each: &mut impl FnMut(WorkRow<'a>)) -> Scan<usize> {
        self.list(|c| {
            each(c.row()?);
            *handed += 1;
            Ok(())
        })?;
        Ok(*handed)
    }

    /// An RFC 3339 timestamp or null, as the serde decoder's `timestamp`.
    #[inline]
    fn timestamp(&mut self, slot: &mut Option<Option<i64>>) -> Scan<()> {
        if slot.is_some() {
            return Err(Bail);
        }
        self.ws();
        let value = if let Some((ms, len)) = canonical_timestamp(&self.b[self.i..]) {
            self.i += len;
            Some(ms)
        } else if self.null()? {
            None
        } else {
            match self.string()? {
                (v, false) => utc_fast_path(v)
                    .or_else(|| std::str::from_utf8(v).ok().and_then(super::timestamp_ms)),
                (_, true) => return Err(Bail),
            }
        };
        *slot = Some(value);
        Ok(())
    }

    fn row(&mut self) -> Scan<WorkRow<'a>> {
        let mut id = None;
        let mut state = None;
        let mut at: [Option<Option<i64>>; 6] = [None; 6];
        let mut data: Option<Option<RowData<'a>>> = None;
        let mut guess = 0;
        self.object(|c| {
            match c.row_key(&mut guess)? {
                Field::Id if id.is_some() => return Err(Bail),
                Field::Id => id = Some(c.plain_str()?),
                Field::State if state.is_some() => return Err(Bail),
                Field::State => state = Some(c.state()?),
                Field::At(n) => c.timestamp(&mut at[n])?,
                Field::Data if data.is_some() => return Err(Bail),
                Field::Data => data = Some(c.row_data()?),
                Field::Other => c.skip(3)?,
            }
            Ok(())
        })?;
        let [created, acknowledged, started, heartbeat, stop_requested, stopped] = at;
        Ok(WorkRow {
            id: Cow::Borrowed(id.ok_or(Bail)?),
            state: state.ok_or(Bail)?,
            created_at_ms: created.flatten(),
            acknowledged_at_ms: acknowledged.flatten(),
            started_at_ms: started.flatten(),
            latest_heartbeat_at_ms: heartbeat.flatten(),
            stop_requested_at_ms: stop_requested.flatten(),
            stopped_at_ms: stopped.flatten(),
            data: data.flatten(),
        })
    }

    /// A row's key and its `:`. The key the API writes next (`guess`, in
    /// `ROW_KEYS` order) is compared whole, quotes included, before any
    /// scanning: a string that starts `"state"` is the key `state`.
    #[inline]
    fn row_key(&mut self, guess: &mut usize) -> Scan<Field> {
        self.ws();
        if let Some((quoted, field)) = ROW_KEYS.get(*guess) {
            if self.b[self.i..].starts_with(quoted) {
                self.i += quoted.len();
                *guess += 1;
                self.expect(b':')?;
                return Ok(*field);
            }
        }
        let key = self.key()?;
        Ok(ROW_KEYS
            .iter()
            .find(|(quoted, _)| &quoted[1..quoted.len() - 1] == key)
            .map_or(Field::Other, |(_, field)| *field))
    }

    /// `state`: one of the five, or any other string as `Unknown` (`serde(other)`).
    fn state(&mut self) -> Scan<WorkState> {
        self.ws();
        let rest = &self.b[self.i..];
        for (quoted, state) in STATES {
            if rest.starts_with(quoted) {
                self.i += quoted.len();
                return Ok(state);
            }
        }
        Ok(match self.plain_str()?.as_bytes() {
            b"queued" => WorkState::Queued,
            b"starting" => WorkState::Starting,
            b"active" => WorkState::Active,
            b"stopping" => WorkState::Stopping,
            b"stopped" => WorkState::Stopped,
            _ => WorkState::Unknown,
        })
    }

    /// `data` of a row: null, or an object with an optional `id` and `type`.
    fn row_data(&mut self) -> Scan<Option<RowData<'a>>> {
        if self.null()? {
            return Ok(None);
        }
        let (mut id, mut kind) = (None, None);
        self.object(|c| {
            match c.key()? {
                b"id" if id.is_some() => return Err(Bail),
                b"id" => id = Some(c.nullable_str()?),
                b"type" if kind.is_some() => return Err(Bail),
                b"type" => {
                    kind = Some(if c.null()? {
                        None
                    } else {
                        Some(match c.plain_str()?.as_bytes() {
                            b"session" => DataType::Session,
                            b"healthcheck" => DataType::Healthcheck,
                            _ => DataType::Other,
                        })
                    })
                }
                _ => c.skip(4)?,
            }
            Ok(())
        })?;
        Ok(Some(RowData {
            id: id.flatten(),
            kind: kind.flatten(),
        }))
    }
}
