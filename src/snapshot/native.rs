//! Sparse exponential ("native") histogram buckets, kept beside the fixed
//! buckets of every lifecycle histogram and fed the same observations.
//!
//! Schema 3: each power of two is split into 2^3 = 8 buckets, so a bucket's
//! upper bound is 2^(1/8) ≈ 1.0905 times its lower bound. A quantile read
//! from these buckets is within ±4.3% of the true value (half a bucket's
//! width around its middle), from a millisecond to days alike, where the
//! fixed buckets are off by up to half of 30 s..60 s. Only buckets that
//! received an observation are stored: a millisecond to 36 hours is 27
//! powers of two, at most 216 buckets, and a real queue fills a few dozen.
//!
//! The zero bucket takes everything at or below 2^-10 s (0.98 ms): lifecycle
//! durations are differences of millisecond timestamps, so those are the
//! zeros (a clock skew is clamped to 0 before it gets here).

use std::collections::BTreeMap;

/// Bucket resolution: 2^SCHEMA buckets per power of two.
pub const SCHEMA: i32 = 3;
/// Width of the zero bucket, a power of two so it lines up with bucket bounds.
pub const ZERO_THRESHOLD: f64 = 1.0 / 1024.0;

/// Lower bounds of the 8 buckets within one power of two, as fractions of
/// it: 2^(j/8) / 2 for j in 0..8 (the values Prometheus' own client uses).
const FRACTIONS: [f64; 8] = [
    0.5,
    0.545_253_866_332_628_8,
    0.594_603_557_501_360_5,
    0.648_419_777_325_504_8,
    0.707_106_781_186_547_5,
    0.771_105_412_703_970_4,
    0.840_896_415_253_714_4,
    0.917_004_043_204_671_1,
];

/// Counts per bucket index; bucket `i` holds (2^((i-1)/8), 2^(i/8)].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Native {
    pub zero_count: u64,
    pub buckets: BTreeMap<i32, u64>,
}

impl Native {
    /// Count one observation (already clamped to a finite value ≥ 0).
    pub fn observe(&mut self, v: f64) {
        if v <= ZERO_THRESHOLD {
            self.zero_count += 1;
        } else {
            *self.buckets.entry(index(v)).or_insert(0) += 1;
        }
    }

    pub fn merge(&mut self, other: &Native) {
        self.zero_count += other.zero_count;
        for (i, n) in &other.buckets {
            *self.buckets.entry(*i).or_insert(0) += n;
        }
    }

    /// The buckets as the protobuf format wants them: spans of consecutive
    /// indices (offset from the end of the previous span, length) and each
    /// bucket's count as a delta from the one before.
    pub fn spans_and_deltas(&self) -> (Vec<(i32, u32)>, Vec<i64>) {
        let mut spans: Vec<(i32, u32)> = Vec::new();
        let mut deltas = Vec::with_capacity(self.buckets.len());
        let (mut next, mut previous) = (None::<i32>, 0i64);
        for (&i, &n) in &self.buckets {
            match (next, spans.last_mut()) {
                (Some(expected), Some(last)) if expected == i => last.1 += 1,
                (Some(expected), _) => spans.push((i - expected, 1)),
                (None, _) => spans.push((i, 1)),
            }
            next = Some(i + 1);
            let n = n as i64;
            deltas.push(n - previous);
            previous = n;
        }
        (spans, deltas)
    }
}

/// The bucket of `v` > 0: the `i` with 2^((i-1)/8) < v ≤ 2^(i/8), found from
/// the binary exponent and mantissa so bounds are exact (no logarithm).
fn index(v: f64) -> i32 {
    let (fraction, exponent) = frexp(v);
    let within = FRACTIONS.partition_point(|&f| f < fraction) as i32;
    within + (exponent - 1) * (1 << SCHEMA)
}

/// `v` = fraction × 2^exponent with fraction in [0.5, 1), for normal `v` > 0
/// (everything above the zero threshold is normal).
fn frexp(v: f64) -> (f64, i32) {
    let bits = v.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32 - 1022;
    let fraction = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1022u64 << 52));
    (fraction, exponent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_of_two_close_their_bucket() {
        assert_eq!(index(1.0), 0);
        assert_eq!(index(2.0), 8);
        assert_eq!(index(0.5), -8);
        assert_eq!(index(1.0001), 1);
        assert_eq!(index(1.09), 1);
        assert_eq!(index(1.1), 2);
        assert_eq!(index(3600.0), 95); // 2^(94/8) = 3444 < 3600 <= 2^(95/8) = 3756
    }

    #[test]
    fn every_value_lies_within_its_bucket_bounds() {
        let mut v = 0.001;
        while v < 200_000.0 {
            let i = index(v);
            let upper = 2f64.powf(f64::from(i) / 8.0);
            let lower = 2f64.powf(f64::from(i - 1) / 8.0);
            assert!(
                lower < v * (1.0 + 1e-12) && v <= upper * (1.0 + 1e-12),
                "{v} in {i}"
            );
            v *= 1.037;
        }
    }

    #[test]
    fn zeros_and_sub_millisecond_values_count_in_the_zero_bucket() {
        let mut n = Native::default();
        n.observe(0.0);
        n.observe(0.0005);
        n.observe(0.001);
        assert_eq!(n.zero_count, 2);
        assert_eq!(n.buckets.values().sum::<u64>(), 1);
    }

    #[test]
    fn spans_cover_runs_of_buckets_and_counts_are_deltas() {
        let mut n = Native::default();
        for v in [1.0, 1.05, 1.05, 2.0, 2.0, 2.0] {
            n.observe(v);
        }
        // Buckets 0 (1), 1 (2), 8 (3): spans (0, 2) then a gap of 6, (6, 1).
        let (spans, deltas) = n.spans_and_deltas();
        assert_eq!(spans, vec![(0, 2), (6, 1)]);
        assert_eq!(deltas, vec![1, 1, 1]);
        let mut m = n.clone();
        m.merge(&n);
        assert_eq!(m.buckets[&8], 6);
    }
}
