//! The delimited protobuf exposition: `io.prometheus.client.MetricFamily`
//! messages, each preceded by its length as a varint, written by hand.
//!
//! Why by hand: the `prometheus` crate we use (0.13, built without its
//! `protobuf` feature) has no protobuf types, and even its generated ones
//! predate native histograms; `prost` would bring a derive macro and a
//! hand-declared copy of these same messages for the dozen fields written
//! here. The wire format of those fields (varints, zigzag, doubles,
//! length-delimited) is a page of code, tested against real Prometheus
//! (`tests/e2e/native_histograms.sh`). Field numbers are those of
//! `prometheus/client_model` `io/prometheus/client/metrics.proto`.

use super::text::Kind;
use crate::snapshot::native::{Native, SCHEMA, ZERO_THRESHOLD};

/// `MetricType` values.
fn type_number(kind: Kind) -> u64 {
    match kind {
        Kind::Counter => 0,
        Kind::Gauge => 1,
        Kind::Histogram => 4,
    }
}

/// Wire types.
const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn tag(out: &mut Vec<u8>, field: u64, wire: u64) {
    varint(out, (field << 3) | wire);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn double(out: &mut Vec<u8>, field: u64, v: f64) {
    tag(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

fn uint(out: &mut Vec<u8>, field: u64, v: u64) {
    tag(out, field, VARINT);
    varint(out, v);
}

fn bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    tag(out, field, LEN);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// One family being gathered: its metrics are written as they come and the
/// family is framed when the next one starts.
#[derive(Debug, Default)]
pub struct FamilyBuf {
    head: Vec<u8>,
    metrics: Vec<u8>,
    /// Reused for each metric's body, then for its histogram.
    scratch: Vec<u8>,
    inner: Vec<u8>,
    open: bool,
}

/// A classic histogram's cumulative buckets: (upper bound, cumulative count).
pub type ClassicBuckets<'a> = &'a [(f64, u64)];

impl FamilyBuf {
    /// Start a family (the previous one must have been `close`d).
    pub fn open(&mut self, name: &str, help: &str, kind: Kind) {
        self.head.clear();
        self.metrics.clear();
        bytes(&mut self.head, 1, name.as_bytes());
        bytes(&mut self.head, 2, help.as_bytes());
        uint(&mut self.head, 3, type_number(kind));
        self.open = true;
    }

    /// Frame the open family onto `out` (length, then the message).
    pub fn close(&mut self, out: &mut Vec<u8>) {
        if !self.open {
            return;
        }
        self.open = false;
        varint(out, (self.head.len() + self.metrics.len()) as u64);
        out.extend_from_slice(&self.head);
        out.extend_from_slice(&self.metrics);
    }

    fn labels(&mut self, labels: &[(&str, &str)], extra: &[(&str, &str)]) {
        self.scratch.clear();
        for &(k, v) in labels.iter().chain(extra) {
            self.inner.clear();
            bytes(&mut self.inner, 1, k.as_bytes());
            bytes(&mut self.inner, 2, v.as_bytes());
            bytes(&mut self.scratch, 1, &self.inner);
        }
    }

    fn push_metric(&mut self) {
        bytes(&mut self.metrics, 4, &self.scratch);
    }

    /// A gauge or counter sample (the family's kind decides which).
    pub fn sample(
        &mut self,
        kind: Kind,
        labels: &[(&str, &str)],
        extra: &[(&str, &str)],
        value: f64,
    ) {
        self.labels(labels, extra);
        self.inner.clear();
        double(&mut self.inner, 1, value);
        let field = if kind == Kind::Counter { 3 } else { 2 };
        bytes(&mut self.scratch, field, &self.inner);
        self.push_metric();
    }

    /// A histogram with classic buckets, native ones, or both.
    pub fn histogram(
        &mut self,
        labels: &[(&str, &str)],
        classic: ClassicBuckets<'_>,
        native: Option<&Native>,
        sum: f64,
        count: u64,
    ) {
        self.labels(labels, &[]);
        let h = &mut self.inner;
        h.clear();
        uint(h, 1, count);
        double(h, 2, sum);
        let mut bucket = Vec::with_capacity(16);
        for &(upper, cumulative) in classic {
            bucket.clear();
            uint(&mut bucket, 1, cumulative);
            double(&mut bucket, 2, upper);
            bytes(h, 3, &bucket);
        }
        if let Some(n) = native {
            // A zero threshold above 0 is what marks the histogram native
            // for Prometheus even before its first observation.
            tag(h, 5, VARINT);
            varint(h, zigzag(i64::from(SCHEMA)));
            double(h, 6, ZERO_THRESHOLD);
            uint(h, 7, n.zero_count);
            let (spans, deltas) = n.spans_and_deltas();
            for (offset, length) in spans {
                bucket.clear();
                tag(&mut bucket, 1, VARINT);
                varint(&mut bucket, zigzag(i64::from(offset)));
                uint(&mut bucket, 2, u64::from(length));
                bytes(h, 12, &bucket);
            }
            if !deltas.is_empty() {
                bucket.clear();
                for d in deltas {
                    varint(&mut bucket, zigzag(d));
                }
                bytes(h, 13, &bucket);
            }
        }
        let h = std::mem::take(&mut self.inner);
        bytes(&mut self.scratch, 7, &h);
        self.inner = h;
        self.push_metric();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag_follow_the_protobuf_encoding() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(-3), 5);
    }

    #[test]
    fn a_gauge_family_is_framed_by_its_length() {
        let mut f = FamilyBuf::default();
        f.open("g", "h", Kind::Gauge);
        f.sample(Kind::Gauge, &[("a", "b")], &[], 1.0);
        let mut out = Vec::new();
        f.close(&mut out);
        let expected: Vec<u8> = [
            &[0x0a, 1, b'g', 0x12, 1, b'h', 0x18, 1][..],
            // metric: label {name a, value b}, gauge {value 1.0}
            &[
                0x22, 19, 0x0a, 6, 0x0a, 1, b'a', 0x12, 1, b'b', 0x12, 9, 0x09,
            ],
            &1.0f64.to_le_bytes(),
        ]
        .concat();
        assert_eq!(out[0] as usize, expected.len());
        assert_eq!(&out[1..], &expected[..]);
        let mut again = Vec::new();
        f.close(&mut again);
        assert!(again.is_empty(), "a closed family is framed once");
    }
}
