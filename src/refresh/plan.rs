//! The budget plan: how far each cadence must stretch for the fleet to fit
//! the request budget. The list cadence stretches first; stats keep their
//! interval as long as the budget allows (they are one request and carry the
//! signals that page fastest). A pure function of what the fleet needs, so
//! the order is tested without a clock.

use crate::config::{Cadence, Cadences};
use std::time::Duration;

/// Share of the budget the schedule plans to use. The rest absorbs retries,
/// discovery, probes and refreshes that bunch up: a schedule that runs the
/// budget at 100% has queues without bound.
pub const HEADROOM: f64 = 0.9;

/// Share of the planned budget the list walks keep when stats alone would
/// take all of it, so heartbeats, leases and lifecycles never starve; less
/// when their share of what the configured cadences need is smaller (a long
/// `--refresh.list-interval` leaves more to stats).
pub const LIST_FLOOR: f64 = 0.2;

/// Requests per second the configured cadences need.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Demand {
    pub stats: f64,
    pub list: f64,
}

/// The stretch of each cadence and what it costs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Effective interval ÷ configured interval, per cadence (1 = not stretched).
    pub stats_stretch: f64,
    pub list_stretch: f64,
    /// The configured cadences (`--refresh.stats-interval`, `--refresh.list-interval`).
    pub configured: Cadences,
    /// What the configured cadences would need ÷ the budget (over 1 = stretched).
    pub demand_ratio: f64,
    /// What the stretched schedule spends ÷ the budget (at most `HEADROOM` when stretched).
    pub planned_ratio: f64,
    pub environments: usize,
}

impl Plan {
    pub fn stretch(&self, cadence: Cadence) -> f64 {
        match cadence {
            Cadence::Stats => self.stats_stretch,
            Cadence::List => self.list_stretch,
        }
    }

    /// The interval `cadence` of an environment with `cadences` actually gets.
    pub fn effective(&self, cadences: &Cadences, cadence: Cadence) -> Duration {
        cadences.get(cadence).mul_f64(self.stretch(cadence))
    }

    pub fn stretched(&self) -> bool {
        self.stats_stretch > 1.0 || self.list_stretch > 1.0
    }
}

/// Plan `demand` within `rate` requests per second.
pub fn plan(demand: Demand, rate: f64, configured: Cadences, environments: usize) -> Plan {
    let cap = rate * HEADROOM;
    let total = demand.stats + demand.list;
    // What lists keep at least: the floor, or their proportional share of the
    // budget when that is smaller.
    let list_min = (cap * LIST_FLOOR).min(cap * demand.list / total.max(f64::MIN_POSITIVE));
    let (stats_stretch, list_stretch) = if total <= cap {
        (1.0, 1.0)
    } else if cap - demand.stats >= list_min {
        // Stats keep their interval; lists take what is left.
        (1.0, demand.list / (cap - demand.stats))
    } else {
        // Stats alone would take too much: lists keep their minimum, stats
        // share the rest.
        (demand.stats / (cap - list_min), demand.list / list_min)
    };
    let (stats_stretch, list_stretch) = (stats_stretch.max(1.0), list_stretch.max(1.0));
    Plan {
        stats_stretch,
        list_stretch,
        configured,
        demand_ratio: (demand.stats + demand.list) / rate,
        planned_ratio: (demand.stats / stats_stretch + demand.list / list_stretch) / rate,
        environments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(envs: f64, stats_s: f64, list_s: f64, pages: f64) -> Demand {
        Demand {
            stats: envs / stats_s,
            list: envs * pages / list_s,
        }
    }

    fn every(s: u64) -> Cadences {
        Cadences::every(Duration::from_secs(s))
    }

    #[test]
    fn nothing_stretches_while_the_fleet_fits_the_budget() {
        let p = plan(fleet(60.0, 30.0, 30.0, 1.0), 5.0, every(30), 60);
        assert_eq!((p.stats_stretch, p.list_stretch), (1.0, 1.0));
        assert!((p.demand_ratio - 0.8).abs() < 1e-9, "{p:?}");
        assert!(!p.stretched());
    }

    #[test]
    fn lists_stretch_first_while_stats_keep_their_interval() {
        // 100 environments every 30 s at 5/s: stats need 3.3/s of the 4.5/s planned.
        let p = plan(fleet(100.0, 30.0, 30.0, 1.0), 5.0, every(30), 100);
        assert_eq!(p.stats_stretch, 1.0);
        assert!(p.list_stretch > 2.5 && p.list_stretch < 3.0, "{p:?}");
        assert!((p.planned_ratio - HEADROOM).abs() < 1e-9, "{p:?}");
    }

    #[test]
    fn when_stats_alone_exceed_the_budget_both_stretch_and_lists_keep_their_floor() {
        // The case: 60 environments every 5 s on 2 requests/s.
        let p = plan(fleet(60.0, 5.0, 5.0, 1.0), 2.0, every(5), 60);
        assert!(
            p.stats_stretch > 1.0 && p.list_stretch > p.stats_stretch,
            "{p:?}"
        );
        let list_rps = 12.0 / p.list_stretch;
        assert!(
            (list_rps - 2.0 * HEADROOM * LIST_FLOOR).abs() < 1e-9,
            "{p:?}"
        );
        assert!((p.planned_ratio - HEADROOM).abs() < 1e-9, "{p:?}");
    }

    #[test]
    fn a_longer_list_interval_leaves_more_of_a_binding_budget_to_stats() {
        // The benchmark's fleet: 1,000 environments on 10 requests/s.
        let one = plan(fleet(1000.0, 30.0, 30.0, 1.0), 10.0, every(30), 1000);
        let two = plan(fleet(1000.0, 30.0, 300.0, 1.0), 10.0, every(30), 1000);
        assert!(two.stats_stretch < one.stats_stretch, "{one:?} {two:?}");
        assert!(one.list_stretch > one.stats_stretch, "{one:?}");
    }

    #[test]
    fn lists_needing_less_than_their_floor_leave_the_rest_to_stats() {
        let p = plan(
            Demand {
                stats: 10.0,
                list: 0.1,
            },
            5.0,
            every(30),
            300,
        );
        // Lists keep their proportional share (0.1 / 10.1 of 4.5/s) instead of the floor.
        let list_min = 4.5 * 0.1 / 10.1;
        assert!(
            (p.stats_stretch - 10.0 / (4.5 - list_min)).abs() < 1e-9,
            "{p:?}"
        );
        assert!((p.list_stretch - 0.1 / list_min).abs() < 1e-9, "{p:?}");
    }
}
