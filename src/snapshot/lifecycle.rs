//! The lifecycle histograms and counters of an environment: durations of
//! each item's steps, observed once per item and accumulated across refreshes.

use super::native;

/// A histogram with fixed buckets and sparse exponential (native) ones fed
/// the same observations, for durations observed once per item.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub bounds: &'static [f64],
    /// Per bucket, not cumulative; one more than `bounds` for +Inf.
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
    pub native: native::Native,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
            native: native::Native::default(),
        }
    }

    pub fn observe(&mut self, value: f64) {
        let v = if value.is_finite() {
            value.max(0.0)
        } else {
            0.0
        };
        let i = self.bounds.partition_point(|&b| b < v);
        self.counts[i] += 1;
        self.native.observe(v);
        self.sum += v;
        self.count += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.native.merge(&other.native);
        self.sum += other.sum;
        self.count += other.count;
    }
}

pub const QUEUE_WAIT_BUCKETS: &[f64] = &[
    0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];
pub const STARTUP_BUCKETS: &[f64] = &[0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0];
pub const RUN_BUCKETS: &[f64] = &[
    10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0,
];
pub const STOP_BUCKETS: &[f64] = &[0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// Durations and counts of work items' lifecycles, accumulated across refreshes.
#[derive(Debug, Clone, PartialEq)]
pub struct Lifecycle {
    pub queue_wait: Histogram,
    pub startup: Histogram,
    pub run: Histogram,
    pub stop: Histogram,
    pub created: u64,
    pub stopped: u64,
    /// Sessions picked up within the SLO's latency threshold (`refresh/fold/pickup.rs`).
    pub pickups_good: u64,
    /// Sessions whose wait passed the threshold, acknowledged or not.
    pub pickups_bad: u64,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            queue_wait: Histogram::new(QUEUE_WAIT_BUCKETS),
            startup: Histogram::new(STARTUP_BUCKETS),
            run: Histogram::new(RUN_BUCKETS),
            stop: Histogram::new(STOP_BUCKETS),
            created: 0,
            stopped: 0,
            pickups_good: 0,
            pickups_bad: 0,
        }
    }
}

impl Lifecycle {
    pub fn merge(&mut self, d: &Lifecycle) {
        self.queue_wait.merge(&d.queue_wait);
        self.startup.merge(&d.startup);
        self.run.merge(&d.run);
        self.stop.merge(&d.stop);
        self.created += d.created;
        self.stopped += d.stopped;
        self.pickups_good += d.pickups_good;
        self.pickups_bad += d.pickups_bad;
    }
}
