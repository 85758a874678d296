//! A minimal writer of the Prometheus text exposition format (0.0.4), used
//! for the series rebuilt from snapshots on every scrape.

use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        }
    }
}

/// Text exposition being built: in `out`, or passed on to a sink in pieces
/// (a compressor, so that a large exposition is never whole in memory).
#[derive(Default)]
pub struct Exposition<'s> {
    pub out: String,
    sink: Option<&'s mut dyn std::io::Write>,
    failed: Option<std::io::Error>,
}

impl std::fmt::Debug for Exposition<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exposition")
            .field("buffered", &self.out.len())
            .field("streaming", &self.sink.is_some())
            .finish()
    }
}

/// How much text a streaming exposition gathers before passing it on.
const PIECE: usize = 64 * 1024;

/// Label pairs of one series; values are escaped on write.
pub type Labels<'a> = [(&'a str, &'a str)];

impl<'s> Exposition<'s> {
    pub fn with_capacity(n: usize) -> Self {
        Exposition {
            out: String::with_capacity(n),
            sink: None,
            failed: None,
        }
    }

    /// An exposition written to `sink` in pieces of about 64 KiB.
    pub fn streaming(sink: &'s mut dyn std::io::Write) -> Self {
        Exposition {
            out: String::with_capacity(PIECE + 4096),
            sink: Some(sink),
            failed: None,
        }
    }

    /// Pass the gathered text on once a piece is full.
    fn spill(&mut self, at_least: usize) {
        if self.out.len() < at_least {
            return;
        }
        if let Some(sink) = self.sink.as_mut() {
            if self.failed.is_none() {
                if let Err(e) = sink.write_all(self.out.as_bytes()) {
                    self.failed = Some(e);
                }
            }
            self.out.clear();
        }
    }

    /// A streaming exposition: write what is left; the first write error, if any.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.spill(0);
        match self.failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub fn header(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = writeln!(
            self.out,
            "# HELP {name} {}",
            help.replace('\\', "\\\\").replace('\n', "\\n")
        );
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
        self.spill(PIECE);
    }

    /// One sample: `name{labels} value`.
    pub fn sample(
        &mut self,
        name: &str,
        labels: &Labels<'_>,
        extra: Option<(&str, &str)>,
        value: f64,
    ) {
        self.sample_parts(name, "", labels, extra, value);
    }

    /// One sample of `name` + `suffix` (`_bucket`, `_sum`, …), written without
    /// a temporary string: a thousand environments make some 90,000 lines.
    fn sample_parts(
        &mut self,
        name: &str,
        suffix: &str,
        labels: &Labels<'_>,
        extra: Option<(&str, &str)>,
        value: f64,
    ) {
        self.out.push_str(name);
        self.out.push_str(suffix);
        let mut first = true;
        for (k, v) in labels.iter().copied().chain(extra) {
            self.out.push(if first { '{' } else { ',' });
            first = false;
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_into(&mut self.out, v);
            self.out.push('"');
        }
        if !first {
            self.out.push('}');
        }
        self.out.push(' ');
        write_value(&mut self.out, value);
        self.out.push('\n');
        self.spill(PIECE);
    }

    /// A histogram's `_bucket`, `_sum` and `_count` samples from per-bucket counts.
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &Labels<'_>,
        bounds: &[f64],
        counts: &[u64],
        sum: f64,
        count: u64,
    ) {
        self.histogram_with(&Buckets::new(bounds), name, labels, counts, sum, count);
    }

    /// `histogram` with the `le` values formatted once for every series of a family.
    pub fn histogram_with(
        &mut self,
        buckets: &Buckets,
        name: &str,
        labels: &Labels<'_>,
        counts: &[u64],
        sum: f64,
        count: u64,
    ) {
        let mut cumulative = 0;
        for (i, c) in counts.iter().enumerate() {
            cumulative += c;
            let le = buckets.le.get(i).map_or("+Inf", String::as_str);
            self.sample_parts(name, "_bucket", labels, Some(("le", le)), cumulative as f64);
        }
        self.sample_parts(name, "_sum", labels, None, sum);
        self.sample_parts(name, "_count", labels, None, count as f64);
    }
}

/// The `le` label values of a histogram's bounds, formatted once.
#[derive(Debug, Clone)]
pub struct Buckets {
    le: Vec<String>,
}

impl Buckets {
    pub fn new(bounds: &[f64]) -> Self {
        Buckets {
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

fn escape_into(out: &mut String, v: &str) {
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

fn write_value(out: &mut String, v: f64) {
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
    fn labels_are_escaped_and_values_formatted() {
        let mut e = Exposition::default();
        e.header("x", Kind::Gauge, "help");
        e.sample("x", &[("a", "q\"\\\n")], None, 1.5);
        e.sample("x", &[], None, 3.0);
        assert_eq!(
            e.out,
            "# HELP x help\n# TYPE x gauge\nx{a=\"q\\\"\\\\\\n\"} 1.5\nx 3\n"
        );
    }

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

    #[test]
    fn a_streaming_exposition_writes_the_same_text_in_pieces() {
        let write = |e: &mut Exposition<'_>| {
            e.header("x", Kind::Gauge, "help");
            for i in 0..20_000 {
                e.sample("x", &[("i", &i.to_string())], None, f64::from(i));
            }
        };
        let mut whole = Exposition::default();
        write(&mut whole);
        let mut sink = Vec::new();
        let mut streamed = Exposition::streaming(&mut sink);
        write(&mut streamed);
        assert!(streamed.out.len() < PIECE + 100);
        streamed.finish().unwrap();
        assert_eq!(String::from_utf8(sink).unwrap(), whole.out);
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_in_inf() {
        let mut e = Exposition::default();
        e.histogram("h", &[("e", "1")], &[1.0, 2.5], &[1, 2, 3], 9.0, 6);
        assert!(e.out.contains("h_bucket{e=\"1\",le=\"1\"} 1\n"));
        assert!(e.out.contains("h_bucket{e=\"1\",le=\"2.5\"} 3\n"));
        assert!(e.out.contains("h_bucket{e=\"1\",le=\"+Inf\"} 6\n"));
        assert!(e.out.contains("h_count{e=\"1\"} 6\n"));
    }
}
