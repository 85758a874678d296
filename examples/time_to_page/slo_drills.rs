//! The drills of `--slo-pairs` (`slo_pairs`), as data: the traffic each
//! one shapes, when, and what must fire then. The comments give the
//! arithmetic each expectation comes from (a 99% objective: a 1% budget).

use serde_json::{json, Value};

pub const MIN: u64 = 60;
pub const HOUR: u64 = 60 * MIN;
pub const FAST: &str = "AnthropicWorkPickupBudgetFastBurn";
pub const SLOW: &str = "AnthropicWorkPickupBudgetSlowBurn";
/// The SLO alerts firing now, one sample per (alert, window pair).
pub const FIRING: &str = "sort(count by (alertname, burn_window) (ALERTS{alertname=~\"AnthropicWorkPickupBudget.*\",alertstate=\"firing\"}))";

/// A scenario switch (with its knobs) at a time after the start.
pub struct Phase {
    pub at: u64,
    pub switch: Value,
}

pub enum Expect {
    /// Exactly these (alert, burn_window) firing at the time.
    Firing(&'static [(&'static str, &'static str)]),
    /// No SLO alert fired from the start up to the time.
    QuietSoFar,
    /// An expression (one sample, no labels) has this value: the guard's premises.
    Value(&'static str, f64),
}

pub struct Check {
    pub at: u64,
    pub expect: Expect,
}

pub struct Drill {
    pub name: &'static str,
    /// Arrivals a minute from the start (4 workers).
    pub arrivals: f64,
    pub phases: Vec<Phase>,
    /// Seconds from the start to the end of the recording.
    pub run: u64,
    /// Seconds between kept samples and between promtool's evaluations.
    pub step: u64,
    pub checks: Vec<Check>,
    /// Recorded again with `--metrics.histograms native`, to compare.
    pub also_native: bool,
}

fn slow_pickups(late_one_in: u64) -> Value {
    json!({"scenario": "slow-pickups", "late_one_in": late_one_in})
}

pub fn drills() -> Vec<Drill> {
    let phase = |at, switch| Phase { at, switch };
    let at = |at, expect| Check { at, expect };
    vec![
        // 20 a minute for a day, then none picked up. 1h passes 14.4% when
        // ~173 of its ~1200 pick-ups are bad, ~10 min in; `for` 2m. At 17.5
        // min: 6h ~330/7200 = 4.6% (< 6%); 1d ~1.1% (< 3%); 3d (the day) passes 1%
        // ~16 min in, firing 15 min later only. Checked at 17.5 min.
        Drill {
            name: "1h/5m alone: pick-ups stop after a steady day",
            arrivals: 20.0,
            phases: vec![phase(24 * HOUR, json!({"scenario": "workers-down"}))],
            run: 24 * HOUR + 20 * MIN,
            // 150 s: three samples in the 5m window, one evaluation past `for`.
            step: 150,
            checks: vec![
                at(24 * HOUR, Expect::QuietSoFar),
                at(24 * HOUR + 17 * MIN + 30, Expect::Firing(&[(FAST, "1h/5m")])),
            ],
            also_native: false,
        },
        // Two steady days, then one session in ten late (10%: between 6x and
        // 14.4x). 6h passes 6% 3.6 h in; at 4.5 h: 6h 7.5%, 1h 10% (< 14.4%),
        // 1d 1.9% (< 3%), 3d 0.45/52.5 = 0.86% (< 1%).
        Drill {
            name: "6h/30m alone: a tenth of sessions late after two steady days",
            arrivals: 20.0,
            phases: vec![phase(48 * HOUR, slow_pickups(10))],
            run: 52 * HOUR + 30 * MIN,
            step: 5 * MIN,
            checks: vec![
                at(48 * HOUR, Expect::QuietSoFar),
                at(52 * HOUR + 30 * MIN, Expect::Firing(&[(FAST, "6h/30m")])),
            ],
            also_native: false,
        },
        // Two busy days (30 a minute, all good), then a light day (10 a
        // minute) with one session in twenty late (5%). At 23 h: 2h 5% (> 3%),
        // 1d 690/15600 = 4.4% (> 3%, passed ~20 h in), 6h 5% (< 6%), 3d
        // 690/(13800 + 88200) = 0.68% (< 1%): 3d/6h silent though its 6h burns.
        Drill {
            name: "1d/2h alone: a light day with 5% late after two busy days",
            arrivals: 30.0,
            phases: vec![phase(
                48 * HOUR,
                json!({"scenario": "slow-pickups", "late_one_in": 20, "arrivals_per_minute": 10.0}),
            )],
            run: 71 * HOUR,
            step: 5 * MIN,
            checks: vec![
                at(48 * HOUR, Expect::QuietSoFar),
                at(71 * HOUR, Expect::Firing(&[(SLOW, "1d/2h")])),
            ],
            also_native: false,
        },
        // Six steady hours, then one session in fifty late (2%: between 1x
        // and 3x). 3d (all 6 + T hours) passes 1% at T = 6 h; at T = 3 h it is
        // 0.67%: quiet; at T = 10 h 1.25%. 2h 2% (< 3%), 1d = 3d (< 3%).
        Drill {
            name: "3d/6h alone: 2% of sessions late after six steady hours",
            arrivals: 20.0,
            phases: vec![phase(6 * HOUR, slow_pickups(50))],
            run: 16 * HOUR,
            step: 5 * MIN,
            checks: vec![
                at(9 * HOUR, Expect::QuietSoFar),
                at(16 * HOUR, Expect::Firing(&[(SLOW, "3d/6h")])),
            ],
            // The shortest drill whose counters carry good and bad.
            also_native: true,
        },
        // Three sessions a day, every one left waiting 2 min (bad): every
        // window's ratio is 100% once it holds one, but none holds the
        // guard's 10 judged pick-ups in two days, so nothing fires.
        Drill {
            name: "guard: three sessions a day, all late, for two days",
            arrivals: 3.0 / 1440.0,
            phases: vec![phase(0, slow_pickups(1))],
            run: 48 * HOUR,
            step: 5 * MIN,
            checks: vec![
                at(48 * HOUR, Expect::QuietSoFar),
                at(
                    48 * HOUR,
                    Expect::Value(
                        "max(environment_id:anthropic_work_pickups_error:ratio_rate3d)",
                        1.0,
                    ),
                ),
                at(
                    48 * HOUR,
                    Expect::Value(
                        "count(sum without(outcome) (increase(anthropic_work_pickups_total[3d])) > 0 < 10)",
                        1.0,
                    ),
                ),
            ],
            also_native: false,
        },
    ]
}
