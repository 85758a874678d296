//! How much of the request budget `/probe` may spend. A probe refreshes its
//! environment only with a token from a bucket filled at `PROBE_SHARE` of the
//! budget (each refresh counted as `REQUESTS_PER_REFRESH` requests: stats
//! and a first list page), and only when no probe of that environment is in
//! flight; otherwise it answers from the latest snapshot. With
//! `--probe.only`, where probes are the only refreshes, the share is the
//! whole budget. Scraping `/probe` harder can therefore cost at most that
//! share, whoever scrapes.

use super::Site;
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Instant;

/// The share of `--api.max-requests-per-second` probes may spend beside
/// background refreshes (which plan at most 0.9 of it).
pub const PROBE_SHARE: f64 = 0.25;
/// Requests one refresh is counted as: stats and one list page.
pub const REQUESTS_PER_REFRESH: f64 = 2.0;
/// Tokens saved up at most, in seconds of the rate.
const BURST_SECONDS: f64 = 10.0;

pub struct ProbeGate {
    /// Refreshes per second.
    rate: f64,
    burst: f64,
    bucket: Mutex<(f64, Instant)>,
    in_flight: Mutex<HashSet<String>>,
}

/// What a probe may do.
pub enum Admission<'a> {
    /// Refresh (a token was taken); the pass marks the environment in flight.
    Refresh(Pass<'a>),
    /// Another probe of the environment is refreshing it: share its refresh.
    Join,
    /// The probes' share of the budget is spent: answer from the snapshot.
    Spent,
}

/// Held while a probe's refresh runs; leaving frees its environment.
pub struct Pass<'a> {
    gate: &'a ProbeGate,
    id: String,
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut f = self
            .gate
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        f.remove(&self.id);
    }
}

impl ProbeGate {
    pub fn new(budget_rps: f64, share: f64) -> ProbeGate {
        let rate = (budget_rps * share / REQUESTS_PER_REFRESH).max(0.0);
        let burst = (rate * BURST_SECONDS).max(1.0);
        ProbeGate {
            rate,
            burst,
            bucket: Mutex::new((burst, Instant::now())),
            in_flight: Mutex::new(HashSet::new()),
        }
    }

    pub(super) fn for_site(site: &Site) -> ProbeGate {
        let share = if site.probe_only { 1.0 } else { PROBE_SHARE };
        ProbeGate::new(site.refresher.client().budget().rate(), share)
    }

    /// What a probe of `id` may do now.
    pub fn pass(&self, id: &str) -> Admission<'_> {
        let mut f = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if f.contains(id) {
            return Admission::Join;
        }
        if !self.take() {
            return Admission::Spent;
        }
        f.insert(id.to_string());
        Admission::Refresh(Pass {
            gate: self,
            id: id.to_string(),
        })
    }

    fn take(&self) -> bool {
        let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let earned = now.saturating_duration_since(b.1).as_secs_f64() * self.rate;
        b.0 = (b.0 + earned).min(self.burst);
        b.1 = now;
        if b.0 >= 1.0 {
            b.0 -= 1.0;
            true
        } else {
            false
        }
    }

    /// The most refreshes per second probes can cause, after the burst.
    pub fn refreshes_per_second(&self) -> f64 {
        self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_probe_per_environment_and_the_share_of_the_budget() {
        // 5 requests/s, a quarter for probes: 0.625 refreshes/s, 6.25 saved up.
        let gate = ProbeGate::new(5.0, PROBE_SHARE);
        assert_eq!(gate.refreshes_per_second(), 0.625);
        let first = gate.pass("env_a");
        assert!(
            matches!(first, Admission::Refresh(_)),
            "a first probe refreshes"
        );
        assert!(
            matches!(gate.pass("env_a"), Admission::Join),
            "one refresh in flight per environment; a second probe shares it"
        );
        drop(first);
        let granted = (0..100)
            .filter(|i| matches!(gate.pass(&format!("env_{i}")), Admission::Refresh(_)))
            .count();
        assert!(matches!(gate.pass("env_z"), Admission::Spent));
        assert_eq!(granted, 5, "the burst (6.25 tokens, one spent) and no more");
    }
}
