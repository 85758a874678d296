//! The pick-up service-level objective of each environment: a session counts
//! as good when a worker acknowledges it within `latency`, bad once its wait
//! passes it; `objective` of sessions must be good over `window`. Defaults
//! from `--slo.pickup-latency`, `--slo.pickup-objective` and `--slo.window`,
//! over them the config file's top-level `thresholds:` block, over that an
//! environment's own (`pickup_latency`, `pickup_objective`, `pickup_window`).
//! Served as `anthropic_work_pickup_slo{setting}` so one rules file serves
//! environments with different promises.

use super::{parse_duration, ConfigError};
use crate::cli::ServeArgs;
use serde_yaml_ng::Value;
use std::collections::BTreeMap;

/// The keys of a `thresholds:` block that belong to the SLO.
pub const KEYS: [&str; 3] = ["pickup_latency", "pickup_objective", "pickup_window"];

/// The error-budget windows the shipped rules record
/// (`mixin/config.libsonnet`, `slo.budgetWindows`; a test compares them).
pub const WINDOWS_DAYS: [u64; 4] = [7, 14, 28, 30];

const DAY: u64 = 86_400;

/// One environment's pick-up objective.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PickupSlo {
    pub latency_seconds: f64,
    /// Share of sessions to pick up within `latency_seconds`, in (0, 1).
    pub objective: f64,
    pub window_seconds: u64,
}

impl Default for PickupSlo {
    /// 99% of sessions picked up within 60 s over 28 days.
    fn default() -> Self {
        PickupSlo {
            latency_seconds: 60.0,
            objective: 0.99,
            window_seconds: 28 * DAY,
        }
    }
}

impl PickupSlo {
    /// The latency threshold in milliseconds, as item timestamps are compared.
    pub fn latency_ms(&self) -> i64 {
        (self.latency_seconds * 1000.0).round() as i64
    }

    /// `(setting label, value)` as `anthropic_work_pickup_slo` serves them.
    pub fn served(&self) -> [(&'static str, f64); 3] {
        [
            ("objective_ratio", self.objective),
            ("latency_threshold_seconds", self.latency_seconds),
            ("window_seconds", self.window_seconds as f64),
        ]
    }
}

/// What one block (flags, top-level or an environment's) sets.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PickupOverride {
    latency_seconds: Option<f64>,
    objective: Option<f64>,
    window_seconds: Option<u64>,
}

impl PickupOverride {
    /// The SLO keys of a `thresholds:` block; `field` names the block in errors.
    pub fn parse(field: &str, block: &BTreeMap<String, Value>) -> Result<Self, ConfigError> {
        let mut o = PickupOverride::default();
        if let Some(v) = block.get("pickup_latency") {
            let f = format!("{field}.pickup_latency");
            o.latency_seconds = Some(latency(&f, v.as_str().ok_or_else(|| not_duration(&f))?)?);
        }
        if let Some(v) = block.get("pickup_objective") {
            let f = format!("{field}.pickup_objective");
            o.objective = Some(objective(&f, v.as_f64())?);
        }
        if let Some(v) = block.get("pickup_window") {
            let f = format!("{field}.pickup_window");
            o.window_seconds = Some(window(&f, v.as_str().ok_or_else(|| not_duration(&f))?)?);
        }
        Ok(o)
    }

    fn over(&self, base: PickupSlo) -> PickupSlo {
        PickupSlo {
            latency_seconds: self.latency_seconds.unwrap_or(base.latency_seconds),
            objective: self.objective.unwrap_or(base.objective),
            window_seconds: self.window_seconds.unwrap_or(base.window_seconds),
        }
    }
}

/// Every environment's pick-up SLO: the flags, the file's top-level block,
/// each configured environment's own block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PickupSlos {
    pub flags: PickupSlo,
    pub top: PickupOverride,
    pub environments: BTreeMap<String, PickupOverride>,
}

impl PickupSlos {
    /// Environment `id`'s SLO: its own keys, else the top-level block's, else the flags'.
    pub fn get(&self, id: &str) -> PickupSlo {
        let top = self.top.over(self.flags);
        match self.environments.get(id) {
            Some(own) => own.over(top),
            None => top,
        }
    }
}

/// `--slo.*` checked, with the built-in defaults where a flag is not given.
pub(super) fn from_args(args: &ServeArgs) -> Result<PickupSlo, ConfigError> {
    let mut slo = PickupSlo::default();
    if let Some(v) = &args.slo_pickup_latency {
        slo.latency_seconds = latency("--slo.pickup-latency", v)?;
    }
    if let Some(v) = args.slo_pickup_objective {
        slo.objective = objective("--slo.pickup-objective", Some(v))?;
    }
    if let Some(v) = &args.slo_window {
        slo.window_seconds = window("--slo.window", v)?;
    }
    Ok(slo)
}

fn not_duration(field: &str) -> ConfigError {
    ConfigError::new(
        field,
        "is not a duration",
        "write a duration with its unit, such as 60s or 28d",
    )
}

