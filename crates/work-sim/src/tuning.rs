//! Knobs a scenario switch may carry (`POST /_sim/scenario`): the fleet's
//! arrivals a minute and number of workers, and the share of sessions
//! `slow-pickups` leaves waiting. Drills that need traffic to change shape
//! (a heavy week then a light day, three sessions a day) set them; a switch
//! without them leaves the workload as it was.

use crate::scenario::Scenario;
use serde_json::Value;

/// `slow-pickups` without `late_one_in`: one session in this many is left waiting.
pub(crate) const DEFAULT_LATE_ONE_IN: u64 = 20;
/// The same bound as `--workers`.
const MAX_WORKERS: u64 = 10_000;
const MAX_LATE_ONE_IN: u64 = 1_000_000;
/// The keys a switch's body may hold.
const KEYS: [&str; 5] = [
    "scenario",
    "environment",
    "arrivals_per_minute",
    "workers",
    "late_one_in",
];

/// Changes to an environment's workload; None leaves a setting as it is,
/// but for `late_one_in`, which `slow-pickups` resets to its default.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Tuning {
    pub arrivals_per_minute: Option<f64>,
    pub workers: Option<usize>,
    /// One session in this many is left waiting (`slow-pickups` only).
    pub late_one_in: Option<u64>,
}

impl Tuning {
    /// The knobs of a switch to `scenario`; the error names the field and the fix.
    pub(crate) fn from_body(body: &Value, scenario: Scenario) -> Result<Tuning, String> {
        if let Some(other) = body
            .as_object()
            .and_then(|o| o.keys().find(|k| !KEYS.contains(&k.as_str())))
        {
            return Err(format!(
                "unknown field {other:?}; a switch takes {}",
                KEYS.join(", ")
            ));
        }
        let arrivals_per_minute = match body.get("arrivals_per_minute") {
            None => None,
            Some(v) => Some(
                v.as_f64()
                    .filter(|a| a.is_finite() && *a >= 0.0)
                    .ok_or("arrivals_per_minute must be a number of at least 0")?,
            ),
        };
        let workers = match body.get("workers") {
            None => None,
            Some(v) => Some(v.as_u64().filter(|w| *w <= MAX_WORKERS).ok_or(format!(
                "workers must be a whole number from 0 to {MAX_WORKERS}"
            ))? as usize),
        };
        let late_one_in = match body.get("late_one_in") {
            None => None,
            Some(_) if scenario != Scenario::SlowPickups => {
                return Err(format!(
                    "late_one_in applies to slow-pickups only, not {scenario}"
                ))
            }
            Some(v) => Some(
                v.as_u64()
                    .filter(|n| (1..=MAX_LATE_ONE_IN).contains(n))
                    .ok_or(format!(
                        "late_one_in must be a whole number from 1 (every session late) to {MAX_LATE_ONE_IN}"
                    ))?,
            ),
        };
        Ok(Tuning {
            arrivals_per_minute,
            workers,
            late_one_in,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<Tuning, String> {
        let scenario = Scenario::parse(body["scenario"].as_str().unwrap()).unwrap();
        Tuning::from_body(&body, scenario)
    }

    #[test]
    fn a_switch_without_knobs_changes_nothing() {
        let t = parse(json!({"scenario": "slow-pickups", "environment": "env_1"})).unwrap();
        assert_eq!(t, Tuning::default());
    }

    #[test]
    fn every_knob_is_read() {
        let t = parse(
            json!({"scenario": "slow-pickups", "arrivals_per_minute": 0.5,
            "workers": 8, "late_one_in": 50}),
        )
        .unwrap();
        assert_eq!(t.arrivals_per_minute, Some(0.5));
        assert_eq!(t.workers, Some(8));
        assert_eq!(t.late_one_in, Some(50));
    }

    #[test]
    fn bad_knobs_are_refused_naming_the_field() {
        for (body, field) in [
            (
                json!({"scenario": "steady", "arrivals_per_minute": -1}),
                "arrivals_per_minute",
            ),
            (
                json!({"scenario": "steady", "arrivals_per_minute": "9"}),
                "arrivals_per_minute",
            ),
            (json!({"scenario": "steady", "workers": 10_001}), "workers"),
            (json!({"scenario": "steady", "workers": 1.5}), "workers"),
            (
                json!({"scenario": "slow-pickups", "late_one_in": 0}),
                "late_one_in",
            ),
            (
                json!({"scenario": "steady", "late_one_in": 5}),
                "slow-pickups only",
            ),
            (json!({"scenario": "steady", "late_one": 5}), "\"late_one\""),
        ] {
            let err = parse(body.clone()).unwrap_err();
            assert!(err.contains(field), "{body}: {err}");
        }
    }
}
