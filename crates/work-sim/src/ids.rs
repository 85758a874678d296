//! Identifiers, keys, a small PRNG and a fast timestamp writer for the simulator.
//!
//! IDs keep the API's look (`env_01…`, `work_01…`, `session_01…`). A work id
//! carries its sequence number in fixed-width base62 right after the prefix,
//! so ids sort like creation order and a lookup needs no index.

/// SplitMix64: tiny, fast, and good enough for a simulated workload. Kept here
/// instead of the `rand` crate so that a seed means the same thing forever.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`; `lo` when the range is empty.
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + (self.next_u64() % (hi - lo) as u64) as i64
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }
}

pub(crate) use work_api::hash::mix64 as mix;

/// Base62 in ASCII order, so fixed-width encodings sort like the numbers.
const B62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Eleven base62 digits hold any `u64`.
const U64_DIGITS: usize = 11;

pub(crate) fn push_base62(out: &mut String, mut v: u64, width: usize) {
    let mut buf = [b'0'; 16];
    let width = width.min(buf.len());
    for slot in buf[..width].iter_mut().rev() {
        *slot = B62[(v % 62) as usize];
        v /= 62;
    }
    out.push_str(std::str::from_utf8(&buf[..width]).unwrap_or_default());
}

pub(crate) fn parse_base62(s: &str) -> Option<u64> {
    let mut v: u64 = 0;
    for b in s.bytes() {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'A'..=b'Z' => b - b'A' + 10,
            b'a'..=b'z' => b - b'a' + 36,
            _ => return None,
        };
        v = v.checked_mul(62)?.checked_add(u64::from(d))?;
    }
    Some(v)
}

const WORK_PREFIX: &str = "work_01";

pub(crate) fn env_id(salt: u64) -> String {
    let mut s = String::with_capacity(28);
    s.push_str("env_01");
    push_base62(&mut s, mix(salt), U64_DIGITS);
    push_base62(&mut s, mix(salt ^ 0xE7), U64_DIGITS);
    s
}

/// Appends the id of item `seq` of the environment with `salt`.
pub(crate) fn push_work_id(out: &mut String, salt: u64, seq: u64) {
    out.push_str(WORK_PREFIX);
    push_base62(out, seq, U64_DIGITS);
    push_base62(out, mix(salt ^ seq), U64_DIGITS);
}

pub(crate) fn work_id(salt: u64, seq: u64) -> String {
    let mut s = String::with_capacity(29);
    push_work_id(&mut s, salt, seq);
    s
}

/// The sequence number of a work id of the environment with `salt`, if it is one.
pub(crate) fn parse_work_id(salt: u64, id: &str) -> Option<u64> {
    let rest = id.strip_prefix(WORK_PREFIX)?;
    if rest.len() != 2 * U64_DIGITS {
        return None;
    }
    let seq = parse_base62(rest.get(..U64_DIGITS)?)?;
    (work_id(salt, seq) == id).then_some(seq)
}

pub(crate) fn push_session_id(out: &mut String, salt: u64, seq: u64) {
    out.push_str("session_01");
    push_base62(out, mix(salt.rotate_left(17) ^ seq), U64_DIGITS);
    push_base62(out, mix(seq.rotate_left(29) ^ salt), U64_DIGITS);
}

/// A token of `chars` base62 characters after `prefix`.
pub(crate) fn token(rng: &mut SplitMix64, prefix: &str, chars: usize) -> String {
    let mut s = String::with_capacity(prefix.len() + chars + U64_DIGITS);
    s.push_str(prefix);
    while s.len() < prefix.len() + chars {
        push_base62(&mut s, rng.next_u64(), U64_DIGITS);
    }
    s.truncate(prefix.len() + chars);
    s
}

/// 64 bits from the OS (keys must not follow from `--seed`), or from the
/// time and pid when /dev/urandom is unreadable.
pub(crate) fn random_seed() -> u64 {
    use std::io::Read;
    let mut buf = [0u8; 8];
    let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let os = if from_os.is_ok() {
        u64::from_le_bytes(buf)
    } else {
        0
    };
    mix(os ^ nanos ^ u64::from(std::process::id()).rotate_left(32))
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's
/// `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn put_digits(buf: &mut [u8], v: u64) {
    let mut v = v;
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Appends `unix_ms` as RFC 3339 with microseconds and `Z` (the API's shape),
/// without going through a formatting library: a list page holds thousands.
pub(crate) fn push_timestamp(out: &mut String, unix_ms: i64) {
    let secs = unix_ms.div_euclid(1000);
    let ms = unix_ms.rem_euclid(1000) as u64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    if !(0..=9999).contains(&y) {
        out.push_str(&work_api::wire::format_timestamp_ms(unix_ms));
        return;
    }
    let sod = secs.rem_euclid(86_400) as u64;
    let mut b = *b"0000-00-00T00:00:00.000000Z";
    put_digits(&mut b[0..4], y as u64);
    put_digits(&mut b[5..7], u64::from(mo));
    put_digits(&mut b[8..10], u64::from(d));
    put_digits(&mut b[11..13], sod / 3600);
    put_digits(&mut b[14..16], sod / 60 % 60);
    put_digits(&mut b[17..19], sod % 60);
    put_digits(&mut b[20..23], ms);
    // Only ASCII digits were written, so this never falls back.
    out.push_str(std::str::from_utf8(&b).unwrap_or_default());
}

pub(crate) fn timestamp(unix_ms: i64) -> String {
    let mut s = String::with_capacity(27);
    push_timestamp(&mut s, unix_ms);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use work_api::wire::format_timestamp_ms;

    #[test]
    fn fast_timestamps_match_the_wire_formatter() {
        let mut rng = SplitMix64::new(7);
        for ms in [0, 1, 951_782_400_000, 1_780_000_000_123, 4_102_444_799_999] {
            assert_eq!(timestamp(ms), format_timestamp_ms(ms));
        }
        for _ in 0..10_000 {
            let ms = rng.range(0, 4_000_000_000_000);
            assert_eq!(timestamp(ms), format_timestamp_ms(ms), "{ms}");
        }
    }

    #[test]
    fn work_ids_sort_like_their_sequence_and_parse_back() {
        let a = work_id(42, 9);
        let b = work_id(42, 10);
        let c = work_id(42, 1_000_000);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert!(a.starts_with("work_01"));
        assert_eq!(parse_work_id(42, &c), Some(1_000_000));
        assert_eq!(parse_work_id(43, &c), None, "another environment's id");
        assert_eq!(parse_work_id(42, "work_01nope"), None);
    }

    #[test]
    fn prng_is_deterministic_per_seed() {
        let mut a = SplitMix64::new(3);
        let mut b = SplitMix64::new(3);
        let mut c = SplitMix64::new(4);
        let va: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let vb: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        let vc: Vec<u64> = (0..5).map(|_| c.next_u64()).collect();
        assert_eq!(va, vb);
        assert_ne!(va, vc);
        assert!((0..1000).all(|_| (0.0..1.0).contains(&a.next_f64())));
    }

    #[test]
    fn tokens_have_the_asked_length() {
        let mut rng = SplitMix64::new(1);
        let t = token(&mut rng, "sk-", 40);
        assert_eq!(t.len(), 43);
        assert!(t.starts_with("sk-"));
    }
}