/// A duration above zero (`parse_duration` refuses zero; a negative one does not parse).
fn latency(field: &str, value: &str) -> Result<f64, ConfigError> {
    parse_duration(field, value).map(|d| d.as_secs_f64())
}

/// A share strictly between 0 and 1: 1 leaves no error budget, 0 promises nothing.
fn objective(field: &str, value: Option<f64>) -> Result<f64, ConfigError> {
    match value {
        Some(v) if v > 0.0 && v < 1.0 => Ok(v),
        _ => Err(ConfigError::new(
            field,
            "must be a number between 0 and 1, both excluded",
            "write the share of sessions to pick up in time, such as 0.99 (1 would leave no error budget)",
        )),
    }
}

/// One of the windows the rules record an error budget over.
fn window(field: &str, value: &str) -> Result<u64, ConfigError> {
    let secs = parse_duration(field, value)?.as_secs();
    if secs % DAY == 0 && WINDOWS_DAYS.contains(&(secs / DAY)) {
        return Ok(secs);
    }
    let known: Vec<String> = WINDOWS_DAYS.iter().map(|d| format!("{d}d")).collect();
    Err(ConfigError::new(
        field,
        format!("{value:?} is not a window the alert rules record an error budget over"),
        format!(
            "use one of {} (or add the window to the mixin's slo.budgetWindows and to this list)",
            known.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(yaml: &str) -> BTreeMap<String, Value> {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn an_environment_overrides_the_top_level_which_overrides_the_flags() {
        let mut slos = PickupSlos {
            top: PickupOverride::parse("thresholds", &block("pickup_latency: 2m")).unwrap(),
            ..Default::default()
        };
        let own = block("pickup_objective: 0.995\npickup_window: 7d");
        slos.environments.insert(
            "env_a".into(),
            PickupOverride::parse("environments[0].thresholds", &own).unwrap(),
        );
        let a = slos.get("env_a");
        assert_eq!((a.latency_seconds, a.objective), (120.0, 0.995));
        assert_eq!(a.window_seconds, 7 * DAY);
        let b = slos.get("env_b");
        assert_eq!((b.latency_seconds, b.objective), (120.0, 0.99));
        assert_eq!(b.window_seconds, 28 * DAY);
    }

    #[test]
    fn an_objective_outside_zero_and_one_names_the_field_and_the_fix() {
        for bad in [
            "pickup_objective: 1",
            "pickup_objective: 0",
            "pickup_objective: 99",
            "pickup_objective: nope",
        ] {
            let e = PickupOverride::parse("thresholds", &block(bad)).unwrap_err();
            assert_eq!(e.field, "thresholds.pickup_objective", "{bad}");
            assert!(e.fix.contains("0.99"), "{e}");
        }
    }

    #[test]
    fn a_latency_of_zero_or_a_window_the_rules_do_not_record_is_refused() {
        let e = PickupOverride::parse("thresholds", &block("pickup_latency: 0s")).unwrap_err();
        assert_eq!(e.field, "thresholds.pickup_latency");
        let e = PickupOverride::parse("thresholds", &block("pickup_latency: -5s")).unwrap_err();
        assert_eq!(e.field, "thresholds.pickup_latency");
        let e = PickupOverride::parse("t", &block("pickup_window: 10d")).unwrap_err();
        assert_eq!(e.field, "t.pickup_window");
        assert!(e.fix.contains("7d, 14d, 28d, 30d"), "{e}");
        assert!(PickupOverride::parse("t", &block("pickup_window: 30d")).is_ok());
    }

    #[test]
    fn a_bad_flag_stops_the_program_naming_it() {
        let args = |f: fn(&mut ServeArgs)| {
            let mut a = ServeArgs::defaults();
            f(&mut a);
            a
        };
        let e = from_args(&args(|a| a.slo_pickup_objective = Some(1.5))).unwrap_err();
        assert_eq!(e.field, "--slo.pickup-objective");
        let e = from_args(&args(|a| a.slo_pickup_latency = Some("0s".into()))).unwrap_err();
        assert_eq!(e.field, "--slo.pickup-latency");
        let e = from_args(&args(|a| a.slo_window = Some("3d".into()))).unwrap_err();
        assert_eq!(e.field, "--slo.window");
        let ok = from_args(&args(|a| a.slo_pickup_latency = Some("90s".into()))).unwrap();
        assert_eq!((ok.latency_seconds, ok.objective), (90.0, 0.99));
    }

    #[test]
    fn the_windows_are_those_the_mixin_records_a_budget_over() {
        let config = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/mixin/config.libsonnet"
        ))
        .unwrap();
        let line = config
            .lines()
            .find(|l| l.trim_start().starts_with("budgetWindows:"))
            .expect("slo.budgetWindows in mixin/config.libsonnet");
        let listed: Vec<String> = WINDOWS_DAYS.iter().map(|d| format!("'{d}d'")).collect();
        assert!(line.contains(&format!("[{}]", listed.join(", "))), "{line}");
    }
}
