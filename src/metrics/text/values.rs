//! Label values and sample values as the text formats write them, and the
//! `le` values of a histogram formatted once per family.

use std::fmt::Write;

/// The `le` label values of a histogram's bounds, formatted once.
#[derive(Debug, Clone)]
pub struct Buckets {
    pub(super) bounds: Vec<f64>,
    pub(super) le: Vec<String>,
}

impl Buckets {
    pub fn new(bounds: &[f64]) -> Self {
        Buckets {
            bounds: bounds.to_vec(),
            le: bounds
                .iter()
                .map(|b| {
                    let mut s = String::new();
                    write_value(&mut s, *b);
                    s
                })
                .collect(),
        }
    }
}

pub(super) fn escape_into(out: &mut String, v: &str) {
    // Label values almost never need escaping: copy them whole when they do not.
    if !v.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

pub(super) fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        write_integer(out, v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Decimal digits of an integer, without the formatting machinery (most
/// samples are counts).
fn write_integer(out: &mut String, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push('-');
    }
    for &d in &buf[i..] {
        out.push(char::from(d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_written_exactly_and_fractions_shortest() {
        let mut out = String::new();
        for v in [
            0.0,
            -0.0,
            7.0,
            -12.0,
            1e14,
            999_999_999_999_999.0,
            1e15,
            0.5,
            -2.25,
        ] {
            write_value(&mut out, v);
            out.push(' ');
        }
        assert_eq!(
            out,
            "0 0 7 -12 100000000000000 999999999999999 1000000000000000 0.5 -2.25 "
        );
    }
}
